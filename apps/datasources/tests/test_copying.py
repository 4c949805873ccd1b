"""Copying a tenant database's rows to another database and account on the same real
server (a stand-in for a second server), and the server-side checksums that compare them."""

from __future__ import annotations

import pytest

from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.services import datasource_configure
from apps.datasources.tenantdb.copying import compare, copier_for
from apps.datasources.tests.test_clearing import SCHEMA, snapshot, tenant_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(tenant, devops, ops):
    """Two data sources on the same server with the same tables; the first has rows."""
    account, _admin = tenant
    first = datasource_configure(
        actor=devops, customer=make_customer(actor=ops, complete=True), data=account.data()
    )
    second = datasource_configure(
        actor=devops, customer=make_customer(actor=ops, complete=True), data=account.data()
    )
    tenant_sql(first, *SCHEMA)
    tenant_sql(second, *[s for s in SCHEMA if s.startswith("CREATE")])
    tenant_sql(
        first,
        "INSERT INTO communities (id, name, online) VALUES"
        " (7, '阳光花园', TRUE), (9, '翠湖', FALSE)",
    )
    return first, second


def test_copy_makes_an_identical_database(pair):
    source, target = pair
    with (
        tenantdb.connector_for(tenantdb.Target.of(source)) as src,
        tenantdb.connector_for(tenantdb.Target.of(target)) as dst,
    ):
        plan = copier_for(src).plan(source.database)
        labels = [t.label for t in plan]
        assert set(labels) == {"owners", "houses", "bills", "notes", "communities"}
        assert labels.index("owners") < labels.index("houses") < labels.index("bills") or (
            source.db_type == "mysql"
        )
        bills = next(t for t in plan if t.label == "bills")
        assert "doubled" not in bills.columns and bills.key == ("id",) and bills.rows == 6
        assert compare(src, source.database, dst, target.database, plan)  # differ before
        seen: list[tuple[str, int]] = []
        copied = copier_for(src).copy(
            source.database,
            dst,
            target.database,
            plan,
            batch_size=2,
            progress=lambda t, n: seen.append((t, n)),
        )
        assert copied == {"owners": 3, "houses": 5, "bills": 6, "notes": 2, "communities": 2}
        assert compare(src, source.database, dst, target.database, plan) == []
    assert snapshot(target) == snapshot(source)
    assert ("bills", 6) in seen
    # The target's keys continue after the copied ones.
    tenant_sql(target, "INSERT INTO communities (name) VALUES ('新小区')")
    assert tenant_sql(target, "SELECT max(id) FROM communities")[0][0] == 10


def test_a_changed_row_is_caught_by_the_checksum(pair):
    source, target = pair
    with (
        tenantdb.connector_for(tenantdb.Target.of(source)) as src,
        tenantdb.connector_for(tenantdb.Target.of(target)) as dst,
    ):
        plan = copier_for(src).plan(source.database)
        copier_for(src).copy(source.database, dst, target.database, plan, batch_size=1000)
    tenant_sql(target, "UPDATE notes SET body = '改过' WHERE id = 2")
    with (
        tenantdb.connector_for(tenantdb.Target.of(source)) as src,
        tenantdb.connector_for(tenantdb.Target.of(target)) as dst,
    ):
        assert compare(src, source.database, dst, target.database, plan) == [
            "表 notes 的数据校验和不一致（2 行）"
        ]
