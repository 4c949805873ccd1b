"""租户库升级 against the real MariaDB and PostgreSQL: the plan, the canary and the waves,
per-server caps, failures that stop nothing else, drift skipped, pause, resume and retry.
Here the workers' part (``dispatch``, ``migrate_tenant``) runs in this process, one task
at a time, as a worker would run them; ``test_fleet.py`` runs the same with real workers."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditLog
from apps.core.errors import Conflict, ValidationFailed
from apps.customers.tests.factories import make_customer
from apps.datasources import rollouts, schemas
from apps.datasources.models import DataSource, Rollout, RolloutTenant
from apps.datasources.services import datasource_configure
from apps.datasources.tests.factories import BASE_MIGRATIONS, write_migrations

pytestmark = pytest.mark.django_db

Status = RolloutTenant.Status


@pytest.fixture
def fleet(tmp_path, settings, mysql_account, pg_account, mysql_admin, pg_admin, devops, ops):
    """Six tenants at version 0002 — three on MariaDB, three on PostgreSQL — and a new
    release 0003 (two statements) in the files. Yields (tenants, admins by type)."""
    root = tmp_path / "migrations"
    write_migrations(root, BASE_MIGRATIONS)
    settings.TENANT_BASELINE_DIR = str(root)
    tenants = []
    for account in (mysql_account, pg_account):
        for i in range(3):
            customer = make_customer(actor=ops, complete=True, name=f"升级物业{account.db_type}{i}")
            tenants.append(
                datasource_configure(actor=devops, customer=customer, data=account.data())
            )
    release = "CREATE TABLE buildings (id int);\nCREATE TABLE parking (id int);\n"
    write_migrations(root, {"0003_buildings.sql": release})
    yield tenants, {"mysql": mysql_admin, "postgresql": pg_admin}
    mysql_admin.drop_run_databases()
    pg_admin.drop_run_databases()


def run_to_the_end(rollout: Rollout, limit: int = 200) -> Rollout:
    """The workers' part, one task at a time: dispatch, migrate what it claimed, repeat."""
    for _ in range(limit):
        claimed = rollouts.dispatch(rollout.pk)
        for tenant_id in claimed:
            rollouts.migrate_tenant(tenant_id)
        rollout.refresh_from_db()
        if not claimed:
            return rollout
    pytest.fail("the rollout never settled")


def one_worker_per_server(devops, settings):
    """A rollout to 0003 with a cap of one per server, its first MariaDB tenant claimed
    by dispatch: (rollout, that tenant's id, the MariaDB tenants)."""
    settings.FLEET_MAX_PER_SERVER = 1
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=0, wave_size=10)
    first_mysql, _first_pg = rollouts.dispatch(rollout.pk)
    return rollout, first_mysql, rollout.tenants.filter(server="127.0.0.1:3306")


def versions(rollout: Rollout) -> dict[str, tuple[str, str]]:
    return {t.name: (t.status, t.to_version) for t in rollout.tenants.all()}


def test_the_plan_groups_by_server_caps_each_and_starts_with_a_canary(fleet, settings):
    tenants, _admins = fleet
    settings.FLEET_MAX_PER_SERVER = 3
    online = tenants[2]
    DataSource.objects.filter(pk=online.pk).update(impl_status=DataSource.ImplStatus.ONLINE)

    result = rollouts.plan(target="0003", canary_size=2, wave_size=2)
    assert [s.server for s in result.servers] == ["127.0.0.1:3306", "127.0.0.1:5432"]
    for server in result.servers:
        assert server.max_connections and 1 <= server.cap <= 3
        assert server.cap == min(3, server.max_connections - server.pools_configured)
        for tenant in server.tenants:
            assert tenant.from_version == "0002" and [m.version for m in tenant.pending] == ["0003"]
    assert len(result.tenants) == 5 and result.up_to_date == 0
    assert [(ds.name, reason) for ds, reason in result.skipped] == [
        (online.name, "已上线（本次升级未包含已上线租户）")
    ]
    canary = result.canary
    assert len(canary) == 2 and {t.server for t in canary} == {"127.0.0.1:3306", "127.0.0.1:5432"}
    assert not any(t.online for t in canary)
    assert [t.wave for t in result.tenants] == [0, 0, 1, 1, 2]

    with_online = rollouts.plan(target="0003", include_online=True, canary_size=1)
    assert [t.wave for t in with_online.tenants if t.online] == [1]  # after the canary
    with pytest.raises(ValidationFailed, match="没有版本 0009"):
        rollouts.plan(target="0009")
    assert not Rollout.objects.exists()  # planning writes nothing


