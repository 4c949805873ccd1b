"""The registry publishes each tenant's service: state, end, package, modules and limits —
on the per-tenant read and in the feed — and its ETag changes exactly when they do."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, bearer
from apps.contracts.tests.factories import make_contract
from apps.customers.lifecycle import customer_start_trial, daily_sweep
from apps.customers.packages import package_create, package_update
from apps.customers.services import customer_update
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_token_cache(settings):
    settings.SERVICE_GRACE_DAYS = 15
    registry_auth.clear_cache()
    yield
    registry_auth.clear_cache()


@pytest.fixture
def raw(db):
    return make_token(make_staff("bizsys", None), scopes=(ApiToken.SCOPE_REGISTRY,))


@pytest.fixture
def package(manager):
    return package_create(
        actor=manager,
        data={
            "name": "标准版",
            "modules": ["property", "repair"],
            "max_accounts": 50,
            "max_communities": 20,
        },
    )


@pytest.fixture
def tenant(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer, actor=devops)
    return customer


def read(client, raw, customer):
    response = client.get(f"{API}/registry/tenants/{customer.enterprise_no}", **bearer(raw))
    assert response.status_code == 200
    return response.json()["service"], response["ETag"]


def test_a_trial_then_a_contract_larger_than_the_package(client, raw, tenant, ops, package):
    customer_start_trial(actor=ops, customer=tenant, package=package, days=14)
    service, trial_tag = read(client, raw, tenant)
    assert service == {
        "state": "trial",
        "ends_on": (timezone.localdate() + dt.timedelta(days=14)).isoformat(),
        "package": "标准版",
        "modules": ["property", "repair"],
        "limits": {"accounts": 50, "communities": 20},
    }
    contract = make_contract(
        actor=ops,
        customer=tenant,
        start_date=timezone.localdate(),
        end_date=timezone.localdate() + dt.timedelta(days=365),
        communities=30,
    )
    service, paid_tag = read(client, raw, tenant)
    assert service["state"] == "active" and service["ends_on"] == contract.end_date.isoformat()
    assert service["limits"] == {"accounts": 50, "communities": 30}  # the contract is larger
    assert paid_tag != trial_tag
    # The feed carries the same block.
    feed = client.get(f"{API}/registry/tenants", **bearer(raw)).json()["items"]
    assert [i["service"] for i in feed if i["enterprise_no"] == tenant.enterprise_no] == [service]


def test_the_etag_changes_exactly_when_the_service_does(client, raw, tenant, ops, manager, package):
    customer_start_trial(actor=ops, customer=tenant, package=package, days=1)
    _service, tag = read(client, raw, tenant)
    customer_update(actor=ops, customer=tenant, data={"address": "不发布的地址 1 号"})
    assert read(client, raw, tenant)[1] == tag
    assert daily_sweep(today=timezone.localdate()) == {}
    assert read(client, raw, tenant)[1] == tag

    daily_sweep(today=timezone.localdate() + dt.timedelta(days=2))
    service, grace_tag = read(client, raw, tenant)
    assert service["state"] == "grace" and grace_tag != tag
    daily_sweep(today=timezone.localdate() + dt.timedelta(days=2))  # twice: nothing more
    assert read(client, raw, tenant)[1] == grace_tag

    # A package edit changes what every customer on it is entitled to.
    package_update(actor=manager, package=package, data={"modules": ["property"]})
    service, edited_tag = read(client, raw, tenant)
    assert service["modules"] == ["property"] and edited_tag != grace_tag
    package_update(actor=manager, package=package, data={"remarks": "不发布"})
    assert read(client, raw, tenant)[1] == edited_tag

    daily_sweep(today=timezone.localdate() + dt.timedelta(days=30))
    service, _tag = read(client, raw, tenant)
    assert service["state"] == "suspended" and service["ends_on"] is None


def test_an_unlimited_package_stays_unlimited(client, raw, tenant, ops, manager):
    free = package_create(actor=manager, data={"name": "旗舰版", "modules": ["property"]})
    customer_start_trial(actor=ops, customer=tenant, package=free)
    make_contract(actor=ops, customer=tenant, communities=500)
    service, _tag = read(client, raw, tenant)
    assert service["limits"] == {"accounts": None, "communities": None}
    assert service["package"] == "旗舰版"
