"""实施状态 moves one way, one step at a time, safely under concurrency; delete only in
未实施, with the name typed, when the tenant database holds no rows."""

import random
import threading

import pytest
from django.db import connection

from apps.audit.models import AuditLog
from apps.core.errors import Conflict, Forbidden, ValidationFailed
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources import tenantdb
from apps.datasources.models import DataSource, DataSourceTombstone, ProvisioningRun
from apps.datasources.selectors import datasource_history
from apps.datasources.services import (
    datasource_advance,
    datasource_configure,
    datasource_delete,
    names_for,
    peek_names,
)
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

NOT_STARTED, IN_PROGRESS, ONLINE = 0, 1, 2


@pytest.fixture
def datasource(ops, devops):
    return make_datasource(make_customer(actor=ops, complete=True), actor=devops)


def at_status(ds: DataSource, status: int) -> DataSource:
    DataSource.objects.filter(pk=ds.pk).update(impl_status=status)
    ds.refresh_from_db()
    return ds


# --- transitions -------------------------------------------------------------------------


@pytest.mark.parametrize("start, to", [(NOT_STARTED, IN_PROGRESS), (IN_PROGRESS, ONLINE)])
def test_allowed_transitions_move_and_audit(datasource, devops, start, to):
    at_status(datasource, start)
    result = datasource_advance(actor=devops, datasource=datasource, to_status=to)
    assert result.impl_status == to
    assert DataSource.objects.get(pk=datasource.pk).impl_status == to
    row = AuditLog.objects.get(action="datasource_status")
    assert row.changes == {"impl_status": [start, to]} and row.object_id == str(datasource.pk)
    assert row.actor == devops


@pytest.mark.parametrize(
    "start, to, text",
    [
        (NOT_STARTED, NOT_STARTED, "实施状态已是「未实施」"),
        (NOT_STARTED, ONLINE, "只能逐级推进：当前为「未实施」，下一步是「实施中」"),
        (IN_PROGRESS, IN_PROGRESS, "实施状态已是「实施中」"),
        (IN_PROGRESS, NOT_STARTED, "不能回退（当前为「实施中」）"),
        (ONLINE, ONLINE, "已上线，实施状态不能再变更"),
        (ONLINE, IN_PROGRESS, "已上线，实施状态不能再变更"),
        (ONLINE, NOT_STARTED, "已上线，实施状态不能再变更"),
    ],
)
def test_forbidden_transitions_conflict(datasource, devops, start, to, text):
    at_status(datasource, start)
    with pytest.raises(Conflict) as exc:
        datasource_advance(actor=devops, datasource=datasource, to_status=to)
    assert exc.value.status == 409 and exc.value.code == "invalid_transition"
    assert text in exc.value.message
    assert DataSource.objects.get(pk=datasource.pk).impl_status == start
    assert not AuditLog.objects.filter(action="datasource_status").exists()


@pytest.mark.parametrize("to", [3, -1, "x", None])
def test_unknown_status_is_a_validation_error(datasource, devops, to):
    with pytest.raises(ValidationFailed) as exc:
        datasource_advance(actor=devops, datasource=datasource, to_status=to)
    assert "impl_status" in exc.value.fields