def test_a_rollout_brings_every_tenant_to_the_target(fleet, devops):
    tenants, admins = fleet
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=2, wave_size=2)
    assert rollout.status == Rollout.Status.RUNNING
    assert rollout.tenants.filter(wave=0).count() == 2
    with pytest.raises(Conflict) as another:
        rollouts.rollout_start(actor=devops, target="0003")
    assert another.value.code == "rollout_in_progress"

    rollout = run_to_the_end(rollout)
    assert rollout.status == Rollout.Status.FINISHED and rollout.message == "成功 6，失败 0，跳过 0"
    for tenant in rollout.tenants.all():
        assert (tenant.status, tenant.from_version, tenant.to_version) == (
            Status.SUCCEEDED,
            "0002",
            "0003",
        )
        assert [s["version"] for s in tenant.steps] == ["0003"] and tenant.steps[0]["ms"] >= 0
        assert tenant.duration_ms is not None and tenant.attempts == 1
    for ds in tenants:
        assert schemas.schema_view(ds).state == "current"
        assert {"buildings", "parking"} <= set(admins[ds.db_type].tables(ds.database))
    assert AuditLog.objects.filter(action="tenant_migrate").count() == 6
    assert AuditLog.objects.filter(action="tenant_rollout_finish").count() == 1
    # Nothing behind any more: a new plan has nothing to do.
    assert rollouts.plan(target="0003").tenants == []


def test_a_failure_stops_nothing_else_and_a_retry_after_repair_finishes_it(fleet, devops):
    tenants, admins = fleet
    broken = tenants[4]  # a PostgreSQL tenant, not in the canary
    admins["postgresql"].run_in(broken.database, "CREATE TABLE parking (legacy text)")
    drifted = tenants[1]
    with rollouts.tenantdb.connector_for(rollouts.tenantdb.Target.of(drifted)) as c:
        c.query(
            f"UPDATE `{drifted.database}`.schema_version SET checksum = 'edited' "
            "WHERE version = '0002'",
            action="",
        )
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=1, wave_size=10)
    rollout = run_to_the_end(rollout)
    assert rollout.status == Rollout.Status.FINISHED
    result = versions(rollout)
    assert result[broken.name] == (Status.FAILED, "0002")
    assert result[drifted.name][0] == Status.SKIPPED
    assert sum(1 for s, v in result.values() if (s, v) == (Status.SUCCEEDED, "0003")) == 4
    failed = rollout.tenants.get(name=broken.name)
    assert "parking" in failed.message and failed.steps[-1]["status"] == "failed"
    skipped = rollout.tenants.get(name=drifted.name)
    assert "校验和与迁移文件不一致" in skipped.message
    assert schemas.schema_view(drifted).state == "drift"  # flagged, not "fixed"
    assert AuditLog.objects.filter(action="tenant_migrate_failed").count() == 2

    # Repair the broken tenant, retry the failed: it finishes.
    admins["postgresql"].run_in(broken.database, "DROP TABLE parking")
    rollout = rollouts.rollout_retry_failed(actor=devops, rollout_id=rollout.pk)
    rollout = run_to_the_end(rollout)
    assert versions(rollout)[broken.name] == (Status.SUCCEEDED, "0003")
    assert rollout.tenants.get(name=broken.name).attempts == 2
    assert rollout.message == "成功 5，失败 0，跳过 1"


