"""检测连接 and the configure pipeline against the real MariaDB and PostgreSQL servers."""

import socket
import threading
import time

import pytest
from django.db import connection

from apps.audit.models import AuditLog
from apps.core.errors import Conflict
from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.models import DataSource, ProvisioningRun
from apps.datasources.services import (
    ProvisioningFailed,
    datasource_check,
    datasource_configure,
    names_for,
    peek_names,
)
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(ops):
    return make_customer(actor=ops, complete=True)


def configure(actor, customer, account, **overrides) -> DataSource:
    return datasource_configure(actor=actor, customer=customer, data=account.data(**overrides))


def refused(actor, customer, account, **overrides) -> ProvisioningFailed:
    with pytest.raises(ProvisioningFailed) as exc:
        configure(actor, customer, account, **overrides)
    return exc.value


def assert_nothing_left(admin, customer, error: ProvisioningFailed) -> None:
    """No data source saved, the run recorded as failed, and no database left behind."""
    assert not DataSource.objects.filter(customer=customer).exists()
    run = error.run
    run.refresh_from_db()
    assert run.status == ProvisioningRun.Status.FAILED and run.datasource is None
    assert run.message == error.message and run.failed_step == error.step
    assert not admin.database_exists(run.database)
    row = AuditLog.objects.filter(action="datasource_configure_failed").latest("id")
    assert run.name in row.message


# --- success ------------------------------------------------------------------------------


def test_configure_creates_database_and_baseline(tenant, devops, customer):
    account, admin = tenant
    ds = configure(devops, customer, account)

    assert ds.customer == customer and ds.db_type == account.db_type
    assert ds.name == f"DS-{customer.enterprise_no}-1"
    assert ds.database == names_for(customer, 1)[1]
    assert ds.impl_status == DataSource.ImplStatus.NOT_STARTED
    assert ds.database_created and ds.configured_by == devops and ds.configured_at
    assert ds.server_version.startswith("MariaDB" if account.db_type == "mysql" else "PostgreSQL")
    assert ds.password_encrypted and account.password not in ds.password_encrypted
    assert ds.get_password() == account.password

    assert admin.database_exists(ds.database)
    assert admin.tables(ds.database) == ["communities", "schema_version"]  # no verify table
    if account.db_type == "mysql":
        charset = admin.execute(
            "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = %s",
            [ds.database],
        )[0][0]
        assert charset == "utf8mb4"
    versions = admin.run_in(
        ds.database, "SELECT version, checksum, name FROM {db}.schema_version ORDER BY 1"
    )
    files = tenantdb.migrations(account.db_type)
    assert [tuple(v) for v in versions] == [(m.version, m.checksum, m.name) for m in files]
    assert [m.name for m in files] == ["schema_version", "communities"]

    run = ProvisioningRun.objects.get(customer=customer)
    assert run.status == ProvisioningRun.Status.SUCCEEDED and run.datasource == ds
    assert [s["code"] for s in run.steps] == [
        "check",
        "create_database",
        "apply_schema",
        "verify",
        "save",
    ]
    assert all(s["status"] == "ok" and s["message"] for s in run.steps)
    assert run.steps[2]["message"].startswith("已执行 2 个迁移文件、")
    assert run.steps[2]["message"].endswith("表结构版本 0002") and run.steps[2]["version"] == "0002"

    row = AuditLog.objects.get(action="datasource_configure")
    assert row.object_id == str(ds.pk) and row.actor == devops
    assert row.changes["password_encrypted"] == [None, "******"]
    assert row.changes["database"] == [None, ds.database]


def test_configure_without_baseline(tenant, devops, customer, settings):
    account, admin = tenant
    settings.TENANT_BASELINE_DIR = ""
    ds = configure(devops, customer, account)
    assert admin.database_exists(ds.database) and admin.tables(ds.database) == []
    step = ProvisioningRun.objects.get(customer=customer).steps[2]
    assert step["status"] == "skipped" and step["message"] == "未配置基线表结构"


