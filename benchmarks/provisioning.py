#!/usr/bin/env python
"""Provisioning benchmark: how long does 配置数据源 (``datasource_configure``) take on the
local MariaDB and PostgreSQL, next to the raw driver applying the same SQL?

For each server it creates a least-privilege account (like the tests' fixtures), then times
``--runs`` configures of fresh customers through the service — pre-flight checks, CREATE
DATABASE, the tenant baseline, the create/write/drop verification, the recorded run and the
saved, audited data source — against the floor: PyMySQL / psycopg connecting as the same
account and sending the same CREATE DATABASE, baseline statements and verification
statements directly (no checks, no control database). ``datasource_check`` (检测连接 alone)
is timed too. The control database is a temporary SQLite file; every tenant database and
account it creates is dropped at the end.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/provisioning.py
    .venv/bin/python benchmarks/provisioning.py --runs 15 --only mysql
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = secrets.token_hex(3)
PREFIX = f"pb{RUN}_"
PASSWORD = "Bench#2026pw"
PG_PASSWORD_GROUP = "hgj_password_auth"  # scripts/services.sh makes PostgreSQL check these


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per scenario")
    parser.add_argument("--only", choices=["mysql", "postgresql"], help="one server only")
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="MariaDB/MySQL host:port")
    parser.add_argument("--postgresql", default="127.0.0.1:5432", help="PostgreSQL host:port")
    return parser.parse_args(argv)


@dataclass
class Timing:
    label: str
    ms: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ms) if self.ms else 0.0


def setup_django(tmpdir: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{tmpdir}/provisioning-bench.sqlite3",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": tmpdir,
            "TENANT_DB_PREFIX": PREFIX,
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- servers (admin side: accounts and clean-up) ---------------------------------------------


class MySQLServer:
    db_type = "mysql"

    def __init__(self, address: str) -> None:
        import pymysql

        host, port = address.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.admin = pymysql.connect(
            host=host, port=self.port, user="root", password="", autocommit=True
        )
        self.username = f"hgjpb_{RUN}"

    def sql(self, statement: str, params=None) -> list:
        with self.admin.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())

    def create_account(self) -> None:
        self.sql(f"CREATE USER '{self.username}'@'%%' IDENTIFIED BY %s", [PASSWORD])
        pattern = PREFIX.replace("_", "\\_") + "%"
        self.sql(f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO '{self.username}'@'%'")

    def databases(self) -> list[str]:
        return [r[0] for r in self.sql("SHOW DATABASES") if r[0].startswith(PREFIX)]

    def cleanup(self) -> None:
        for name in self.databases():
            self.sql(f"DROP DATABASE IF EXISTS `{name}`")
        self.sql(f"DROP USER IF EXISTS '{self.username}'@'%'")
        self.admin.close()

    def raw_provision(self, database: str, statements: list[str], verify: list[str]) -> None:
        """The floor: the same statements through PyMySQL as the tenant account."""
        import pymysql

        conn = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.username,
            password=PASSWORD,
            charset="utf8mb4",
            autocommit=True,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
                cur.execute(f"USE `{database}`")
                for statement in statements + verify:
                    cur.execute(statement)
        finally:
            conn.close()


class PostgresServer:
    db_type = "postgresql"

    def __init__(self, address: str) -> None:
        import psycopg

        host, port = address.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.admin = psycopg.connect(
            host=host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )
        self.username = f"hgjpb_{RUN}"

    def create_account(self) -> None:
        from psycopg import sql

        self.admin.execute(
            f"DO $$BEGIN CREATE ROLE {PG_PASSWORD_GROUP} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END$$"
        )
        self.admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {} IN ROLE {}").format(
                sql.Identifier(self.username),
                sql.Literal(PASSWORD),
                sql.Identifier(PG_PASSWORD_GROUP),
            )
        )

    def databases(self) -> list[str]:
        rows = self.admin.execute("SELECT datname FROM pg_database").fetchall()
        return [r[0] for r in rows if r[0].startswith(PREFIX)]

    def cleanup(self) -> None:
        from psycopg import sql

        for name in self.databases():
            self.admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.username)))
        self.admin.close()

    def raw_provision(self, database: str, statements: list[str], verify: list[str]) -> None:
        """The floor: the same statements through psycopg as the tenant account."""
        import psycopg

        params = {
            "host": self.host,
            "port": self.port,
            "user": self.username,
            "password": PASSWORD,
            "autocommit": True,
        }
        with psycopg.connect(dbname="postgres", **params) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        with psycopg.connect(dbname=database, **params) as conn:
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)
            for statement in verify:
                conn.execute(statement)


def version_table(db_type: str) -> str:
    if db_type == "mysql":
        return (
            "CREATE TABLE schema_version (version VARCHAR(32) NOT NULL PRIMARY KEY, "
            "checksum CHAR(64) NULL, name VARCHAR(200) NULL, execution_ms INT NULL, "
            "applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
        )
    return (
        "CREATE TABLE schema_version (version varchar(32) PRIMARY KEY, checksum char(64), "
        "name varchar(200), execution_ms integer, applied_at timestamptz NOT NULL DEFAULT now())"
    )


def verify_statements(db_type: str) -> list[str]:
    """What ``Connector.verify`` sends: create a table, write, read back, drop."""
    table = f"hgj_verify_{secrets.token_hex(4)}"
    create = (
        f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(32)) DEFAULT CHARSET=utf8mb4"
        if db_type == "mysql"
        else f"CREATE TABLE {table} (id integer PRIMARY KEY, note varchar(32))"
    )
    return [
        create,
        f"INSERT INTO {table} (id, note) VALUES (1, '验证')",
        f"SELECT note FROM {table} WHERE id = 1",
        f"DROP TABLE {table}",
    ]


# --- the runs --------------------------------------------------------------------------------


def bench_server(server, args: argparse.Namespace, devops) -> list[Timing]:
    from apps.customers.models import Customer
    from apps.datasources import services
    from apps.datasources.models import DataSource
    from apps.datasources.tenantdb import migrations

    # The same DDL, plus what the platform writes: its version table and a row per file.
    statements = [version_table(server.db_type)]
    for migration in migrations(server.db_type):
        statements += [sql for _f, _n, sql in migration.statements]
        statements.append(
            f"INSERT INTO schema_version (version, checksum, name, execution_ms) "
            f"VALUES ('{migration.version}', '{migration.checksum}', '{migration.name}', 1)"
        )
    data = {
        "host": server.host,
        "port": server.port,
        "db_type": server.db_type,
        "username": server.username,
        "password": PASSWORD,
        "max_connections": 2,
        "min_connections": 1,
        "remarks": "基准测试",
    }
    counter = Customer.objects.count()

    def new_customer() -> Customer:
        nonlocal counter
        counter += 1
        return Customer.objects.create(
            enterprise_no=f"PB{server.db_type[:2].upper()}{counter:06d}", name=f"基准{counter}"
        )

    check, configure, raw = (
        Timing("datasource_check (检测连接 only)"),
        Timing("datasource_configure (whole pipeline)"),
        Timing("raw driver: CREATE DATABASE + baseline + verify"),
    )
    # One untimed round of each first (imports, first connections, server caches).
    services.datasource_configure(actor=devops, customer=new_customer(), data=data)
    server.raw_provision(f"{PREFIX}raw_warm", statements, verify_statements(server.db_type))
    for i in range(args.runs):
        customer = new_customer()
        t0 = time.perf_counter()
        report = services.datasource_check(actor=devops, customer=customer, data=data)
        check.ms.append((time.perf_counter() - t0) * 1000)
        assert report.ok, report.summary()

        t0 = time.perf_counter()
        services.datasource_configure(actor=devops, customer=customer, data=data)
        configure.ms.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        server.raw_provision(f"{PREFIX}raw_{i}", statements, verify_statements(server.db_type))
        raw.ms.append((time.perf_counter() - t0) * 1000)
    assert DataSource.objects.filter(db_type=server.db_type).count() == args.runs + 1
    return [check, configure, raw]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-provisioning-bench-")
    servers = []
    try:
        setup_django(tmpdir)
        from django.contrib.auth.models import Group

        from apps.accounts.models import User

        devops = User.objects.create_user(username="devops", name="运维")
        devops.groups.add(Group.objects.get(name="devops"))
        results: dict[str, list[Timing]] = {}
        for db_type, address in (("mysql", args.mysql), ("postgresql", args.postgresql)):
            if args.only and args.only != db_type:
                continue
            server = MySQLServer(address) if db_type == "mysql" else PostgresServer(address)
            servers.append(server)
            server.create_account()
            results[db_type] = bench_server(server, args, devops)
            results[db_type].insert(0, Timing(f"server: {server_version(server)}"))
        report(args, results)
    finally:
        for server in servers:
            server.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)


def server_version(server) -> str:
    if server.db_type == "mysql":
        return server.sql("SELECT VERSION()")[0][0]
    return server.admin.execute("SHOW server_version").fetchone()[0]


def report(args: argparse.Namespace, results: dict[str, list[Timing]]) -> None:
    import django

    print(
        f"\nProvisioning benchmark · median of {args.runs} runs · control database SQLite "
        f"(temporary) · Django {django.get_version()} · Python {sys.version.split()[0]}"
    )
    header = (
        f"{'server':11} {'scenario':48} {'median ms':>9} {'min ms':>7} {'max ms':>7} {'× raw':>6}"
    )
    for db_type, timings in results.items():
        print(f"\n{db_type}: {timings[0].label}")
        print(header)
        print("-" * len(header))
        raw = timings[-1].median or 1
        for t in timings[1:]:
            print(
                f"{db_type:11} {t.label:48} {t.median:9.1f} {min(t.ms):7.1f} {max(t.ms):7.1f} "
                f"{t.median / raw:6.2f}"
            )


if __name__ == "__main__":
    main()
