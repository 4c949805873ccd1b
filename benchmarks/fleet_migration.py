#!/usr/bin/env python
"""Fleet-migration benchmark: 租户库升级 of many tenant databases through the platform —
a real rollout on real Celery workers — next to the floor of the raw drivers applying the
same statements with the same per-server parallelism in one script.

It creates ``--tenants`` tenant databases (half on the local MariaDB, half on the local
PostgreSQL) at version 0002 of a small migration set, registers them as data sources in a
fresh control database on PostgreSQL (``--control``; SQLite cannot take several workers
writing at once), then:

1. **floor** — PyMySQL and psycopg threads, as many per server as the rollout's cap for that
   server, connect as the tenant account and apply 0003 (three statements) plus its
   ``schema_version`` row to every tenant; then undo it (not timed);
2. **platform** — ``rollouts.rollout_start`` to 0003 with ``--workers`` Celery worker
   processes on ``--broker``, timed until the rollout is 已结束;
3. counts the connections the tenant accounts still hold to each server (goal: 0).

Every database, account and the control database are dropped at the end.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/fleet_migration.py                  # 1000 tenants
    .venv/bin/python benchmarks/fleet_migration.py --tenants 200 --workers 8
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provisioning import (
    PASSWORD,
    PREFIX,
    ROOT,
    MySQLServer,
    PostgresServer,
)

MIGRATION_0003 = [
    "CREATE TABLE buildings (id int PRIMARY KEY, name varchar(50))",
    "ALTER TABLE communities ADD COLUMN building_count int",
    "CREATE INDEX idx_buildings_name ON buildings (name)",
]
UNDO_0003 = [
    "DROP TABLE buildings",
    "ALTER TABLE communities DROP COLUMN building_count",
    "DELETE FROM schema_version WHERE version = '0003'",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000, help="half per server")
    parser.add_argument("--workers", type=int, default=6, help="Celery worker processes")
    parser.add_argument("--max-per-server", type=int, default=4, help="FLEET_MAX_PER_SERVER")
    parser.add_argument(
        "--control", default="postgres://postgres@127.0.0.1:5432/hgj_fleet_bench",
        help="control database to create (and drop) for the run",
    )  # fmt: skip
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--mysql", default="127.0.0.1:3306")
    parser.add_argument("--postgresql", default="127.0.0.1:5432")
    return parser.parse_args(argv)


def write_migrations(root: Path) -> None:
    for db_type in ("mysql", "postgresql"):
        folder = root / db_type
        folder.mkdir(parents=True)
        (folder / "0001_schema_version.sql").write_text("-- the platform's table\n")
        (folder / "0002_communities.sql").write_text(
            "CREATE TABLE communities (id int PRIMARY KEY, name varchar(100));\n"
        )
        (folder / "0003_buildings.sql").write_text(";\n".join(MIGRATION_0003) + ";\n")


def control_database(url: str, create: bool) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def make_tenants(args, servers) -> dict[str, list[str]]:
    """Tenant databases at 0002, made as the tenant accounts (their owners), with the
    platform's own connector; returns database names by server type."""
    from apps.datasources import tenantdb

    files = {t: tenantdb.migrations(t)[:2] for t in ("mysql", "postgresql")}
    made: dict[str, list[str]] = defaultdict(list)
    for server in servers:
        target = tenantdb.Target(server.db_type, server.host, server.port, server.username,
                                 PASSWORD)  # fmt: skip
        with tenantdb.connector_for(target) as connector:
            for i in range(args.tenants // 2):
                database = f"{PREFIX}{server.db_type[:2]}{i:05d}"
                if server.db_type == "mysql":
                    connector.create_database(database)
                else:
                    connector.create_database(database, template0=False)
                connector.ensure_version_table(database)
                for migration in files[server.db_type]:
                    connector.apply_migration(database, migration)
                connector.close_database(database)
                made[server.db_type].append(database)
    return made


def register(made: dict[str, list[str]], servers) -> None:
    """Customers, data sources and their last-read versions, in bulk."""
    from django.utils import timezone

    from apps.core import crypto
    from apps.customers.models import Customer
    from apps.datasources.models import DataSource, TenantSchema

    token = crypto.encrypt(PASSWORD)
    now = timezone.now()
    by_type = {s.db_type: s for s in servers}
    rows = []
    for db_type, databases in made.items():
        server = by_type[db_type]
        for database in databases:
            rows.append((server, database))
    customers = Customer.objects.bulk_create(
        Customer(enterprise_no=f"FB{i:07d}", name=f"基准物业{i}") for i in range(len(rows))
    )
    sources = DataSource.objects.bulk_create(
        DataSource(
            customer=customer, name=f"DS-FB-{i}", database=database, db_type=server.db_type,
            host=server.host, port=server.port, username=server.username,
            password_encrypted=token, max_connections=1, min_connections=1,
            configured_at=now,
        )
        for i, (customer, (server, database)) in enumerate(zip(customers, rows, strict=True))
    )  # fmt: skip
    TenantSchema.objects.bulk_create(
        TenantSchema(datasource=ds, version="0002", checked_at=now) for ds in sources
    )


def floor(made, servers, caps: dict[str, int]) -> float:
    """The raw drivers, ``caps[server]`` threads per server, same statements and row."""
    import psycopg
    import pymysql

    from apps.datasources import tenantdb

    checksum = tenantdb.migrations("mysql")[2].checksum

    def work(server, databases) -> None:
        if server.db_type == "mysql":
            # One connection per thread, as the platform's worker keeps one per server.
            conn = pymysql.connect(host=server.host, port=server.port, user=server.username,
                                   password=PASSWORD, autocommit=True)  # fmt: skip
            with conn.cursor() as cur:
                for database in databases:
                    cur.execute(f"USE `{database}`")
                    for statement in MIGRATION_0003:
                        cur.execute(statement)
                    cur.execute(
                        "INSERT INTO schema_version (version, checksum, name, execution_ms) "
                        "VALUES ('0003', %s, 'buildings', 1)",
                        [checksum],
                    )
            conn.close()
            return
        params = {"host": server.host, "port": server.port,
                  "user": server.username, "password": PASSWORD}  # fmt: skip
        for database in databases:  # a PostgreSQL connection serves one database
            with psycopg.connect(dbname=database, **params) as conn, conn.transaction():
                for statement in MIGRATION_0003:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, checksum, name, "
                    "execution_ms) VALUES ('0003', %s, 'buildings', 1)",
                    [checksum],
                )

    threads = []
    started = time.perf_counter()
    for server in servers:
        databases = made[server.db_type]
        n = caps[f"{server.host}:{server.port}"]
        for k in range(n):
            threads.append(threading.Thread(target=work, args=(server, databases[k::n])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    # Undo (not timed).
    for server in servers:
        target = tenantdb.Target(server.db_type, server.host, server.port, server.username,
                                 PASSWORD)  # fmt: skip
        with tenantdb.connector_for(target) as connector:
            for database in made[server.db_type]:
                connector.run_script(database, [("undo", i, s) for i, s in enumerate(UNDO_0003)])
                connector.close_database(database)
    return elapsed


def tenant_connections(servers) -> dict[str, int]:
    counts = {}
    for server in servers:
        if server.db_type == "mysql":
            rows = server.sql(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                [server.username],
            )
        else:
            rows = server.admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [server.username]
            ).fetchall()
        counts[server.db_type] = int(rows[0][0])
    return counts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-fleet-bench-")
    migrations = Path(tmpdir) / "migrations"
    write_migrations(migrations)
    control_database(args.control, create=True)
    os.environ.update(
        {
            "DATABASE_URL": args.control,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": tmpdir,
            "TENANT_DB_PREFIX": PREFIX,
            "TENANT_BASELINE_DIR": str(migrations),
            "CELERY_BROKER_URL": args.broker,
            "FLEET_MAX_PER_SERVER": str(args.max_per_server),
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    servers = [MySQLServer(args.mysql), PostgresServer(args.postgresql)]
    worker = None
    try:
        for server in servers:
            server.create_account()
        t0 = time.perf_counter()
        made = make_tenants(args, servers)
        register(made, servers)
        setup = time.perf_counter() - t0

        from celery import current_app

        from apps.datasources import rollouts
        from apps.datasources.models import Rollout

        plan = rollouts.plan(target="0003", canary_size=2, wave_size=args.tenants)
        caps = {s.server: s.cap for s in plan.servers}
        floor_s = floor(made, servers, caps)

        current_app.control.purge()
        log = Path(tmpdir) / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
             "--concurrency", str(args.workers), "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=os.environ.copy(), stdout=log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        # The clock starts once every pool process is up.
        deadline = time.monotonic() + 120
        while "ready." not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        started = time.perf_counter()
        rollout = rollouts.rollout_start(
            actor=None, by_command=True, target="0003", canary_size=2, wave_size=args.tenants
        )
        while True:
            rollout.refresh_from_db()
            if rollout.status != Rollout.Status.RUNNING:
                break
            time.sleep(0.05)
        platform_s = time.perf_counter() - started
        idle = tenant_connections(servers)
        report(args, setup, caps, plan, floor_s, platform_s, rollout, idle)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        for server in servers:
            server.cleanup()
        from django.db import connections

        connections.close_all()
        control_database(args.control, create=False)
        shutil.rmtree(tmpdir, ignore_errors=True)


def report(args, setup, caps, plan, floor_s, platform_s, rollout, idle) -> None:
    print(
        f"\nFleet-migration benchmark · {args.tenants} tenants ({args.tenants // 2} MariaDB, "
        f"{args.tenants // 2} PostgreSQL) · migration 0003: {len(MIGRATION_0003)} statements "
        f"+ its schema_version row · {args.workers} worker processes · broker "
        f"{args.broker.split('://')[0]} · control database PostgreSQL · setup {setup:.0f} s"
    )
    for server in plan.servers:
        print(
            f"  {server.server}: cap {server.cap} (max_connections {server.max_connections}, "
            f"pools configured {server.pools_configured})"
        )
    print(f"{'scenario':58} {'wall s':>8} {'tenants/s':>10} {'× floor':>8}")
    print("-" * 87)
    for label, seconds in (
        ("floor: raw drivers, same statements, same parallelism", floor_s),
        ("platform: rollout on the workers, start → 已结束", platform_s),
    ):
        print(f"{label:58} {seconds:8.2f} {args.tenants / seconds:10.1f} {seconds / floor_s:8.2f}")
    print(f"result: {rollout.message}")
    print(f"tenant connections held afterwards: {idle}")


if __name__ == "__main__":
    main()