def test_a_failed_canary_pauses_until_someone_decides(fleet, devops):
    tenants, admins = fleet
    first = tenants[0]  # the canary of MariaDB
    admins["mysql"].run_in(first.database, "CREATE TABLE {db}.buildings (legacy text)")
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=1, wave_size=10)
    assert rollout.tenants.get(wave=0).name == first.name
    rollout = run_to_the_end(rollout)
    assert rollout.status == Rollout.Status.PAUSED and "金丝雀" in rollout.message
    assert rollout.tenants.filter(status=Status.PENDING).count() == 5  # nothing else started

    rollout = rollouts.rollout_resume(actor=devops, rollout_id=rollout.pk)
    assert rollout.canary_accepted
    rollout = run_to_the_end(rollout)
    assert rollout.status == Rollout.Status.FINISHED
    assert rollout.message == "成功 5，失败 1，跳过 0"


def test_pause_and_resume(fleet, devops):
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=1, wave_size=1)
    for tenant_id in rollouts.dispatch(rollout.pk):  # the canary
        rollouts.migrate_one(tenant_id)
    rollout = rollouts.rollout_pause(actor=devops, rollout_id=rollout.pk)
    assert rollouts.dispatch(rollout.pk) == []  # paused: nothing starts
    assert rollout.tenants.filter(status=Status.PENDING).count() == 5
    with pytest.raises(Conflict):
        rollouts.rollout_pause(actor=devops, rollout_id=rollout.pk)
    rollouts.rollout_resume(actor=devops, rollout_id=rollout.pk)
    rollout = run_to_the_end(rollout)
    assert rollout.message == "成功 6，失败 0，跳过 0"
    actions = list(
        AuditLog.objects.filter(action__startswith="tenant_rollout").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == sorted(
        ["tenant_rollout_start", "tenant_rollout_pause", "tenant_rollout_resume",
         "tenant_rollout_finish"]
    )  # fmt: skip


def test_a_server_never_runs_more_than_its_cap(fleet, devops, settings):
    settings.FLEET_MAX_PER_SERVER = 2
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=0, wave_size=10)
    claimed = rollouts.dispatch(rollout.pk)
    running = list(rollout.tenants.filter(status=Status.RUNNING).values_list("server", flat=True))
    assert len(claimed) == 4 and sorted(running) == ["127.0.0.1:3306"] * 2 + ["127.0.0.1:5432"] * 2
    assert rollouts.dispatch(rollout.pk) == []  # full until one finishes
    rollouts.migrate_one(claimed[0])
    assert len(rollouts.dispatch(rollout.pk)) == 1


def test_a_dispatch_while_a_worker_goes_through_its_server_finds_the_slot_taken(
    fleet, devops, settings, monkeypatch
):
    """A worker keeps its server's slot from one tenant to the next (a tenant is 进行中
    until its result is recorded, and the next is claimed before that): a dispatch at any
    moment counts the slot as taken, so the server never has more than its cap."""
    monkeypatch.setattr(rollouts, "RECORD_EVERY", 2)  # results recorded mid-way too
    rollout, first_mysql, mysql = one_worker_per_server(devops, settings)
    migrate = rollouts._migrate
    seen: list[tuple[int, list[int]]] = []

    def dispatch_first(tenant, connections):
        taken = rollouts.dispatch(rollout.pk)  # between two tenants of the worker
        seen.append((mysql.filter(status=Status.RUNNING).count(), taken))
        return migrate(tenant, connections)

    monkeypatch.setattr(rollouts, "_migrate", dispatch_first)
    rollouts.migrate_tenant(first_mysql)
    # One tenant 进行中 for the worker at every moment: the count is the number of workers.
    assert [running for running, _taken in seen] == [1, 1, 1]
    assert not {pk for _r, taken in seen for pk in taken} & set(mysql.values_list("pk", flat=True))
    assert set(mysql.values_list("status", flat=True)) == {Status.SUCCEEDED}
    assert mysql.filter(attempts=1).count() == 3