def test_check_reports_findings_and_changes_nothing(tenant, devops, customer):
    account, admin = tenant
    report = datasource_check(actor=devops, customer=customer, data=account.data())
    assert report.ok, report.summary()
    codes = [f.code for f in report.findings]
    assert codes == [
        "reachable",
        "version",
        "charset",
        "privileges",
        "database_privileges",
        "database",
        "connection_budget",
    ]
    assert all(f.level == "ok" for f in report.findings)
    assert report.database == peek_names(customer)[1] and report.database_exists is False
    assert report.server_max_connections > 10 and report.elapsed_ms < 3000
    assert "尚不存在，保存时创建" in report.findings[5].message
    assert not admin.databases()
    assert not DataSource.objects.exists() and not ProvisioningRun.objects.exists()
    row = AuditLog.objects.get(action="datasource_check")
    assert row.object_id == str(customer.pk) and "检测通过" in row.message
    assert account.password not in row.message
    # Checking allocates no name: the configure that follows gets number 1.
    assert configure(devops, customer, account).name.endswith("-1")


# --- refusals -------------------------------------------------------------------------------


def test_wrong_password_refused_in_chinese(tenant, devops, customer):
    account, admin = tenant
    wrong = "Wrong#Pass2026"
    error = refused(devops, customer, account, password=wrong)
    assert error.step == "check" and error.status == 422
    assert "第 1 步「检测连接」失败" in error.message
    assert "账号或密码错误" in error.message and "未保存任何配置" in error.message
    assert wrong not in error.message and account.password not in error.message
    assert set(error.fields) == {"username", "password"}
    assert_nothing_left(admin, customer, error)


def test_unreachable_port_fails_within_the_timeout(tenant, devops, customer, settings):
    account, admin = tenant
    settings.TENANT_CONNECT_TIMEOUT = 2
    started = time.monotonic()
    error = refused(devops, customer, account, port=1)
    assert time.monotonic() - started < 3
    assert "连接被拒绝" in error.message and "127.0.0.1:1" in error.message
    assert set(error.fields) == {"host", "port"}
    assert_nothing_left(admin, customer, error)


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a firewall black hole, or
    another service waiting for its client to speak first)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_silent_server_fails_within_the_timeout(tenant, devops, customer, settings, silent_port):
    account, admin = tenant
    settings.TENANT_CONNECT_TIMEOUT = 2
    started = time.monotonic()
    error = refused(devops, customer, account, port=silent_port)
    assert time.monotonic() - started < 3
    assert "超时：2 秒内没有完成连接" in error.message
    assert_nothing_left(admin, customer, error)


def test_wrong_database_type_is_named(mysql_admin, devops, customer, mysql_account):
    error = refused(devops, customer, mysql_account, db_type="postgresql")
    assert "127.0.0.1:3306 不是 PostgreSQL 服务" in error.message
    assert_nothing_left(mysql_admin, customer, error)


def test_account_with_global_privileges_refused(
    mysql_admin, devops, customer, mysql_global_account
):
    error = refused(devops, customer, mysql_global_account)
    assert "账号拥有全局权限（ON *.*：ALL PRIVILEGES），含 SUPER" in error.message
    assert error.fields["username"]
    assert_nothing_left(mysql_admin, customer, error)


def test_superuser_role_refused(pg_admin, devops, customer, pg_super_account):
    error = refused(devops, customer, pg_super_account)
    assert "账号是超级用户（SUPERUSER）" in error.message
    assert_nothing_left(pg_admin, customer, error)


def test_exhausted_connection_budget_refused(tenant, devops, ops, customer):
    account, admin = tenant
    report = datasource_check(actor=devops, customer=customer, data=account.data())
    budget = report.server_max_connections
    other = make_customer(actor=ops)
    make_datasource(other, host="127.0.0.1", port=account.port, max_connections=budget - 5)
    error = refused(devops, customer, account, max_connections=10, min_connections=1)
    assert "连接数超出预算" in error.message
    assert f"已配置的连接池上限合计 {budget - 5}" in error.message
    assert f"加上本数据源 10 共 {budget + 5}" in error.message
    assert "max_connections" in error.fields
    assert_nothing_left(admin, customer, error)
    # Within the budget it goes through.
    ds = configure(devops, customer, account, max_connections=5, min_connections=1)
    assert ds.max_connections == 5


