"""清空数据表 against the real MariaDB and PostgreSQL servers: only in 实施中; never the
platform's tables; a table left out that references a chosen one refuses the choice; the
chosen tables emptied and the others untouched; 恢复 brings the rows back; a failure midway
leaves every table as it was (or, for a restore, the backups as they were)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.clearing import (
    clearable_tables,
    clearing_request,
    clearing_restore,
    purge_expired,
    run_clearing,
    run_restore,
)
from apps.datasources.models import DataSource, TableClearing
from apps.datasources.services import datasource_configure
from apps.datasources.tenantdb import TenantDBError
from apps.datasources.tenantdb.tables import parents_first

pytestmark = pytest.mark.django_db

NOT_STARTED, IN_PROGRESS, ONLINE = 0, 1, 2

SCHEMA = [
    "CREATE TABLE owners (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL)",
    "CREATE TABLE houses (id BIGINT PRIMARY KEY, owner_id BIGINT NOT NULL, parent_id BIGINT,"
    " FOREIGN KEY (owner_id) REFERENCES owners (id),"
    " FOREIGN KEY (parent_id) REFERENCES houses (id))",
    "CREATE TABLE bills (id BIGINT PRIMARY KEY, house_id BIGINT NOT NULL,"
    " amount DECIMAL(10, 2) NOT NULL, doubled DECIMAL(12, 2) GENERATED ALWAYS AS (amount * 2)"
    " STORED, issued TIMESTAMP NULL, FOREIGN KEY (house_id) REFERENCES houses (id))",
    "CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(200))",
    "INSERT INTO owners VALUES (1, '张三'), (2, '李四'), (3, '王五')",
    "INSERT INTO houses VALUES (1, 1, NULL), (2, 1, 1), (3, 2, NULL), (4, 3, 3), (5, 3, 4)",
    "INSERT INTO bills (id, house_id, amount, issued) VALUES"
    " (1, 1, 10.50, '2026-01-01 08:00:00'), (2, 2, 20.00, NULL), (3, 3, 0.01, NULL),"
    " (4, 4, 99999.99, '2026-06-30 23:59:59'), (5, 5, 1.00, NULL), (6, 5, 2.00, NULL)",
    "INSERT INTO notes VALUES (1, '😀 测试'), (2, NULL)",
]


def tenant_sql(ds: DataSource, *statements: str) -> list:
    """Run statements as the tenant's own account (tables it owns, as the business system
    would create them); returns the last one's rows."""
    rows: list = []
    with tenantdb.connector_for(tenantdb.Target.of(ds)) as c:
        for statement in statements:
            if ds.db_type == "mysql":
                c.query(f"USE `{ds.database}`", action="use")
                rows = c.query(statement, action="test")
            else:
                rows = c.query_in(ds.database, statement, action="test")
    return rows


def snapshot(ds: DataSource) -> dict[str, list]:
    return {
        table: [
            tuple(str(v) for v in row)
            for row in tenant_sql(ds, f"SELECT * FROM {table} ORDER BY id")
        ]
        for table in ("owners", "houses", "bills", "notes")
    }


def backups_on_server(ds: DataSource) -> list[str]:
    with tenantdb.connector_for(tenantdb.Target.of(ds)) as c:
        if ds.db_type == "mysql":
            names = [n for n, _k in c.objects(ds.database)]
        else:
            names = [t for _s, t in c.user_tables(ds.database)]
    return sorted(n for n in names if n.startswith("hgj_bak_"))


@pytest.fixture
def ds(tenant, devops, ops):
    account, _admin = tenant
    customer = make_customer(actor=ops, complete=True)
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    tenant_sql(ds, *SCHEMA)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=IN_PROGRESS)
    ds.refresh_from_db()
    return ds


def test_the_listing_offers_business_tables_with_rows_and_foreign_keys(ds, devops):
    tables = {t.label: t for t in clearable_tables(actor=devops, datasource=ds)}
    assert set(tables) == {"owners", "houses", "bills", "notes", "communities"}
    assert {k: t.rows for k, t in tables.items()} == {
        "owners": 3,
        "houses": 5,
        "bills": 6,
        "notes": 2,
        "communities": 0,
    }
    assert tables["owners"].referenced_by == ("houses",)
    assert tables["houses"].references == ("owners",)  # not itself
    assert tables["houses"].referenced_by == ("bills",)