def test_a_pause_stops_a_worker_after_its_current_tenant(fleet, devops, settings, monkeypatch):
    rollout, first_mysql, mysql = one_worker_per_server(devops, settings)
    migrate = rollouts._migrate

    def pause_meanwhile(tenant, connections):
        rollouts.rollout_pause(actor=devops, rollout_id=rollout.pk)
        return migrate(tenant, connections)

    monkeypatch.setattr(rollouts, "_migrate", pause_meanwhile)
    assert rollouts.migrate_tenant(first_mysql) == Status.SUCCEEDED
    mysql = rollout.tenants.filter(server="127.0.0.1:3306")
    assert sorted(mysql.values_list("status", flat=True)) == [Status.PENDING] * 2 + [
        Status.SUCCEEDED
    ]


def test_a_pause_gives_back_what_a_worker_had_taken(fleet, devops, settings, monkeypatch):
    monkeypatch.setattr(rollouts, "RECORD_AFTER", 60)  # the worker takes the rest at once
    rollout, first_mysql, mysql = one_worker_per_server(devops, settings)
    migrate = rollouts._migrate
    calls = []

    def pause_on_the_second(tenant, connections):
        calls.append(mysql.filter(status=Status.QUEUED).count())
        if len(calls) == 2:
            rollouts.rollout_pause(actor=devops, rollout_id=rollout.pk)
            monkeypatch.setattr(rollouts, "RECORD_AFTER", 0)  # … and looks again now
        return migrate(tenant, connections)

    monkeypatch.setattr(rollouts, "_migrate", pause_on_the_second)
    rollouts.migrate_tenant(first_mysql)
    assert calls == [0, 1]  # on the second, the third was taken (已领取)
    assert (
        sorted(mysql.values_list("status", flat=True)) == [Status.PENDING] + [Status.SUCCEEDED] * 2
    )
    assert not mysql.filter(started_at__isnull=False, status=Status.PENDING).exists()


def test_the_reaper_gives_back_what_a_dead_worker_had_taken(fleet, devops, settings):
    import datetime as dt

    from django.utils import timezone

    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=0, wave_size=10)
    taken = rollout.tenants.order_by("id")[:2]
    long_ago = timezone.now() - dt.timedelta(seconds=settings.FLEET_STALE_AFTER + 1)
    rollout.tenants.filter(pk=taken[0].pk).update(status=Status.QUEUED, started_at=long_ago)
    rollout.tenants.filter(pk=taken[1].pk).update(status=Status.QUEUED, started_at=timezone.now())
    rollouts.reap_stale_tenants()
    statuses = dict(rollout.tenants.values_list("pk", "status"))
    assert statuses[taken[0].pk] == Status.PENDING  # its worker is gone: for someone else
    assert statuses[taken[1].pk] == Status.QUEUED  # its worker is at it


def test_a_worker_checks_what_it_took_long_ago_is_still_its_own(
    fleet, devops, settings, monkeypatch
):
    """Slow tenants: what a worker took may have been given back by the reaper meanwhile,
    and claimed by another; the worker then leaves it to that one."""
    monkeypatch.setattr(rollouts, "RECORD_AFTER", 60)  # the worker takes the rest at once
    rollout, first_mysql, mysql = one_worker_per_server(devops, settings)
    migrate = rollouts._migrate
    calls, claimed = [], []

    def reaper_meanwhile(tenant, connections):
        calls.append(tenant.pk)
        if len(calls) == 2:  # on the second; the third is taken (已领取)
            assert mysql.filter(status=Status.QUEUED).count() == 1
            settings.FLEET_STALE_AFTER = 0  # everything is now "long ago"
            rollouts.reap_stale_tenants()  # the third goes back to 等待 …
            claimed.extend(rollouts.dispatch(rollout.pk))  # … and to another worker
        return migrate(tenant, connections)

    monkeypatch.setattr(rollouts, "_migrate", reaper_meanwhile)
    rollouts.migrate_tenant(first_mysql)
    third = mysql.order_by("id").last()
    assert third.pk in claimed and len(calls) == 2  # this worker did not touch it
    assert third.status == Status.RUNNING and third.attempts == 0


