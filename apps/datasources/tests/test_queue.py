"""Provisioning through the task queue, end to end, with a real worker process sharing the
test's control database and the real tenant servers (MariaDB, PostgreSQL): the run is
queued with the password encrypted on it, the task carries the run's id only, the worker
runs the recorded pipeline, and a failure leaves nothing behind."""

from __future__ import annotations

import time

import pytest
from celery import signals

from apps.audit.models import AuditLog
from apps.core.errors import Conflict
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.provisioning import run_queued
from apps.datasources.services import datasource_queue
from tests.servers import sending_to

pytestmark = pytest.mark.django_db(transaction=True)  # the worker reads what we commit


@pytest.fixture
def published():
    """Every task message published during the test: (task name, args, kwargs, headers)."""
    seen: list[tuple] = []

    def capture(sender=None, body=None, headers=None, **_kwargs):
        args, kwargs, _embed = body
        seen.append((sender, args, kwargs, dict(headers or {})))

    signals.before_task_publish.connect(capture, weak=False)
    yield seen
    signals.before_task_publish.disconnect(capture)


def finished(run: ProvisioningRun, timeout: float = 60) -> ProvisioningRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (ProvisioningRun.Status.SUCCEEDED, ProvisioningRun.Status.FAILED):
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run.pk} still {run.status}")