def test_existing_database_with_tables_refused_and_kept(tenant, devops, customer):
    account, admin = tenant
    _name, database = peek_names(customer)
    admin.create_database_with_table(database)
    error = refused(devops, customer, account)
    assert f"数据库 {database} 已存在且有 1 张表" in error.message
    assert not DataSource.objects.filter(customer=customer).exists()
    # Not ours: left exactly as it was.
    assert admin.database_exists(database) and admin.tables(database) == ["legacy"]


def test_existing_empty_database_is_used_and_not_marked_as_ours(tenant, devops, customer):
    account, admin = tenant
    _name, database = peek_names(customer)
    admin.create_database_with_table(database)
    admin.run_in(database, "DROP TABLE {db}.legacy")
    if account.db_type == "postgresql":
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{account.username}"')
    ds = configure(devops, customer, account)
    assert ds.database == database and not ds.database_created
    assert admin.tables(database) == ["communities", "schema_version"]
    steps = ProvisioningRun.objects.get(customer=customer).steps
    assert steps[1]["status"] == "skipped" and "已存在且为空" in steps[1]["message"]


def test_second_configure_on_the_same_customer_refused(tenant, devops, customer):
    account, admin = tenant
    ds = configure(devops, customer, account)
    with pytest.raises(Conflict) as exc:
        configure(devops, customer, account)
    assert exc.value.status == 409 and exc.value.code == "datasource_exists"
    assert ds.name in exc.value.message
    assert admin.databases() == [ds.database]
    assert ProvisioningRun.objects.count() == 1


@pytest.fixture
def broken_baseline(tmp_path, settings, db_type):
    """A baseline whose second file fails half-way, after the first created a table."""
    folder = tmp_path / "baseline" / db_type
    folder.mkdir(parents=True)
    (folder / "0001_ok.sql").write_text("CREATE TABLE first_table (id int PRIMARY KEY);\n")
    (folder / "0002_broken.sql").write_text(
        "CREATE TABLE second_table (id int PRIMARY KEY);\nTHIS IS NOT SQL;\n"
    )
    settings.TENANT_BASELINE_DIR = str(tmp_path / "baseline")
    return folder


def test_failed_baseline_removes_the_created_database_and_retry_works(
    tenant, devops, customer, broken_baseline, settings
):
    account, admin = tenant
    error = refused(devops, customer, account)
    assert error.step == "apply_schema"
    assert "第 3 步「初始化表结构」失败" in error.message
    assert "执行 0002_broken.sql 第 2 条语句失败" in error.message
    assert "已删除本次创建的数据库" in error.message
    assert_nothing_left(admin, customer, error)
    steps = {s["code"]: s for s in error.run.steps}
    assert steps["create_database"]["status"] == "ok"
    assert steps["apply_schema"]["status"] == "failed"
    assert steps["cleanup"]["status"] == "ok"
    assert "verify" not in steps and "save" not in steps

    # Fix the baseline and try again: a fresh name, a working data source.
    (broken_baseline / "0002_broken.sql").write_text("CREATE TABLE second_table (id int);\n")
    ds = configure(devops, customer, account)
    assert ds.name == f"DS-{customer.enterprise_no}-2"
    assert admin.databases() == [ds.database]
    assert admin.tables(ds.database) == ["first_table", "schema_version", "second_table"]
    assert list(
        ProvisioningRun.objects.filter(customer=customer)
        .order_by("id")
        .values_list("status", flat=True)
    ) == ["failed", "succeeded"]


def test_failed_baseline_on_an_existing_empty_database_removes_only_new_tables(
    tenant, devops, customer, broken_baseline
):
    account, admin = tenant
    _name, database = peek_names(customer)
    admin.create_database_with_table(database)
    admin.run_in(database, "DROP TABLE {db}.legacy")
    if account.db_type == "postgresql":
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{account.username}"')
    error = refused(devops, customer, account)
    assert error.step == "apply_schema"
    assert admin.database_exists(database)  # not ours: kept
    assert admin.tables(database) == []  # but what this run created is gone
    assert not DataSource.objects.filter(customer=customer).exists()