def test_a_tenant_is_claimed_once_whoever_gets_there_first(fleet, devops, monkeypatch):
    """dispatch claims with a conditional UPDATE: a tenant a worker claimed after dispatch
    read the waiting list is not claimed (nor queued) a second time."""
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=0, wave_size=10)
    claim = rollouts._claim
    first = rollout.tenants.order_by("id").first()

    def a_worker_wins(tenant_id, now):
        if tenant_id == first.pk:
            assert claim(tenant_id, now)  # the worker's claim, just before
        return claim(tenant_id, now)

    monkeypatch.setattr(rollouts, "_claim", a_worker_wins)
    claimed = rollouts.dispatch(rollout.pk)
    assert first.pk not in claimed and len(claimed) == 5
    assert rollout.tenants.filter(status=Status.RUNNING).count() == 6


def test_a_worker_keeps_its_servers_slot_for_the_next_tenant(fleet, devops, settings):
    """migrate_tenant goes on with the next waiting tenant of the same server in the same
    task, so a rollout does not pay a trip through the queue per tenant — and the slot
    passes on, so the server's cap holds."""
    rollout, first_mysql, mysql = one_worker_per_server(devops, settings)
    rollouts.migrate_tenant(first_mysql)
    assert set(mysql.values_list("status", flat=True)) == {Status.SUCCEEDED}
    pg = rollout.tenants.filter(server="127.0.0.1:5432")
    assert sorted(pg.values_list("status", flat=True)) == [Status.PENDING] * 2 + [Status.RUNNING]


