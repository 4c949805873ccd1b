"""迁移数据源 between real database servers — another database and account on the same
MariaDB / PostgreSQL server stand in for a second server — with ten tables and 100 000
rows: the data identical after the move, the registry switched in one step, the old
database untouched and kept; a failure injected mid-copy leaves the tenant on its old
database, the registry unchanged and nothing left on the target."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, bearer
from apps.audit.models import AuditLog
from apps.core.errors import Conflict, ValidationFailed
from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.clearing import clearing_request
from apps.datasources.models import DataSource, Relocation, RetiredDataSource
from apps.datasources.relocation import relocation_request, retired_remove, run_relocation
from apps.datasources.services import datasource_configure
from apps.datasources.tenantdb.copying import copier_for
from apps.datasources.tests.test_clearing import tenant_sql
from tests.tenant_fixtures import PREFIX

pytestmark = pytest.mark.django_db

ESTATE = """
CREATE TABLE owners (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, phone VARCHAR(20));
CREATE TABLE buildings (id BIGINT PRIMARY KEY, community_id BIGINT NOT NULL,
  name VARCHAR(50) NOT NULL, FOREIGN KEY (community_id) REFERENCES communities (id));
CREATE TABLE houses (id BIGINT PRIMARY KEY, building_id BIGINT NOT NULL,
  owner_id BIGINT, area DECIMAL(8, 2) NOT NULL,
  FOREIGN KEY (building_id) REFERENCES buildings (id),
  FOREIGN KEY (owner_id) REFERENCES owners (id));
CREATE TABLE bills (id BIGINT PRIMARY KEY, house_id BIGINT NOT NULL,
  amount DECIMAL(12, 2) NOT NULL, due DATE NOT NULL, note VARCHAR(100),
  FOREIGN KEY (house_id) REFERENCES houses (id));
CREATE TABLE payments (id BIGINT PRIMARY KEY, bill_id BIGINT NOT NULL,
  paid_at TIMESTAMP NULL, amount DECIMAL(12, 2) NOT NULL,
  FOREIGN KEY (bill_id) REFERENCES bills (id));
CREATE TABLE repairs (id BIGINT PRIMARY KEY, house_id BIGINT NOT NULL,
  body VARCHAR(200) NOT NULL, FOREIGN KEY (house_id) REFERENCES houses (id));
CREATE TABLE meters (id BIGINT PRIMARY KEY, house_id BIGINT NOT NULL, reading BIGINT NOT NULL,
  FOREIGN KEY (house_id) REFERENCES houses (id));