def test_account_without_rights_on_the_database_is_refused_by_the_check(
    mysql_admin, devops, customer, mysql_account, settings
):
    """Outside the account's grant pattern: 检测连接 says so, with the grant to ask for,
    before anything is created."""
    settings.TENANT_DB_PREFIX = "zz" + settings.TENANT_DB_PREFIX
    _name, database = peek_names(customer)
    report = tenantdb.preflight(
        mysql_account.host, mysql_account.port, "mysql", mysql_account.username,
        mysql_account.password, database, 5,
    )  # fmt: skip
    finding = next(f for f in report.findings if f.code == "database_privileges")
    assert finding.level == "error" and not report.ok
    assert f"账号在数据库 {database} 上缺少 CREATE、DROP" in finding.message
    assert (
        f"GRANT ALL PRIVILEGES ON `{settings.TENANT_DB_PREFIX.replace('_', chr(92) + '_')}%`"
        in (finding.message)
    )
    error = refused(devops, customer, mysql_account)
    assert error.step == "check" and "缺少 CREATE" in error.message
    assert_nothing_left(mysql_admin, customer, error)


def test_account_inside_its_pattern_passes_the_privilege_check(mysql_account, customer):
    _name, database = peek_names(customer)
    report = tenantdb.preflight(
        mysql_account.host, mysql_account.port, "mysql", mysql_account.username,
        mysql_account.password, database, 5,
    )  # fmt: skip
    finding = next(f for f in report.findings if f.code == "database_privileges")
    assert finding.level == "ok" and report.ok, report.findings


def test_account_that_cannot_write_is_refused_by_the_check(
    mysql_admin, devops, customer, mysql_readonly_account, settings
):
    settings.TENANT_BASELINE_DIR = ""
    error = refused(devops, customer, mysql_readonly_account)
    assert error.step == "check"
    assert "缺少 ALTER、INDEX、INSERT、UPDATE、DELETE 权限" in error.message
    assert_nothing_left(mysql_admin, customer, error)


def test_grant_patterns_follow_mysql_wildcards():
    match = tenantdb.mysql_pattern_matches
    assert match("hgj%", "hgj100001_1") and match("hgj\\_%", "hgj_100001_1")
    assert not match("hgj\\_%", "hgj100001_1")  # the old README example missed our names
    assert match("hgj_00001_1", "hgj100001_1") and not match("hgj_", "hgj12")
    assert match("%", "anything") and not match("hgj1", "hgj10")


def test_privileges_on_a_database_come_from_matching_grants_only():
    lines = [
        "GRANT USAGE ON *.* TO `app`@`%`",
        "GRANT SELECT, INSERT ON `hgj%`.* TO `app`@`%`",
        "GRANT ALL PRIVILEGES ON `other`.* TO `app`@`%`",
        "GRANT ALL PRIVILEGES ON `hgj100001_1`.`t` TO `app`@`%`",
        "GRANT EXECUTE ON PROCEDURE `hgj100001_1`.`p` TO `app`@`%`",
    ]
    [(code, level, message)] = tenantdb.mysql_database_findings(lines, "hgj100001_1", "app", "hgj%")
    assert (code, level) == ("database_privileges", "error")
    assert "缺少 CREATE、DROP、ALTER、INDEX、UPDATE、DELETE 权限" in message
    lines.append("GRANT ALL ON `hgj1%`.* TO `app`@`%`")
    assert tenantdb.mysql_database_findings(lines, "hgj100001_1", "app", "hgj%")[0][1] == "ok"
    unreadable = [*lines[:2], "-- ROLE-UNREADABLE tenant_role"]
    assert tenantdb.mysql_database_findings(unreadable, "hgj100001_1", "app", "hgj%")[0][1] == (
        "warn"
    )


def test_pg_account_without_createdb_refused_by_the_check(pg_admin, devops, customer, pg_account):
    pg_admin.execute(f'ALTER ROLE "{pg_account.username}" NOCREATEDB')
    try:
        error = refused(devops, customer, pg_account)
    finally:
        pg_admin.execute(f'ALTER ROLE "{pg_account.username}" CREATEDB')
    assert "账号需要 CREATEDB 权限才能创建它" in error.message
    assert_nothing_left(pg_admin, customer, error)


