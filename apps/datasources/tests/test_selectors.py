"""Reads on data sources: permission and data scope in one place."""

import pytest

from apps.audit import services as audit
from apps.core.errors import Forbidden, NotFound
from apps.customers.tests.factories import make_customer
from apps.datasources.selectors import (
    access_datasource,
    datasource_history,
    datasource_of,
    pools_configured_on,
    provisioning_runs,
)
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db


def test_status_visible_to_ops_within_their_scope(ops, ops2, devops, nobody):
    mine = make_customer(actor=ops)
    theirs = make_customer(actor=ops2)
    ds = make_datasource(mine, actor=devops)
    make_datasource(theirs, actor=devops)
    assert datasource_of(user=ops, customer=mine) == ds
    assert access_datasource(ops, ds.pk) == ds
    with pytest.raises(NotFound):
        datasource_of(user=ops, customer=theirs)
    with pytest.raises(NotFound):
        access_datasource(ops, theirs.datasource.pk)
    with pytest.raises(NotFound):
        access_datasource(ops, "nope")
    with pytest.raises(Forbidden):
        datasource_of(user=nobody, customer=mine)
    # devops sees every customer's.
    assert datasource_of(user=devops, customer=theirs) == theirs.datasource


def test_not_configured_reads_as_none(ops):
    assert datasource_of(user=ops, customer=make_customer(actor=ops)) is None


def test_runs_are_for_managers_only(ops, devops):
    customer = make_customer(actor=ops)
    with pytest.raises(Forbidden):
        provisioning_runs(user=ops, customer=customer)
    assert list(provisioning_runs(user=devops, customer=customer)) == []


def test_pool_sum_per_server(ops):
    for port, size in ((3306, 10), (3306, 15), (3307, 99)):
        make_datasource(make_customer(actor=ops), host="10.0.3.12", port=port, max_connections=size)
    assert pools_configured_on(" 10.0.3.12 ", 3306) == 25
    assert pools_configured_on("10.0.3.12", "3307") == 99
    assert pools_configured_on("10.0.3.13", 3306) == 0


def test_history_collects_data_source_and_customer_rows(ops, devops, django_assert_max_num_queries):
    customer = make_customer(actor=ops)
    ds = make_datasource(customer, actor=devops)
    audit.record(actor=devops, action="datasource_check", obj=customer, message="检测")
    audit.record(actor=devops, action="datasource_status", obj=ds, changes={"impl_status": [0, 1]})
    audit.record(actor=ops, action="update", obj=customer, changes={"name": ["a", "b"]})
    with django_assert_max_num_queries(4):
        actions = [row.action for row in datasource_history(customer)]
    assert actions == ["datasource_status", "datasource_check"]
