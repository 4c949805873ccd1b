"""Real tenant servers for the tests that need one (the data-source app's tests, the
browser tests, the secret-leak test): the local MariaDB (root, no password) and PostgreSQL
(postgres, trust) create dedicated least-privilege accounts, and every database and account
a test run creates is removed again. Loaded for every test directory as a pytest plugin
(``pytest_plugins`` in the root conftest).

Each run uses its own TENANT_DB_PREFIX (``t<hex>_``), so runs against the three control
databases can share the servers. PostgreSQL must check passwords for members of the group
role ``hgj_password_auth`` (scripts/services.sh adds that pg_hba.conf rule).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import psycopg
import pymysql
import pytest
from psycopg import sql

RUN = secrets.token_hex(3)
PREFIX = f"t{RUN}_"
TENANT_PASSWORD = "Tenant#2026pw"
PG_PASSWORD_GROUP = "hgj_password_auth"


@dataclass
class Account:
    db_type: str
    username: str
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0

    def data(self, **overrides) -> dict:
        """Form input for a data source on this account."""
        values = {
            "host": self.host,
            "port": self.port,
            "db_type": self.db_type,
            "username": self.username,
            "password": self.password,
            "max_connections": 10,
            "min_connections": 2,
            "remarks": "测试数据源",
        }
        values.update(overrides)
        return values


class MySQLAdmin:
    db_type = "mysql"

    def __init__(self) -> None:
        self.conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", autocommit=True
        )

    def execute(self, statement: str, params=None) -> list:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())

    def databases(self) -> list[str]:
        rows = self.execute("SHOW DATABASES")
        return [r[0] for r in rows if r[0].startswith(PREFIX)]

    def database_exists(self, name: str) -> bool:
        return name in self.databases()

    def tables(self, database: str) -> list[str]:
        rows = self.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME",
            [database],
        )
        return [r[0] for r in rows]

    def create_database_with_table(self, name: str) -> None:
        self.execute(f"CREATE DATABASE `{name}`")
        self.execute(f"CREATE TABLE `{name}`.`legacy` (id INT PRIMARY KEY)")

    def run_in(self, database: str, statement: str) -> list:
        return self.execute(statement.replace("{db}", f"`{database}`"))

    def drop_run_databases(self) -> None:
        for name in self.databases():
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def close(self) -> None:
        self.conn.close()


class PgAdmin:
    db_type = "postgresql"

    def __init__(self) -> None:
        self.conn = psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
        )

    def execute(self, statement, params=None) -> list:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []

    def databases(self) -> list[str]:
        rows = self.execute("SELECT datname FROM pg_database ORDER BY 1")
        return [r[0] for r in rows if r[0].startswith(PREFIX)]

    def database_exists(self, name: str) -> bool:
        return name in self.databases()

    def _in(self, database: str):
        return psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname=database, autocommit=True
        )

    def tables(self, database: str) -> list[str]:
        with self._in(database) as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    def create_database_with_table(self, name: str) -> None:
        self.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with self._in(name) as conn:
            conn.execute("CREATE TABLE legacy (id int PRIMARY KEY)")

    def run_in(self, database: str, statement: str) -> list:
        with self._in(database) as conn:
            cur = conn.execute(statement.replace("{db}.", ""))
            return list(cur.fetchall()) if cur.description else []

    def drop_run_databases(self) -> None:
        for name in self.databases():
            self.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def mysql_admin():
    admin = MySQLAdmin()
    yield admin
    admin.drop_run_databases()
    admin.close()


@pytest.fixture(scope="session")
def pg_admin():
    admin = PgAdmin()
    admin.execute(
        f"DO $$BEGIN CREATE ROLE {PG_PASSWORD_GROUP} NOLOGIN; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END$$"
    )
    yield admin
    admin.drop_run_databases()
    admin.close()


def _mysql_user(admin: MySQLAdmin, name: str, grant: str) -> Account:
    admin.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", [TENANT_PASSWORD])
    admin.execute(grant.format(user=f"'{name}'@'%'"))
    return Account("mysql", name, TENANT_PASSWORD, port=3306)


def _pg_role(admin: PgAdmin, name: str, attributes: str) -> Account:
    admin.execute(
        sql.SQL("CREATE ROLE {} " + attributes + " PASSWORD {} IN ROLE {}").format(
            sql.Identifier(name), sql.Literal(TENANT_PASSWORD), sql.Identifier(PG_PASSWORD_GROUP)
        )
    )
    return Account("postgresql", name, TENANT_PASSWORD, port=5432)


@pytest.fixture(scope="session")
def mysql_account(mysql_admin):
    """Least privilege: everything on databases named <prefix>…, nothing else."""
    name = f"hgjt_{RUN}"
    pattern = PREFIX.replace("_", "\\_") + "%"
    account = _mysql_user(mysql_admin, name, f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO {{user}}")
    yield account
    mysql_admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture(scope="session")
def mysql_readonly_account(mysql_admin):
    """May create and drop databases and tables on the prefix, but not write rows."""
    name = f"hgjr_{RUN}"
    pattern = PREFIX.replace("_", "\\_") + "%"
    account = _mysql_user(
        mysql_admin, name, f"GRANT CREATE, DROP, SELECT ON `{pattern}`.* TO {{user}}"
    )
    yield account
    mysql_admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture(scope="session")
def mysql_global_account(mysql_admin):
    name = f"hgjg_{RUN}"
    account = _mysql_user(mysql_admin, name, "GRANT ALL PRIVILEGES ON *.* TO {user}")
    yield account
    mysql_admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture(scope="session")
def pg_account(pg_admin):
    """Least privilege: LOGIN CREATEDB with a password, nothing else."""
    name = f"hgjt_{RUN}"
    account = _pg_role(pg_admin, name, "LOGIN CREATEDB")
    try:
        psycopg.connect(
            host="127.0.0.1",
            port=5432,
            user=name,
            password="Wrong#Pass1",
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.OperationalError:
        pass
    else:
        pytest.fail(
            "PostgreSQL accepted a wrong password: run scripts/services.sh, which makes it "
            f"check passwords for members of {PG_PASSWORD_GROUP}"
        )
    yield account
    pg_admin.drop_run_databases()
    pg_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_super_account(pg_admin):
    name = f"hgjg_{RUN}"
    account = _pg_role(pg_admin, name, "LOGIN SUPERUSER")
    yield account
    pg_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def mysql_second_account(mysql_admin):
    """Another least-privilege account on the same server: the target of a relocation
    (a stand-in for a second server)."""
    name = f"hgjs_{RUN}"
    pattern = PREFIX.replace("_", "\\_") + "%"
    account = _mysql_user(mysql_admin, name, f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO {{user}}")
    yield account
    mysql_admin.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture(scope="session")
def pg_second_account(pg_admin):
    name = f"hgjs_{RUN}"
    account = _pg_role(pg_admin, name, "LOGIN CREATEDB")
    yield account
    pg_admin.drop_run_databases()
    pg_admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def second_account(db_type, request):
    """The parametrised type's second account (see ``tenant``)."""
    name = "mysql_second_account" if db_type == "mysql" else "pg_second_account"
    return request.getfixturevalue(name)