@pytest.mark.django_db(transaction=True)
def test_concurrent_configures_of_one_customer_save_one(tenant, devops, ops):
    """Two devops press 保存 at the same moment: one data source is saved; the other gets
    409 and leaves no database behind (whether it lost before or after provisioning)."""
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    barrier = threading.Barrier(2)
    results: list = []

    def attempt():
        try:
            barrier.wait()
            results.append(configure(devops, customer, account))
        except Exception as exc:  # collected and checked below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = [r for r in results if isinstance(r, DataSource)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(saved) == 1 and len(conflicts) == 1, results
    assert DataSource.objects.filter(customer=customer).count() == 1
    assert admin.databases() == [saved[0].database]
    assert AuditLog.objects.filter(action="datasource_configure").count() == 1
    # The loser either stopped before provisioning (no run) or provisioned, found the
    # other one saved, and removed its own database.
    for run in ProvisioningRun.objects.filter(status="failed"):
        assert run.failed_step == "save"
        assert run.steps[-1]["code"] == "cleanup" and run.steps[-1]["status"] == "ok"


def test_split_sql_handles_quotes_comments_and_dollar_bodies():
    script = """
    -- comment; not a statement
    CREATE TABLE a (note varchar(10) DEFAULT 'x;y', `b;c` int); /* block; comment */
    INSERT INTO a VALUES ('it''s; fine');
    CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
    """
    assert tenantdb.split_sql(script) == [
        "CREATE TABLE a (note varchar(10) DEFAULT 'x;y', `b;c` int)",
        "INSERT INTO a VALUES ('it''s; fine')",
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
    ]


def test_grant_parsing_rules():
    ok = tenantdb.mysql_grant_findings(
        [
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABC'",
            "GRANT ALL PRIVILEGES ON `hgj\\_%`.* TO `app`@`%`",
        ]
    )
    assert [f[0] for f in ok] == ["privileges"]
    codes = {
        f[0]: f[1]
        for f in tenantdb.mysql_grant_findings(
            [
                "GRANT SELECT, SUPER ON *.* TO `app`@`%`",
                "GRANT ALL PRIVILEGES ON `hgj1`.* TO `app`@`%` WITH GRANT OPTION",
                "GRANT SELECT ON `mysql`.* TO `app`@`%`",
                "GRANT PROXY ON ''@'%' TO `app`@`%`",
            ]
        )
    }
    assert codes == {
        "global_privileges": "error",
        "grant_option": "error",
        "system_schema": "error",
        "proxy": "warn",
    }


def test_pg_role_rules():
    def role(name, is_self=False, **flags):
        base = dict.fromkeys(("super", "createrole", "createdb", "replication", "bypassrls"), False)
        return {**base, **flags, "name": name, "is_self": is_self, "connlimit": -1}

    me = role("app", True, createdb=True)
    assert [f[0] for f in tenantdb.pg_role_findings([me])] == ["privileges"]
    found = tenantdb.pg_role_findings(
        [me, role("boss", super=True), role("pg_read_all_data"), role("x", bypassrls=True)]
    )
    assert [(f[0], f[1]) for f in found] == [
        ("superuser", "error"),
        ("predefined_roles", "error"),
        ("bypassrls", "warn"),
    ]
    assert tenantdb.pg_role_findings([role("app", True, super=True)])[0][0] == "superuser"


def test_readme_grant_example_covers_the_generated_names(settings):
    """The grant a DBA copies from the README must cover the names the platform generates."""
    import re
    from pathlib import Path

    from django.conf import settings as django_settings

    from apps.customers.models import Customer
    from apps.datasources.services import names_for

    settings.TENANT_DB_PREFIX = "hgj"
    settings.ENTERPRISE_NO_PREFIX = "HGJ"
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    patterns = re.findall(r"GRANT ALL PRIVILEGES ON `([^`]+)`\.\* TO 'tenant'", readme)
    assert patterns, "the README shows the grant"
    for n in (1, 12):
        database = names_for(Customer(enterprise_no="HGJ100001"), n)[1]
        assert database == f"hgj100001_{n}"
        assert all(tenantdb.mysql_pattern_matches(p, database) for p in patterns)