def test_provisioning_through_the_queue(worker, published, tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    assert run.status == ProvisioningRun.Status.QUEUED and run.secret_encrypted
    assert account.password not in run.secret_encrypted
    [(task, args, kwargs, headers)] = published
    assert (task, list(args), kwargs) == ("datasources.provision", [run.pk], {})
    assert account.password not in repr(headers)

    run = finished(run)
    assert run.status == ProvisioningRun.Status.SUCCEEDED, run.message
    assert [s["code"] for s in run.steps] == [
        "check",
        "create_database",
        "apply_schema",
        "verify",
        "save",
    ]
    assert run.secret_encrypted == ""  # erased once the data source holds the password
    ds = DataSource.objects.get(customer=customer)
    assert (ds.name, ds.database, ds.get_password()) == (run.name, run.database, account.password)
    assert admin.database_exists(ds.database)
    row = AuditLog.objects.get(action="datasource_configure")
    assert row.actor == devops and account.password not in str(row.changes)
    assert account.password not in worker.log.read_text()


def test_a_failed_run_in_the_worker_leaves_nothing(worker, tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    run = datasource_queue(
        actor=devops, customer=customer, data=account.data(password="Wrong#Pass2026")
    )
    run = finished(run)
    assert run.status == ProvisioningRun.Status.FAILED and run.failed_step == "check"
    assert "检测连接" in run.message and "Wrong#Pass2026" not in run.message
    assert not DataSource.objects.filter(customer=customer).exists()
    assert not admin.database_exists(run.database)
    assert "Wrong#Pass2026" not in worker.log.read_text()


def test_one_run_at_a_time_and_each_run_is_taken_once(tenant, devops, ops):
    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    with sending_to(None):  # nothing consumes: the run stays queued
        run = datasource_queue(actor=devops, customer=customer, data=account.data())
        with pytest.raises(Conflict) as refused:
            datasource_queue(actor=devops, customer=customer, data=account.data())
    assert refused.value.code == "provisioning_in_progress"
    assert run_queued(run.pk).status == ProvisioningRun.Status.SUCCEEDED
    assert run_queued(run.pk) is None  # a second delivery of the task does nothing


def test_the_reaper_fails_runs_whose_worker_stopped(devops, ops, settings):
    """A run left 进行中 by a worker that died makes no more progress: after
    PROVISIONING_STALE_AFTER the reaper marks it failed, naming the step it stopped in,
    once; a run still making progress is left alone."""
    import datetime as dt

    from django.utils import timezone

    from apps.datasources.provisioning import reap_stale_runs
    from apps.datasources.tasks import reap_runs

    settings.PROVISIONING_STALE_AFTER = 600
    now = timezone.now()

    def run(customer, age_seconds):
        return ProvisioningRun.objects.create(
            customer=customer, name=f"DS-R-{customer.pk}", database=f"r_{customer.pk}",
            db_type="mysql", host="10.0.3.12", port=3306, username="tenant_app",
            status=ProvisioningRun.Status.RUNNING,
            steps=[{"code": "check", "label": "检测连接", "status": "ok", "message": ""}],
            progress_at=now - dt.timedelta(seconds=age_seconds), started_by=devops,
        )  # fmt: skip

    dead = run(make_customer(actor=ops, complete=True), 601)
    alive = run(make_customer(actor=ops, complete=True), 30)
    assert [r.pk for r in reap_stale_runs(now=now)] == [dead.pk]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == ProvisioningRun.Status.FAILED and dead.failed_step == "create_database"
    assert "超过 10 分钟没有进展" in dead.message and "第 2 步「创建数据库」" in dead.message
    assert alive.status == ProvisioningRun.Status.RUNNING
    row = AuditLog.objects.get(action="datasource_configure_failed")
    assert dead.name in row.message
    assert reap_stale_runs(now=now) == [] and reap_runs() == 0  # reaped once


# --- A worker killed mid-pipeline ----------------------------------------------------------


@pytest.fixture
def blocked_baseline(idle_worker, tmp_path, mysql_admin):
    """A MySQL baseline whose second file waits on a lock the test holds: the worker that
    runs it is caught inside 初始化表结构, after the first table, for as long as the test
    wants. Yields (wait until the worker is there, release the lock)."""
    lock = f"hgj_kill_{tmp_path.name}"[:60]
    folder = tmp_path / "baseline" / "mysql"
    folder.mkdir(parents=True)
    (folder / "0001_first.sql").write_text("CREATE TABLE first_table (id INT PRIMARY KEY);\n")
    (folder / "0002_wait.sql").write_text(f"SELECT GET_LOCK('{lock}', 60);\n")
    (folder / "0003_second.sql").write_text("CREATE TABLE second_table (id INT PRIMARY KEY);\n")
    idle_worker.env["TENANT_BASELINE_DIR"] = str(tmp_path / "baseline")
    assert mysql_admin.execute("SELECT GET_LOCK(%s, 0)", [lock]) == [(1,)]

    def wait_until_blocked(timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = mysql_admin.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE %s",
                [f"SELECT GET_LOCK('{lock}'%"],
            )
            if waiting[0][0]:
                return
            time.sleep(0.1)
        pytest.fail("the worker never reached the waiting statement")

    def release() -> None:
        mysql_admin.execute("SELECT RELEASE_LOCK(%s)", [lock])

    yield wait_until_blocked, release
    release()


def killed_mid_pipeline(idle_worker, blocked, account, devops, customer, mysql_admin):
    """Queue a run, let the worker reach 初始化表结构, SIGKILL it, and let the reaper find
    the run: failed, its database and first table still on the server."""
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    from apps.datasources.provisioning import reap_stale_runs

    wait_until_blocked, _release = blocked
    run = datasource_queue(actor=devops, customer=customer, data=account.data())
    idle_worker.start()
    wait_until_blocked()
    idle_worker.kill()
    run.refresh_from_db()
    assert run.status == ProvisioningRun.Status.RUNNING
    assert [s["code"] for s in run.steps] == ["check", "create_database"]
    assert run.footprint == {"database": True}
    assert mysql_admin.tables(run.database) == ["first_table", "schema_version"]

    assert reap_stale_runs() == []  # still within PROVISIONING_STALE_AFTER
    later = timezone.now() + dt.timedelta(seconds=settings.PROVISIONING_STALE_AFTER + 1)
    [reaped] = reap_stale_runs(now=later)
    assert reaped.pk == run.pk
    run.refresh_from_db()
    assert run.status == ProvisioningRun.Status.FAILED and run.failed_step == "apply_schema"
    assert "第 3 步「初始化表结构」" in run.message
    assert not DataSource.objects.filter(customer=customer).exists()
    return run


def test_a_run_whose_worker_was_killed_is_retried_to_completion(
    idle_worker, blocked_baseline, mysql_account, mysql_admin, devops, ops, tenant_settings
):
    from apps.datasources.services import datasource_retry

    customer = make_customer(actor=ops, complete=True)
    run = killed_mid_pipeline(
        idle_worker, blocked_baseline, mysql_account, devops, customer, mysql_admin
    )
    _wait, release = blocked_baseline
    release()  # the statement it was stuck on now passes at once

    datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    idle_worker.start()  # a worker again (the same queue)
    run = finished(run)
    assert run.status == ProvisioningRun.Status.SUCCEEDED, run.message
    assert run.attempts == 2 and run.footprint == {} and run.secret_encrypted == ""
    by_code = {s["code"]: s["status"] for s in run.steps}
    assert by_code == {
        "check": "ok",
        "create_database": "skipped",
        "apply_schema": "ok",
        "verify": "ok",
        "save": "ok",
    }
    ds = DataSource.objects.get(customer=customer)
    assert ds.database == run.database and ds.database_created
    assert mysql_admin.tables(run.database) == ["first_table", "schema_version", "second_table"]
    versions = mysql_admin.run_in(run.database, "SELECT version FROM {db}.schema_version")
    assert sorted(v[0] for v in versions) == ["0001", "0002", "0003"]
    mysql_admin.drop_run_databases()


def test_cleaning_up_after_a_killed_worker_leaves_no_database(
    idle_worker, blocked_baseline, mysql_account, mysql_admin, devops, ops, tenant_settings
):
    from apps.datasources.services import datasource_cleanup

    customer = make_customer(actor=ops, complete=True)
    run = killed_mid_pipeline(
        idle_worker, blocked_baseline, mysql_account, devops, customer, mysql_admin
    )
    run = datasource_cleanup(actor=devops, customer=customer, run_id=run.pk)
    assert not mysql_admin.database_exists(run.database)
    assert run.secret_encrypted == "" and run.footprint == {} and run.cleaned_at
    assert mysql_account.password not in idle_worker.log.read_text()


def test_a_control_database_fault_is_retried_with_backoff(tenant, devops, ops, monkeypatch):
    """The control database drops the worker's connection as it takes the run: the task
    is retried (``Task.apply`` runs the retries in this process, without the countdown)
    and the second attempt provisions the run."""
    from django.db import OperationalError

    from apps.datasources import provisioning
    from apps.datasources.tasks import provision

    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    with sending_to(None):
        run = datasource_queue(actor=devops, customer=customer, data=account.data())
    calls = []
    real = provisioning.run_queued

    def flaky(run_id):
        calls.append(run_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(run_id)

    monkeypatch.setattr(provisioning, "run_queued", flaky)
    result = provision.apply(args=[run.pk])
    assert result.successful() and result.result == "succeeded"
    assert calls == [run.pk, run.pk]
    run.refresh_from_db()
    assert run.status == ProvisioningRun.Status.SUCCEEDED
    assert provision.retry_backoff == 2 and provision.max_retries == 8


def test_a_broker_that_does_not_answer_fails_the_run_at_once(tenant, devops, ops):
    """保存 while the broker is down: the request does not hang, and the run is not left
    排队中 for a message never sent — it fails saying why, keeping its input for 重试."""
    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    started = time.monotonic()
    with sending_to(None, broker_url="redis://127.0.0.1:1/0"):
        run = datasource_queue(actor=devops, customer=customer, data=account.data())
    assert time.monotonic() - started < 15
    assert run.status == ProvisioningRun.Status.FAILED and run.retryable
    assert "任务队列暂时不可用" in run.message and account.password not in run.message
    row = AuditLog.objects.get(action="datasource_configure_failed")
    assert row.actor == devops and run.name in row.message
    # The broker is back: 重试 sends it, and it goes through.
    from apps.datasources.services import datasource_retry

    with sending_to(None):
        run = datasource_retry(actor=devops, customer=customer, run_id=run.pk)
    assert run.status == ProvisioningRun.Status.QUEUED
    assert run_queued(run.pk).status == ProvisioningRun.Status.SUCCEEDED