def test_only_managers_of_data_sources_move_the_status(datasource, ops, manager):
    for user in (ops, manager):
        with pytest.raises(Forbidden):
            datasource_advance(actor=user, datasource=datasource, to_status=IN_PROGRESS)
    assert DataSource.objects.get(pk=datasource.pk).impl_status == NOT_STARTED


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_updates_end_valid_with_one_audit_row_per_change(ops, devops):
    """20 threads ask at once, half for 实施中 and half for 已上线: every change happens
    exactly once and each leaves one audit row; the rest get 409."""
    ds = make_datasource(make_customer(actor=ops, complete=True), actor=devops)
    wanted = [IN_PROGRESS] * 10 + [ONLINE] * 10
    random.shuffle(wanted)
    barrier = threading.Barrier(len(wanted))
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def worker(to: int) -> None:
        try:
            barrier.wait()
            datasource_advance(actor=devops, datasource=ds, to_status=to)
            result = "ok"
        except Conflict:
            result = "conflict"
        except Exception as exc:  # any other failure fails the test below
            result = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append((to, result))

    threads = [threading.Thread(target=worker, args=(to,)) for to in wanted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(outcomes) == 20
    assert {r for _to, r in outcomes} <= {"ok", "conflict"}, outcomes
    successes = [to for to, r in outcomes if r == "ok"]
    final = DataSource.objects.get(pk=ds.pk).impl_status
    assert final in (IN_PROGRESS, ONLINE)
    assert successes.count(IN_PROGRESS) == 1 and successes.count(ONLINE) == final - 1
    rows = list(
        AuditLog.objects.filter(action="datasource_status", object_id=str(ds.pk))
        .order_by("id")
        .values_list("changes", flat=True)
    )
    assert rows == [{"impl_status": [i, i + 1]} for i in range(final)]


# --- delete ------------------------------------------------------------------------------


def test_delete_refused_unless_not_started(datasource, devops):
    at_status(datasource, IN_PROGRESS)
    with pytest.raises(Conflict) as exc:
        datasource_delete(actor=devops, datasource=datasource, confirm_name=datasource.name)
    assert "只有「未实施」的数据源可以删除，当前为「实施中」" in exc.value.message
    assert DataSource.objects.filter(pk=datasource.pk).exists()


@pytest.mark.parametrize("typed", ["", "DS-WRONG", "lower-case name"])
def test_delete_refused_with_wrong_confirmation(datasource, devops, typed):
    if typed == "lower-case name":
        typed = datasource.name.lower()
    with pytest.raises(ValidationFailed) as exc:
        datasource_delete(actor=devops, datasource=datasource, confirm_name=typed)
    assert exc.value.fields == {"confirm_name": [f"请输入数据源名称 {datasource.name} 以确认删除"]}
    assert DataSource.objects.filter(pk=datasource.pk).exists()
    assert not DataSourceTombstone.objects.exists()


def test_delete_refused_when_the_tenant_server_cannot_be_asked(ops, devops, settings):
    settings.TENANT_CONNECT_TIMEOUT = 2
    customer = make_customer(actor=ops)
    ds = make_datasource(customer, host="127.0.0.1", port=1)
    with pytest.raises(Conflict) as exc:
        datasource_delete(actor=devops, datasource=ds, confirm_name=ds.name)
    assert exc.value.code == "probe_failed" and "无法确认租户数据库为空" in exc.value.message
    assert DataSource.objects.filter(pk=ds.pk).exists()


def test_ops_cannot_delete(datasource, ops):
    with pytest.raises(Forbidden):
        datasource_delete(actor=ops, datasource=datasource, confirm_name=datasource.name)


@pytest.fixture
def configured(tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    return ds, admin


def test_probe_reports_rows_and_online_communities(configured):
    ds, admin = configured
    result = tenantdb.probe(ds)
    assert result.database_exists and result.tables == ["communities", "schema_version"]
    assert not result.has_data and result.communities_online == 0
    assert result.metadata_tables_with_rows == ["schema_version"]
    admin.run_in(
        ds.database,
        "INSERT INTO {db}.communities (name, online) VALUES "
        "('阳光花园', TRUE), ('翠湖小区', FALSE), ('滨江一号', TRUE)",
    )
    result = tenantdb.probe(ds)
    assert result.has_data and result.tables_with_rows == ["communities"]
    assert result.communities_online == 2


def test_delete_refused_while_a_tenant_table_has_a_row(configured, devops):
    ds, admin = configured
    admin.run_in(ds.database, "INSERT INTO {db}.communities (name) VALUES ('阳光花园')")
    with pytest.raises(Conflict) as exc:
        datasource_delete(actor=devops, datasource=ds, confirm_name=ds.name)
    assert exc.value.code == "datasource_has_data"
    assert f"租户数据库 {ds.database} 中以下表有数据，不能删除：communities" in exc.value.message
    assert DataSource.objects.filter(pk=ds.pk).exists()
    assert admin.database_exists(ds.database)
    assert not AuditLog.objects.filter(action="datasource_delete").exists()


def test_delete_when_empty_drops_our_database_and_keeps_the_names(configured, tenant, devops):
    ds, admin = configured
    account, _admin = tenant
    customer = ds.customer
    listed = Customer.objects.get(pk=customer.pk).registry_seq
    assert listed is not None  # configuring lists the tenant in the registry feed
    admin.run_in(ds.database, "INSERT INTO {db}.communities (name) VALUES ('阳光花园')")
    admin.run_in(ds.database, "DELETE FROM {db}.communities")
    tombstone = datasource_delete(actor=devops, datasource=ds, confirm_name=f"  {ds.name} ")
    assert Customer.objects.get(pk=customer.pk).registry_seq > listed  # listed as removed

    assert not DataSource.objects.filter(customer=customer).exists()
    assert not admin.database_exists(ds.database)
    assert (tombstone.name, tombstone.database) == (ds.name, ds.database)
    assert tombstone.database_dropped and tombstone.deleted_by == devops
    assert tombstone.datasource_id == ds.pk
    row = AuditLog.objects.get(action="datasource_delete")
    assert row.object_id == str(ds.pk) and "已删除" in row.message
    assert row.changes["password_encrypted"] == ["******", None]
    # The run history survives the delete; the audit history finds the deleted source.
    assert ProvisioningRun.objects.get(customer=customer).datasource is None
    assert row in list(datasource_history(customer))

    # The customer can be configured again; the old names are never handed out again.
    assert peek_names(customer) == names_for(customer, 2)
    again = datasource_configure(actor=devops, customer=customer, data=account.data())
    assert again.name == names_for(customer, 2)[0] and again.name != ds.name


def test_delete_keeps_a_database_the_platform_did_not_create(tenant, devops, ops):
    account, admin = tenant
    customer = make_customer(actor=ops, complete=True)
    _name, database = peek_names(customer)
    admin.create_database_with_table(database)
    admin.run_in(database, "DROP TABLE {db}.legacy")
    if account.db_type == "postgresql":
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{account.username}"')
    ds = datasource_configure(actor=devops, customer=customer, data=account.data())
    tombstone = datasource_delete(actor=devops, datasource=ds, confirm_name=ds.name)
    assert not tombstone.database_dropped
    assert admin.database_exists(database)
    assert "不是本平台创建的，已保留" in AuditLog.objects.get(action="datasource_delete").message


def test_delete_after_the_database_vanished(configured, devops):
    ds, admin = configured
    admin.drop_run_databases()
    tombstone = datasource_delete(actor=devops, datasource=ds, confirm_name=ds.name)
    assert not tombstone.database_dropped
    assert not DataSource.objects.filter(pk=ds.pk).exists()
