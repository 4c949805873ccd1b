#!/usr/bin/env python
"""Relocation benchmark: how fast does 迁移数据源 copy a tenant's rows, next to the raw
drivers copying the same tables with the same batch size in the same script?

On each local server (MariaDB, PostgreSQL) it creates two least-privilege accounts — the
tenant's and the target's (another database and account on the same server stand in for the
customer's own server) — configures a tenant with ten tables through the service and fills it
with ``--scale`` × 100 000 rows. Then, ``--runs`` times:

- **relocation**: ``relocation_request`` + ``run_relocation`` (the worker's code: checks,
  schema, copy, verification by checksums, switch). Its copy step's rows/s is the figure;
  the whole move's time is printed beside it;
- **raw copy** (the floor): PyMySQL / psycopg as the target account, the same tables in
  the same order into a fresh database with the same schema — MySQL: an unbuffered
  ``SELECT … ORDER BY`` on the source and ``executemany`` batches of the same size on the
  target; PostgreSQL: ``COPY … TO STDOUT`` streamed into ``COPY … FROM STDIN``.

The control database is a temporary SQLite file; every database and account is dropped at
the end.

    .venv/bin/python benchmarks/relocation.py
    .venv/bin/python benchmarks/relocation.py --scale 5 --runs 3 --only postgresql
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import provisioning as bench  # noqa: E402 - the servers and accounts of the provisioning bench


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=3, help="× 100 000 rows")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per scenario")
    parser.add_argument("--only", choices=["mysql", "postgresql"], help="one server only")
    return parser.parse_args(argv)


class SecondAccount:
    """The target account on the same server (its own name, the same grants)."""

    def __init__(self, server) -> None:
        self.server = server
        self.username = f"hgjpt_{bench.RUN}"

    def create(self) -> None:
        original = self.server.username
        self.server.username = self.username
        try:
            self.server.create_account()
        finally:
            self.server.username = original

    def drop(self) -> None:
        if self.server.db_type == "mysql":
            self.server.sql(f"DROP USER IF EXISTS '{self.username}'@'%'")
        else:
            self.server.admin.execute(f'DROP ROLE IF EXISTS "{self.username}"')


def data(server, username: str) -> dict:
    return {
        "host": server.host,
        "port": server.port,
        "db_type": server.db_type,
        "username": username,
        "password": bench.PASSWORD,
        "max_connections": 5,
        "min_connections": 1,
    }


def raw_copy(server, username: str, source_db: str, target_db: str, plan, batch: int) -> float:
    """The floor: the same copy through the bare drivers (reading as the tenant's account,
    writing as the target's, like the relocation); rows/s."""
    from apps.datasources import tenantdb

    target = tenantdb.Target(
        server.db_type, server.host, server.port, username, bench.PASSWORD, target_db
    )
    with tenantdb.connector_for(target) as c:  # an empty database with the same schema
        if server.db_type == "mysql":
            c.create_database(target_db)
        else:
            c.create_database(target_db, template0=False)
        c.ensure_version_table(target_db)
        for migration in tenantdb.migrations(server.db_type):
            c.apply_migration(target_db, migration)
    rows = 0
    if server.db_type == "mysql":
        import pymysql

        def connect(user: str):
            return pymysql.connect(
                host=server.host,
                port=server.port,
                user=user,
                password=bench.PASSWORD,
                charset="utf8mb4",
                autocommit=True,
            )

        src, dst = connect(server.username), connect(username)
        started = time.perf_counter()
        dst.query("SET FOREIGN_KEY_CHECKS = 0")
        src.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        for t in plan:
            cols = ", ".join(f"`{c}`" for c in t.columns)
            order = ", ".join(f"`{c}`" for c in t.key)
            insert = (
                f"INSERT INTO `{target_db}`.`{t.label}` ({cols}) VALUES "
                f"({', '.join(['%s'] * len(t.columns))})"
            )
            reader = src.cursor(pymysql.cursors.SSCursor)
            reader.execute(f"SELECT {cols} FROM `{source_db}`.`{t.label}` ORDER BY {order}")
            while chunk := reader.fetchmany(batch):
                with dst.cursor() as w:
                    w.executemany(insert, chunk)
                rows += len(chunk)
            reader.close()
        src.query("COMMIT")
        elapsed = time.perf_counter() - started
        src.close()
        dst.close()
    else:
        import psycopg

        def connect(db: str, user: str):
            return psycopg.connect(
                host=server.host,
                port=server.port,
                user=user,
                password=bench.PASSWORD,
                dbname=db,
                autocommit=True,
            )

        src, dst = connect(source_db, server.username), connect(target_db, username)
        started = time.perf_counter()
        with src.transaction():
            src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for t in plan:
                cols = ", ".join(f'"{c}"' for c in t.columns)
                order = ", ".join(f'"{c}"' for c in t.key)
                with (
                    src.cursor().copy(
                        f'COPY (SELECT {cols} FROM "{t.label}" ORDER BY {order}) TO STDOUT'
                    ) as out,
                    dst.cursor().copy(f'COPY "{t.label}" ({cols}) FROM STDIN') as into,
                ):
                    for chunk in out:
                        into.write(chunk)
                        rows += bytes(chunk).count(b"\n")
        elapsed = time.perf_counter() - started
        src.close()
        dst.close()
    return rows / elapsed


def bench_server(server, second: SecondAccount, args, devops) -> dict:
    from apps.customers.tests.factories import make_customer
    from apps.datasources import tenantdb
    from apps.datasources.models import DataSource
    from apps.datasources.relocation import BATCH_SIZE, relocation_request, run_relocation
    from apps.datasources.services import datasource_configure
    from apps.datasources.tenantdb.copying import copier_for
    from apps.datasources.tests import test_relocation as estate

    customer = make_customer(actor=devops, complete=True, name="基准物业")
    source = datasource_configure(
        actor=devops, customer=customer, data=data(server, server.username)
    )
    for table in estate.ROWS:
        estate.ROWS[table] = estate.BASE_ROWS[table] * args.scale
    estate.fill(source)
    with tenantdb.connector_for(tenantdb.Target.of(source)) as c:
        plan = copier_for(c).plan(source.database)
    total = sum(t.rows for t in plan)
    moves, wholes, raws = [], [], []
    for i in range(args.runs):
        current = DataSource.objects.get(customer=customer)
        started = time.perf_counter()
        move = run_relocation(
            relocation_request(
                actor=devops, datasource=current, data=data(server, second.username)
            ).pk
        )
        wholes.append(time.perf_counter() - started)
        if move.status != "succeeded":
            raise SystemExit(f"relocation failed: {move.message}")
        moves.append(move.copied_rows / (move.copy_ms / 1000))
        raws.append(
            raw_copy(
                server,
                second.username,
                source.database,
                f"{bench.PREFIX}raw_{i}",
                plan,
                BATCH_SIZE,
            )
        )
    return {
        "version": bench.server_version(server),
        "tables": len(plan),
        "rows": total,
        "move": statistics.median(moves),
        "whole": statistics.median(wholes),
        "raw": statistics.median(raws),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-relocation-bench-")
    servers, seconds = [], []
    try:
        bench.setup_django(tmpdir)
        from django.conf import settings
        from django.contrib.auth.models import Group

        from apps.accounts.models import User
        from apps.datasources.tests import test_relocation as estate

        baseline = Path(tmpdir) / "baseline"
        shutil.copytree(ROOT / "apps" / "datasources" / "baseline", baseline)
        for db_type in ("mysql", "postgresql"):
            (baseline / db_type / "0003_estate.sql").write_text(estate.ESTATE)
        settings.TENANT_BASELINE_DIR = str(baseline)
        estate.BASE_ROWS = dict(estate.ROWS)

        devops = User.objects.create_user(username="devops", name="运维")
        devops.groups.add(*Group.objects.filter(name__in=["devops", "ops"]))
        results = {}
        for db_type in ("mysql", "postgresql"):
            if args.only and args.only != db_type:
                continue
            address = "127.0.0.1:3306" if db_type == "mysql" else "127.0.0.1:5432"
            server = (
                bench.MySQLServer(address) if db_type == "mysql" else bench.PostgresServer(address)
            )
            servers.append(server)
            server.create_account()
            second = SecondAccount(server)
            second.create()
            seconds.append(second)
            results[db_type] = bench_server(server, second, args, devops)
        report(args, results)
    finally:
        for server in servers:
            for name in server.databases():
                if server.db_type == "mysql":
                    server.sql(f"DROP DATABASE IF EXISTS `{name}`")
                else:
                    server.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for second in seconds:
            second.drop()
        for server in servers:
            server.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)


def report(args, results: dict) -> None:
    import django

    print(
        f"\nRelocation benchmark · median of {args.runs} runs · batch "
        f"{__import__('apps.datasources.relocation', fromlist=['BATCH_SIZE']).BATCH_SIZE} rows · "
        f"Django {django.get_version()} · Python {sys.version.split()[0]}"
    )
    header = (
        f"{'server':11} {'tables':>6} {'rows':>9} {'relocation rows/s':>18} "
        f"{'raw rows/s':>11} {'× raw':>6} {'whole move s':>13}"
    )
    print(header)
    print("-" * len(header))
    for db_type, r in results.items():
        print(
            f"{db_type:11} {r['tables']:6} {r['rows']:9} {r['move']:18,.0f} "
            f"{r['raw']:11,.0f} {r['move'] / r['raw']:6.2f} {r['whole']:13.2f}"
        )
        print(f"{'':11} {r['version']}")


if __name__ == "__main__":
    main()