@pytest.mark.parametrize("status", [NOT_STARTED, ONLINE])
def test_refused_unless_in_implementation(ds, devops, status):
    DataSource.objects.filter(pk=ds.pk).update(impl_status=status)
    ds.refresh_from_db()
    for call in (
        lambda: clearable_tables(actor=devops, datasource=ds),
        lambda: clearing_request(
            actor=devops, datasource=ds, tables=["notes"], confirm_name=ds.name
        ),
    ):
        with pytest.raises(Conflict) as exc:
            call()
        assert exc.value.code == "not_in_implementation"
        assert "只有「实施中」的租户库可以清空" in exc.value.message
    assert TableClearing.objects.count() == 0


@pytest.mark.parametrize(
    ("tables", "text"),
    [
        (["schema_version"], "schema_version 是平台的记录表，不能清空"),
        (["notes", "public.schema_version"], "平台的记录表"),
        (["nope"], "租户库中没有表 nope"),
        ([], "请至少选择一张数据表"),
        ("", "请至少选择一张数据表"),
        ([{"x": 1}], "数据表选择不合法"),
        (["owners"], "表 houses 引用了 owners，请一并选择 houses"),
        (["owners", "houses"], "表 bills 引用了 houses，请一并选择 bills"),
    ],
)
def test_bad_choices_are_refused_naming_the_field(ds, devops, tables, text):
    with pytest.raises(ValidationFailed) as exc:
        clearing_request(actor=devops, datasource=ds, tables=tables, confirm_name=ds.name)
    assert text in exc.value.fields["tables"][0]
    assert TableClearing.objects.count() == 0


def test_the_name_must_be_typed_and_ops_may_not(ds, devops, ops):
    with pytest.raises(ValidationFailed) as exc:
        clearing_request(actor=devops, datasource=ds, tables=["notes"], confirm_name="notes")
    assert f"请输入数据源名称 {ds.name} 以确认清空" in exc.value.fields["confirm_name"][0]
    with pytest.raises(Forbidden):
        clearing_request(actor=ops, datasource=ds, tables=["notes"], confirm_name=ds.name)
    with pytest.raises(Forbidden):
        clearable_tables(actor=ops, datasource=ds)


def test_clear_then_restore(ds, devops):
    before = snapshot(ds)
    clearing = clearing_request(
        actor=devops, datasource=ds, tables=["bills", "houses"], confirm_name=f" {ds.name} "
    )
    assert clearing.status == "queued" and clearing.labels == ["houses", "bills"]
    with pytest.raises(Conflict) as exc:  # one at a time
        clearing_request(actor=devops, datasource=ds, tables=["notes"], confirm_name=ds.name)
    assert exc.value.code == "table_operation_in_progress"

    clearing = run_clearing(clearing.pk)
    assert clearing.status == "cleared" and clearing.total_rows == 11
    assert [(t["table"], t["cleared"]) for t in clearing.tables] == [("houses", 5), ("bills", 6)]
    after = snapshot(ds)
    assert after["houses"] == [] and after["bills"] == []
    assert after["owners"] == before["owners"] and after["notes"] == before["notes"]
    assert backups_on_server(ds) == sorted(clearing.backups.values())
    assert run_clearing(clearing.pk) is None  # a second delivery does nothing
    done = AuditLog.objects.get(action="datasource_clear_done")
    assert "houses（5 行）、bills（6 行）" in done.message and "备份保留至" in done.message
    assert clearing.expires_at - clearing.cleared_at == dt.timedelta(days=7)

    clearing = clearing_restore(actor=devops, clearing=clearing)
    assert clearing.status == "restore_queued"
    clearing = run_restore(clearing.pk)
    assert clearing.status == "restored" and clearing.restored_by == devops
    assert snapshot(ds) == before
    assert backups_on_server(ds) == []
    assert AuditLog.objects.filter(action="datasource_restore_done").count() == 1
    with pytest.raises(Conflict):
        clearing_restore(actor=devops, clearing=clearing)


def test_a_failure_midway_leaves_every_table_as_it_was(ds, devops, monkeypatch):
    before = snapshot(ds)
    clearing = clearing_request(
        actor=devops, datasource=ds, tables=["notes", "bills"], confirm_name=ds.name
    )

    # The server fails the statement that clears the second table, after the first one
    # has been copied and (on MySQL) deleted inside the transaction.
    if ds.db_type == "mysql":
        original = tenantdb.MySQLConnector.query

        def failing(self, sql, params=None, *, action):
            if sql.startswith("DELETE FROM") and "`notes`" in sql:
                raise TenantDBError("mysql_2013", "清空表 notes失败（服务器断开了连接）")
            return original(self, sql, params, action=action)

        monkeypatch.setattr(tenantdb.MySQLConnector, "query", failing)
    else:
        from apps.datasources.tenantdb.tables import PgTables

        original = PgTables._exec

        def failing(self, conn, sql, action, params=None):
            if sql.startswith("TRUNCATE"):
                raise TenantDBError("pg_57P01", "清空表失败（服务器断开了连接）")
            return original(self, conn, sql, action, params)

        monkeypatch.setattr(PgTables, "_exec", failing)

    clearing = run_clearing(clearing.pk)
    assert clearing.status == "failed" and "服务器断开了连接" in clearing.message
    monkeypatch.undo()
    assert snapshot(ds) == before
    assert backups_on_server(ds) == []
    failed = AuditLog.objects.get(action="datasource_clear_failed")
    assert "所有表保持原样" in failed.message