CREATE TABLE notices (id BIGINT PRIMARY KEY, title VARCHAR(100) NOT NULL, body TEXT);
"""

# rows per table: 100 000 in all (with the two communities)
ROWS = {
    "owners": 5000,
    "buildings": 100,
    "houses": 10000,
    "bills": 40000,
    "payments": 30000,
    "repairs": 8000,
    "meters": 5000,
    "notices": 1898,
}


def fill(ds: DataSource) -> None:
    if ds.db_type == "mysql":
        seq = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) "
        src = "FROM s"
    else:
        seq = ""
        src = "FROM generate_series(1, {n}) AS s(n)"

    def insert(table: str, columns: str, values: str) -> str:
        n = ROWS[table]
        return (
            f"INSERT INTO {table} ({columns}) "
            + seq.format(n=n)
            + f"SELECT {values} "
            + src.format(n=n)
        )

    due = (
        "DATE_ADD(DATE '2026-01-01', INTERVAL n % 300 DAY)"
        if ds.db_type == "mysql"
        else "DATE '2026-01-01' + (n % 300)"
    )
    setup = ["SET SESSION max_recursive_iterations = 1000000"] if ds.db_type == "mysql" else []
    tenant_sql(
        ds,
        *setup,
        "INSERT INTO communities (id, name, online)"
        " VALUES (1, '阳光花园', TRUE), (2, '翠湖', FALSE)",
        insert("owners", "id, name, phone", "n, CONCAT('业主', n), CONCAT('138', n)"),
        insert("buildings", "id, community_id, name", "n, 1 + n % 2, CONCAT(n, '号楼')"),
        insert(
            "houses", "id, building_id, owner_id, area", "n, 1 + n % 100, 1 + n % 5000, 50 + n % 97"
        ),
        insert(
            "bills",
            "id, house_id, amount, due, note",
            f"n, 1 + n % 10000, n * 1.25, {due}, "
            "CASE WHEN n % 7 = 0 THEN NULL ELSE CONCAT('物业费 😀 ', n) END",
        ),
        insert(
            "payments",
            "id, bill_id, paid_at, amount",
            "n, n, CASE WHEN n % 3 = 0 THEN NULL"
            " ELSE TIMESTAMP '2026-02-01 08:00:00' END, n * 1.25",
        ),
        insert("repairs", "id, house_id, body", "n, 1 + n % 10000, CONCAT('漏水 ', n)"),
        insert("meters", "id, house_id, reading", "n, 1 + n % 10000, n * 1000"),
        insert("notices", "id, title, body", "n, CONCAT('通知', n), REPEAT('长文', 50)"),
    )


@pytest.fixture
def baseline(tmp_path, settings):
    root = tmp_path / "baseline"
    shutil.copytree(Path(django_settings.BASE_DIR) / "apps" / "datasources" / "baseline", root)
    for db_type in ("mysql", "postgresql"):
        (root / db_type / "0003_estate.sql").write_text(ESTATE)
    settings.TENANT_BASELINE_DIR = str(root)
    return root


@pytest.fixture
def source(tenant, baseline, devops, ops):
    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True, name="绿城物业")
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    fill(ds)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=DataSource.ImplStatus.ONLINE)
    ds.refresh_from_db()
    return ds


@pytest.fixture
def registry(client):
    registry_auth.clear_cache()
    raw = make_token(make_staff("bizsys", None, name="业务系统"), scopes=(ApiToken.SCOPE_REGISTRY,))

    def read(no: str) -> tuple[dict, str]:
        response = client.get(f"{API}/registry/tenants/{no}", **bearer(raw))
        assert response.status_code == 200
        return response.json(), response["ETag"]

    yield read
    registry_auth.clear_cache()


def fingerprint(ds) -> dict[str, tuple[int, str]]:
    target = tenantdb.Target(
        ds.db_type, ds.host, ds.port, ds.username, ds.get_password(), ds.database
    )
    with tenantdb.connector_for(target) as c:
        copier = copier_for(c)
        return {t.label: copier.checksum(ds.database, t) for t in copier.plan(ds.database)}


def test_relocation_copies_verifies_and_switches(
    source, second_account, devops, registry, client_for, caplog
):
    before = fingerprint(source)
    assert sum(n for n, _d in before.values()) == 100_000 and len(before) == 9
    no = source.customer.enterprise_no
    answer, etag = registry(no)
    assert answer["datasource"]["database"] == source.database

    relocation = relocation_request(
        actor=devops, datasource=source, data=second_account.data(max_connections=5)
    )
    assert relocation.status == "queued" and relocation.name.endswith("-2")
    assert second_account.password not in str(relocation.__dict__.get("secret_encrypted"))
    relocation = run_relocation(relocation.pk)
    assert relocation.status == "succeeded", relocation.message
    assert [s["code"] for s in relocation.steps] == [
        "check", "create_database", "apply_schema", "copy", "compare", "switch", "read_only",
    ]  # fmt: skip
    assert relocation.copied_rows == 100_000 and relocation.percent == 100
    assert relocation.secret_encrypted == ""

    new = DataSource.objects.get(customer=source.customer)
    assert (new.name, new.database, new.username) == (
        relocation.name,
        relocation.database,
        second_account.username,
    )
    assert new.generation == 2 and new.impl_status == DataSource.ImplStatus.ONLINE
    assert new.schema.version == "0003"
    assert fingerprint(new) == before  # identical data
    answer, new_etag = registry(no)
    assert answer["datasource"]["database"] == new.database
    assert answer["datasource"]["username"] == second_account.username
    assert answer["datasource"]["password"] == second_account.password
    assert new_etag != etag

    retired = RetiredDataSource.objects.get(customer=source.customer)
    assert (retired.name, retired.generation, retired.replaced_by) == (source.name, 1, new)
    assert fingerprint(source) == before  # the old database is kept, untouched
    assert retired.read_only == (source.db_type == "postgresql")
    moved = AuditLog.objects.get(action="datasource_relocated")
    assert source.name in moved.message and new.name in moved.message
    # The target's password: in the registry's answer, nowhere else.
    panel = client_for(devops).get(f"/customers/{source.customer_id}/datasource/")
    assert panel.status_code == 200 and new.name in panel.content.decode()
    for text in (
        panel.content.decode(),
        caplog.text,
        *(f"{r.message} {r.changes}" for r in AuditLog.objects.all()),
    ):
        assert second_account.password not in text

    # The old database goes only after the name is typed, and only if not written since.
    with pytest.raises(ValidationFailed):
        retired_remove(actor=devops, retired=retired, confirm_name=new.name)
    if source.db_type == "mysql":
        tenant_sql(source, "INSERT INTO notices (id, title) VALUES (999999, '迟到的写入')")
        with pytest.raises(Conflict) as exc:
            retired_remove(actor=devops, retired=retired, confirm_name=source.name)
        assert "旧库在切换后有写入" in exc.value.message and "notices" in exc.value.message
        tenant_sql(source, "DELETE FROM notices WHERE id = 999999")
    retired = retired_remove(actor=devops, retired=retired, confirm_name=source.name)
    assert retired.removed_at and retired.password_encrypted == ""
    with tenantdb.connector_for(tenantdb.Target.of(new)) as c:
        assert c.database_state(source.database)[0] is False  # dropped


def test_a_failure_mid_copy_leaves_the_tenant_on_its_database(
    source, second_account, devops, registry, monkeypatch
):
    before = fingerprint(source)
    no = source.customer.enterprise_no
    answer, etag = registry(no)
    calls = {"n": 0}
    if source.db_type == "mysql":
        import pymysql

        original = pymysql.cursors.Cursor.executemany

        def flaky(self, query, args):
            # Only the copy's writes (on a MariaDB control database Django's own statements
            # go through PyMySQL too); pymysql.OperationalError is the class the driver
            # raises (pymysql.err is replaced when PyMySQL stands in for MySQLdb).
            if query.startswith(f"INSERT INTO `{PREFIX}"):
                calls["n"] += 1
                if calls["n"] == 8:
                    raise pymysql.OperationalError(2013, "Lost connection to server during query")
            return original(self, query, args)

        monkeypatch.setattr(pymysql.cursors.Cursor, "executemany", flaky)
    else:
        import psycopg

        original = psycopg.Copy.write

        def flaky(self, buffer):
            calls["n"] += 1
            if calls["n"] == 8:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return original(self, buffer)

        monkeypatch.setattr(psycopg.Copy, "write", flaky)

    relocation = run_relocation(
        relocation_request(actor=devops, datasource=source, data=second_account.data()).pk
    )
    monkeypatch.undo()
    assert relocation.status == "failed" and relocation.failed_step == "copy"
    assert "第 4 步「复制数据」失败" in relocation.message
    assert "租户仍使用原数据源" in relocation.message
    assert relocation.secret_encrypted == ""
    current = DataSource.objects.get(customer=source.customer)
    assert current.pk == source.pk and current.generation == 1
    assert RetiredDataSource.objects.count() == 0
    assert registry(no) == (answer, etag)
    assert fingerprint(source) == before
    target = tenantdb.Target(
        source.db_type,
        second_account.host,
        second_account.port,
        second_account.username,
        second_account.password,
        relocation.database,
    )
    with tenantdb.connector_for(target) as c:
        assert c.database_state(relocation.database)[0] is False  # nothing left behind
    assert AuditLog.objects.filter(action="datasource_relocate_failed").count() == 1


def test_one_move_at_a_time_and_never_while_clearing(source, second_account, devops):
    relocation_request(actor=devops, datasource=source, data=second_account.data())
    with pytest.raises(Conflict):
        relocation_request(actor=devops, datasource=source, data=second_account.data())
    DataSource.objects.filter(pk=source.pk).update(impl_status=DataSource.ImplStatus.IN_PROGRESS)
    source.refresh_from_db()
    with pytest.raises(Conflict) as exc:
        clearing_request(
            actor=devops, datasource=source, tables=["notices"], confirm_name=source.name
        )
    assert exc.value.code == "table_operation_in_progress"


def test_target_input_is_checked_like_a_new_data_source(source, second_account, devops, ops):
    other = "postgresql" if source.db_type == "mysql" else "mysql"
    with pytest.raises(ValidationFailed) as exc:
        relocation_request(actor=devops, datasource=source, data=second_account.data(db_type=other))
    assert "只能迁移到同类型的数据库服务器" in exc.value.fields["db_type"][0]
    with pytest.raises(ValidationFailed) as exc:
        relocation_request(
            actor=devops, datasource=source, data=second_account.data(port="x", password="")
        )
    assert set(exc.value.fields) >= {"port", "password"}
    assert Relocation.objects.count() == 0
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        relocation_request(actor=ops, datasource=source, data=second_account.data())


def test_the_api_starts_follows_and_lists_a_move(source, second_account, devops, client_for):
    from apps.api.tests.helpers import call

    base = f"{API}/customers/{source.customer_id}/datasource"
    dev = client_for(devops)
    response = call(dev, "post", f"{base}/relocations", second_account.data())
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["name"].endswith("-2")
    assert [s["status"] for s in body["steps"]] == ["pending"] * 7
    assert second_account.password not in response.content.decode()
    assert response["Location"].endswith(f"/relocations/{body['id']}")
    run_relocation(body["id"])
    done = dev.get(f"{base}/relocations/{body['id']}").json()
    assert done["status"] == "succeeded" and done["copied_rows"] == 100_000
    assert done["percent"] == 100 and len(done["tables"]) == 9
    generations = dev.get(f"{base}/generations").json()
    assert [(g["generation"], g["name"], g["removed_at"]) for g in generations] == [
        (1, source.name, None)
    ]
    removed = call(
        dev,
        "post",
        f"{base}/generations/{generations[0]['id']}/remove",
        {"confirm_name": source.name},
    )
    assert removed.status_code == 200 and removed.json()["removed_at"]
    bad = call(dev, "post", f"{base}/relocations", {**second_account.data(), "port": 70000})
    assert bad.status_code == 422 and "port" in bad.json()["fields"]


def test_the_reaper_settles_a_move_whose_worker_died(source, second_account, devops):
    import datetime as dt

    from django.utils import timezone

    from apps.datasources.relocation import reap_stale

    stale = timezone.now() - dt.timedelta(hours=1)
    # Died after creating the target database, before the switch: failed, database dropped.
    move = relocation_request(actor=devops, datasource=source, data=second_account.data())
    target = tenantdb.Target(
        source.db_type,
        second_account.host,
        second_account.port,
        second_account.username,
        second_account.password,
        move.database,
    )
    with tenantdb.connector_for(target) as c:
        if source.db_type == "mysql":
            c.create_database(move.database)
        else:
            c.create_database(move.database, template0=False)
    Relocation.objects.filter(pk=move.pk).update(
        status="running",
        progress_at=stale,
        steps=[{"code": "create_database", "status": "ok", "label": "创建数据库"}],
    )
    assert reap_stale() == 1
    move.refresh_from_db()
    assert move.status == "failed" and "已删除新库" in move.message
    with tenantdb.connector_for(target) as c:
        assert c.database_state(move.database)[0] is False
    assert DataSource.objects.get(customer=source.customer).pk == source.pk

    # Died after the switch: the move succeeded, nothing is dropped.
    done = run_relocation(
        relocation_request(actor=devops, datasource=source, data=second_account.data()).pk
    )
    Relocation.objects.filter(pk=done.pk).update(status="running", progress_at=stale)
    assert reap_stale() == 1
    done.refresh_from_db()
    assert done.status == "succeeded"
    new = DataSource.objects.get(customer=source.customer)
    assert fingerprint(new) == fingerprint(source)