@pytest.fixture(params=["mysql", "postgresql"])
def db_type(request) -> str:
    return request.param


@pytest.fixture
def tenant(db_type, request):
    """(account, admin) of the parametrised database type; databases the test creates are
    dropped afterwards."""
    if db_type == "mysql":
        account = request.getfixturevalue("mysql_account")
        admin = request.getfixturevalue("mysql_admin")
    else:
        account = request.getfixturevalue("pg_account")
        admin = request.getfixturevalue("pg_admin")
    yield account, admin
    admin.drop_run_databases()


@pytest.fixture
def tenant_settings(settings):
    """This run's database-name prefix and short timeouts (autouse in the data-source
    app's tests; request it elsewhere)."""
    settings.TENANT_DB_PREFIX = PREFIX
    settings.TENANT_CONNECT_TIMEOUT = 3
    settings.TENANT_QUERY_TIMEOUT = 20
    return settings


# --- A real worker --------------------------------------------------------------------------


@pytest.fixture
def idle_worker(transactional_db, tmp_path):
    """A real Celery worker process sharing this test's control database and tenant
    servers, not yet started (``idle_worker.start()``; set ``idle_worker.env`` first if
    need be); this process publishes to its queue for the test. One per test: the flush
    between transactional tests renumbers the content types a longer-lived worker would
    still hold in its cache."""
    from tests.servers import Worker, control_database_url, sending_to

    root = tmp_path / "worker"
    root.mkdir()
    worker = Worker(
        root,
        database_url=control_database_url(),
        env={"TENANT_DB_PREFIX": PREFIX, "TENANT_CONNECT_TIMEOUT": "3"},
        start=False,
    )
    try:
        with sending_to(worker):
            yield worker
    finally:
        worker.stop()


@pytest.fixture
def worker(idle_worker):
    """The same worker, started."""
    idle_worker.start()
    return idle_worker