def test_a_failed_restore_keeps_the_backups_and_may_be_tried_again(ds, devops):
    before = snapshot(ds)
    clearing = clearing_request(actor=devops, datasource=ds, tables=["notes"], confirm_name=ds.name)
    clearing = run_clearing(clearing.pk)
    tenant_sql(ds, "INSERT INTO notes VALUES (1, '新数据')")  # collides with a kept row
    clearing = run_restore(clearing_restore(actor=devops, clearing=clearing).pk)
    assert clearing.status == "cleared" and clearing.message
    assert snapshot(ds)["notes"] == [("1", "新数据")]
    assert len(backups_on_server(ds)) == 1
    tenant_sql(ds, "DELETE FROM notes")
    clearing = run_restore(clearing_restore(actor=devops, clearing=clearing).pk)
    assert clearing.status == "restored" and snapshot(ds) == before


def test_backups_past_their_retention_are_dropped_and_no_longer_restorable(ds, devops):
    clearing = run_clearing(
        clearing_request(actor=devops, datasource=ds, tables=["notes"], confirm_name=ds.name).pk
    )
    assert purge_expired() == 0
    assert purge_expired(now=timezone.now() + dt.timedelta(days=8)) == 1
    clearing.refresh_from_db()
    assert clearing.status == "expired" and backups_on_server(ds) == []
    with pytest.raises(Conflict) as exc:
        clearing_restore(actor=devops, clearing=clearing)
    assert exc.value.code == "not_restorable"


def test_a_clearing_queued_before_go_live_does_not_run_after_it(ds, devops):
    clearing = clearing_request(actor=devops, datasource=ds, tables=["notes"], confirm_name=ds.name)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=ONLINE)
    clearing = run_clearing(clearing.pk)
    assert clearing.status == "failed" and "不在「实施中」" in clearing.message
    assert len(snapshot(ds)["notes"]) == 2


def test_parents_first_orders_by_foreign_keys():
    edges = [("bills", "houses"), ("houses", "owners"), ("houses", "houses")]
    assert parents_first(["bills", "houses", "owners"], edges) == ["owners", "houses", "bills"]
    assert parents_first(["a", "b"], [("a", "b"), ("b", "a")]) == ["a", "b"]  # a cycle


def test_the_api_lists_clears_and_restores(ds, devops, ops, client_for):
    from apps.api.tests.helpers import API, call

    base = f"{API}/customers/{ds.customer_id}/datasource"
    dev = client_for(devops)
    tables = {t["table"]: t for t in dev.get(f"{base}/tables").json()}
    assert tables["owners"] == {
        "table": "owners",
        "rows": 3,
        "references": [],
        "referenced_by": ["houses"],
    }
    assert client_for(ops).get(f"{base}/tables").status_code == 403

    bad = call(dev, "post", f"{base}/clearings", {"tables": ["owners"], "confirm_name": ds.name})
    assert bad.status_code == 422
    assert "表 houses 引用了 owners" in bad.json()["fields"]["tables"][0]
    response = call(
        dev, "post", f"{base}/clearings", {"tables": ["notes"], "confirm_name": ds.name}
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["tables"] == [
        {"table": "notes", "rows": 2, "cleared": None}
    ]
    assert response["Location"].endswith(f"/clearings/{body['id']}")
    run_clearing(body["id"])
    listed = dev.get(f"{base}/clearings").json()
    assert listed[0]["status"] == "cleared" and listed[0]["tables"][0]["cleared"] == 2
    restored = call(dev, "post", f"{base}/clearings/{body['id']}/restore")
    assert restored.status_code == 202 and restored.json()["status"] == "restore_queued"
    run_restore(body["id"])
    assert dev.get(f"{base}/clearings/{body['id']}").json()["status"] == "restored"
    again = call(dev, "post", f"{base}/clearings/{body['id']}/restore")
    assert again.status_code == 409 and again.json()["code"] == "not_restorable"
