"""Every change the business system sees moves the tenant to the head of the registry feed
(a new value of the "registry" sequence), and nothing else moves it; values are given in
commit order even when writers race."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from apps.customers.models import Customer
from apps.customers.services import (
    customer_activate,
    customer_close,
    customer_update,
    registry_changed,
)
from apps.customers.tests.factories import make_customer
from apps.datasources import schemas
from apps.datasources.lifecycle import datasource_advance
from apps.datasources.tenantdb.versions import Applied, SchemaState
from apps.datasources.tests.factories import make_datasource
from apps.datasources.tests.test_versions import write_migrations

pytestmark = pytest.mark.django_db


def seq(customer) -> int | None:
    return Customer.objects.values_list("registry_seq", flat=True).get(pk=customer.pk)


@pytest.fixture
def tenant(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    return make_datasource(customer, actor=devops)


def test_a_customer_is_listed_with_its_first_data_source(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    customer_update(actor=ops, customer=customer, data={"name": "未上架物业"})
    assert seq(customer) is None  # no data source: not in the registry, nothing moves
    make_datasource(customer, actor=devops)
    assert seq(customer) is not None
    row = Customer.objects.get(pk=customer.pk)
    assert row.registry_changed_at is not None


def test_registry_fields_move_the_tenant_and_nothing_else_does(tenant, ops, admin_user):
    customer = tenant.customer
    first = seq(customer)
    customer_update(actor=ops, customer=customer, data={"address": "新地址 88 号"})
    assert seq(customer) == first  # not published by the registry
    customer_update(actor=ops, customer=customer, data={"name": "改名物业"})
    renamed = seq(customer)
    assert renamed > first
    customer_activate(actor=admin_user, customer=customer, modules=["property"])
    opened = seq(customer)
    assert opened > renamed
    customer_close(actor=admin_user, customer=customer, reason="合同到期")
    assert seq(customer) > opened


def test_impl_status_moves_the_tenant(tenant, devops):
    before = seq(tenant.customer)
    datasource_advance(actor=devops, datasource=tenant, to_status=1)
    assert seq(tenant.customer) > before


def test_a_new_schema_version_moves_the_tenant_and_a_reread_does_not(tenant, tmp_path, settings):
    write_migrations(tmp_path, settings, "mysql")
    first = seq(tenant.customer)
    schemas.record(tenant, SchemaState(True, True, [Applied("0001", None)]))
    recorded = seq(tenant.customer)
    assert recorded > first  # the first reading publishes a version
    schemas.record(tenant, SchemaState(True, True, [Applied("0001", None)]))
    assert seq(tenant.customer) == recorded
    schemas.record(tenant, SchemaState(True, True, [Applied("0001", None), Applied("0002", None)]))
    assert seq(tenant.customer) > recorded


def test_rotating_keys_moves_every_tenant(ops, devops, settings):
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DATASOURCE_ENCRYPTION_KEYS = [old]
    rows = [make_datasource(make_customer(actor=ops), actor=devops) for _ in range(2)]
    before = {seq(ds.customer) for ds in rows}
    settings.DATASOURCE_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_datasource_keys")
    after = {seq(ds.customer) for ds in rows}
    assert min(after) > max(before)


def test_saving_a_stale_instance_does_not_move_it_back(tenant, ops):
    stale = Customer.objects.get(pk=tenant.customer_id)
    customer_update(actor=ops, customer=stale, data={"name": "新名称物业"})
    moved = seq(stale)
    stale.remarks = "备注"
    stale.save()
    assert seq(stale) == moved


def test_several_move_in_one_statement_in_id_order(ops, devops, django_assert_max_num_queries):
    customers = [make_customer(actor=ops) for _ in range(5)]
    for c in customers:
        make_datasource(c, actor=devops)
    with django_assert_max_num_queries(4):
        assert registry_changed([c.pk for c in reversed(customers)]) == 5
    seqs = [seq(c) for c in customers]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


@pytest.mark.django_db(transaction=True)
def test_values_follow_commit_order_when_writers_race(ops, devops):
    """A writer that takes the sequence holds it until it commits: a second writer waits,
    so it can never commit a lower value after a reader has passed it. (SQLite gets the
    same order by serialising whole write transactions.)"""
    a = make_datasource(make_customer(actor=ops), actor=devops).customer
    b = make_datasource(make_customer(actor=ops), actor=devops).customer
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first():
        try:
            with transaction.atomic():
                registry_changed([a.pk])
                holding.set()
                release.wait(10)
                order.append("a")
        finally:
            connection.close()

    def second():
        try:
            holding.wait(10)
            with transaction.atomic():
                registry_changed([b.pk])
                order.append("b")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    holding.wait(10)
    time.sleep(0.5)  # the second writer is now waiting for the sequence
    assert order == []
    release.set()
    for t in threads:
        t.join(20)
    assert order == ["a", "b"]
    assert seq(b) > seq(a)