def test_the_reaper_fails_abandoned_tenants_and_restarts_idle_rollouts(
    fleet, devops, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """A tenant whose worker died is failed after FLEET_STALE_AFTER; a running rollout with
    nothing under way (its dispatch was lost) is dispatched again and runs to the end."""
    import datetime as dt

    from django.utils import timezone

    queued: list[int] = []
    monkeypatch.setattr(rollouts, "_queue_dispatch", queued.append)
    settings.FLEET_STALE_AFTER = 900
    settings.FLEET_MAX_PER_SERVER = 1
    rollout = rollouts.rollout_start(actor=devops, target="0003", canary_size=0, wave_size=10)
    abandoned, _other = rollouts.dispatch(rollout.pk)  # two claimed, whose worker dies
    rollout.tenants.filter(pk=abandoned).update(
        started_at=timezone.now() - dt.timedelta(seconds=901)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert rollouts.reap_stale_tenants() == 1
    assert queued == [rollout.pk]  # the stale tenant's rollout
    assert rollout.tenants.get(pk=abandoned).status == Status.FAILED
    assert "任务进程已停止" in rollout.tenants.get(pk=abandoned).message

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert rollouts.reap_stale_tenants() == 0
    assert queued == []  # the other tenant is still under way: nothing is lost

    RolloutTenant.objects.filter(status=Status.RUNNING).update(status=Status.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        assert rollouts.reap_stale_tenants() == 0
    assert queued == [rollout.pk]  # idle: dispatched again
    rollout = run_to_the_end(rollout)
    assert rollout.message == "成功 5，失败 1，跳过 0"


# --- manage.py migrate_tenants ---------------------------------------------------------------


def test_the_command_dry_run_prints_the_plan_and_changes_nothing(fleet):
    import io

    from django.core.management import call_command

    tenants, admins = fleet
    before = {ds.name: admins[ds.db_type].tables(ds.database) for ds in tenants}
    audit_rows = AuditLog.objects.count()
    out = io.StringIO()
    call_command("migrate_tenants", "--to", "0003", "--canary", "2", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "租户库升级计划：目标版本 0003，6 个租户，2 台服务器，金丝雀 2 个" in text
    assert "服务器 127.0.0.1:3306（max_connections" in text and "并发上限" in text
    assert "0003_buildings" in text and "金丝雀" in text and "演练" in text
    assert not Rollout.objects.exists() and AuditLog.objects.count() == audit_rows
    assert {ds.name: admins[ds.db_type].tables(ds.database) for ds in tenants} == before
    for ds in tenants:
        with rollouts.tenantdb.connector_for(rollouts.tenantdb.Target.of(ds)) as c:
            assert c.schema_state(ds.database).current == "0002"


def test_the_command_starts_a_rollout_for_the_workers(fleet):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("migrate_tenants", "--to", "0003", "--no-wait", stdout=out)
    rollout = Rollout.objects.get()
    assert f"已发起租户库升级 #{rollout.pk}" in out.getvalue()
    assert rollout.created_by is None and rollout.tenants.count() == 6
    row = AuditLog.objects.get(action="tenant_rollout_start")
    assert row.actor is None and "6 个租户" in row.message
    with pytest.raises(CommandError, match="已有租户库升级在进行"):
        call_command("migrate_tenants", "--to", "0003", "--no-wait", stdout=io.StringIO())
    with pytest.raises(CommandError, match="没有版本 0042"):
        call_command("migrate_tenants", "--to", "0042", stdout=io.StringIO())


# --- The console pages ------------------------------------------------------------------------


def test_the_console_plans_starts_and_shows_a_rollout(fleet, client_for, devops, ops):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = client_for(devops)
    page = client.get(reverse("fleet:list")).content.decode()
    assert "新建升级" in page and '<option value="0003" selected>' in page
    assert "租户库升级" in page  # the menu item

    plan = client.get(reverse("fleet:plan") + "?target=0003&canary_size=2&wave_size=2")
    html = plan.content.decode()
    assert '<strong class="mono">0003</strong>：6 个租户，2 台服务器，金丝雀 2 个' in html
    assert 'data-cap="127.0.0.1:3306"' in html and 'id="btn-fleet-start"' in html
    assert not Rollout.objects.exists()
    bad = client.get(reverse("fleet:plan") + "?target=9999").content.decode()
    assert "没有版本 9999 的迁移文件" in bad

    started = client.post(
        reverse("fleet:start"),
        {"target": "0003", "canary_size": "2", "wave_size": "2"},
        HTTP_HX_REQUEST="true",
    )
    rollout = Rollout.objects.get()
    assert started["HX-Redirect"] == reverse("fleet:detail", args=[rollout.pk])
    progress_url = reverse("fleet:progress", args=[rollout.pk])
    detail = client.get(reverse("fleet:detail", args=[rollout.pk])).content.decode()
    assert f'hx-get="{progress_url}" hx-trigger="every 2s"' in detail
    assert 'id="btn-fleet-pause"' in detail and "已完成 0 / 6" in detail

    run_to_the_end(rollout)
    polled = client.get(progress_url, HTTP_HX_REQUEST="true")
    assert polled["HX-Refresh"] == "true"  # the page's buttons and list change with it
    done = polled.content.decode()
    assert 'data-rollout-status="finished"' in done and "every 2s" not in done
    assert "已完成 6 / 6（100%）· 成功 6" in done
    with CaptureQueriesContext(connection) as queries:
        detail = client.get(reverse("fleet:detail", args=[rollout.pk])).content.decode()
    assert detail.count('data-tenant-status="succeeded"') == 6 and "0002 → 0003" in detail
    assert len(queries) <= 15
    # 运营 may not see any of it.
    assert client_for(ops).get(reverse("fleet:list")).status_code == 403
    assert "租户库升级" not in client_for(ops).get(reverse("console:dashboard")).content.decode()
