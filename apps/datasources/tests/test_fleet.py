"""A fleet migration with real workers: 32 tenant databases on the real MariaDB and
PostgreSQL, brought to a new version by ``manage.py migrate_tenants`` while a sampler
counts the platform's live connections to each server. A few tenants are made to fail (a
table in the way, an edited checksum): the rest reach the target, the failures are
reported with their causes, and a retry after repair finishes them."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.customers.tests.factories import make_customer
from apps.datasources import rollouts
from apps.datasources.models import Rollout, RolloutTenant
from apps.datasources.services import datasource_configure
from apps.datasources.tests.factories import BASE_MIGRATIONS, write_migrations

pytestmark = pytest.mark.django_db(transaction=True)  # the workers read what we commit

PER_SERVER = 16
CAP = 3


class Sampler(threading.Thread):
    """Counts, every 10 ms, the connections each tenant account holds to its server."""

    def __init__(self, mysql_admin, pg_admin, mysql_user: str, pg_user: str) -> None:
        super().__init__(daemon=True)
        self.queries = {
            "mysql": lambda: mysql_admin.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                [mysql_user],
            )[0][0],
            "postgresql": lambda: pg_admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [pg_user]
            )[0][0],
        }
        self.peak = {"mysql": 0, "postgresql": 0}
        self.stopping = threading.Event()

    def now(self) -> dict[str, int]:
        return {db_type: int(query()) for db_type, query in self.queries.items()}

    def run(self) -> None:
        while not self.stopping.is_set():
            for db_type, count in self.now().items():
                self.peak[db_type] = max(self.peak[db_type], count)
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


@pytest.fixture
def fleet(tmp_path, settings, mysql_account, pg_account, mysql_admin, pg_admin, devops, ops):
    root = tmp_path / "migrations"
    write_migrations(root, BASE_MIGRATIONS)
    settings.TENANT_BASELINE_DIR = str(root)
    tenants = {"mysql": [], "postgresql": []}
    for account in (mysql_account, pg_account):
        for i in range(PER_SERVER):
            customer = make_customer(actor=ops, complete=True, name=f"机群{account.db_type}{i}")
            data = account.data(max_connections=2, min_connections=1)
            ds = datasource_configure(actor=devops, customer=customer, data=data)
            tenants[account.db_type].append(ds)
    # The release: three statements and a pause, so that parallel work overlaps visibly.
    pause = {"mysql": "DO SLEEP(0.15)", "postgresql": "SELECT pg_sleep(0.15)"}
    for db_type in ("mysql", "postgresql"):
        (root / db_type / "0003_buildings.sql").write_text(
            "CREATE TABLE buildings (id int, name varchar(50));\n"
            "ALTER TABLE communities ADD COLUMN building_count int;\n"
            "CREATE INDEX idx_buildings_name ON buildings (name);\n"
            f"{pause[db_type]};\n"
        )
    yield tenants, root
    mysql_admin.drop_run_databases()
    pg_admin.drop_run_databases()


def test_a_fleet_of_32_tenants_migrates_within_every_servers_cap(
    fleet, idle_worker, settings, mysql_account, pg_account, mysql_admin, pg_admin, devops
):
    tenants, root = fleet
    settings.FLEET_MAX_PER_SERVER = CAP
    broken = [tenants["mysql"][5], tenants["postgresql"][9]]
    mysql_admin.run_in(broken[0].database, "CREATE TABLE {db}.buildings (legacy text)")
    pg_admin.run_in(broken[1].database, "CREATE TABLE buildings (legacy text)")
    drifted = tenants["postgresql"][12]
    with rollouts.tenantdb.connector_for(rollouts.tenantdb.Target.of(drifted)) as c:
        c.query_in(
            drifted.database,
            "UPDATE schema_version SET checksum = 'edited' WHERE version = '0002'",
            action="",
        )

    idle_worker.env["TENANT_BASELINE_DIR"] = str(root)
    idle_worker.concurrency = 4
    idle_worker.start()
    sampler = Sampler(mysql_admin, pg_admin, mysql_account.username, pg_account.username)
    assert sampler.now() == {"mysql": 0, "postgresql": 0}
    sampler.start()
    out = io.StringIO()
    started = time.monotonic()
    try:
        with pytest.raises(CommandError, match="部分租户未能升级"):
            call_command(
                "migrate_tenants", "--to", "0003", "--canary", "2", "--wave-size", "10",
                "--poll", "0.2", stdout=out,
            )  # fmt: skip
    finally:
        sampler.stop()
    elapsed = time.monotonic() - started
    text = out.getvalue()

    rollout = Rollout.objects.get()
    assert rollout.server_caps == {"127.0.0.1:3306": CAP, "127.0.0.1:5432": CAP}
    # Every server stayed within its cap, and work on it did overlap.
    assert 2 <= sampler.peak["mysql"] <= CAP, sampler.peak
    assert 2 <= sampler.peak["postgresql"] <= CAP, sampler.peak
    # The rest reached the target; the failures say why.
    status = dict(rollout.tenants.values_list("name", "status"))
    assert sum(1 for s in status.values() if s == RolloutTenant.Status.SUCCEEDED) == 29
    assert status[broken[0].name] == status[broken[1].name] == RolloutTenant.Status.FAILED
    assert status[drifted.name] == RolloutTenant.Status.SKIPPED
    assert rollout.message == "成功 29，失败 2，跳过 1"
    assert f"失败 {broken[0].name}：" in text and "buildings" in text
    assert f"跳过 {drifted.name}：版本漂移" in text
    # Nothing is left connected.
    assert sampler.now() == {"mysql": 0, "postgresql": 0}
    # 32 tenants × 0.15 s of work, three at a time per server: well under serial time.
    assert elapsed < 32 * 0.15 + 30

    # Repair and retry the failed: they finish.
    mysql_admin.run_in(broken[0].database, "DROP TABLE {db}.buildings")
    pg_admin.run_in(broken[1].database, "DROP TABLE buildings")
    rollouts.rollout_retry_failed(actor=devops, rollout_id=rollout.pk)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rollout.refresh_from_db()
        if rollout.status == Rollout.Status.FINISHED:
            break
        time.sleep(0.2)
    assert rollout.message == "成功 31，失败 0，跳过 1"
    for ds in broken:
        tenant = rollout.tenants.get(name=ds.name)
        assert (tenant.to_version, tenant.attempts) == ("0003", 2)
