"""开通 requires a configured data source; the console says what is missing and who fixes it."""

import pytest
from django.urls import reverse

from apps.core import registry
from apps.core.errors import Conflict, ProfileIncomplete
from apps.customers.models import Customer
from apps.customers.services import activation_blockers, customer_activate
from apps.customers.tests.factories import make_customer
from apps.datasources.services import datasource_blocker
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_the_check_is_registered_once_after_the_profile():
    checks = [c.check for c in registry.activation_checks()]
    assert checks.count(datasource_blocker) == 1
    assert [c.code for c in registry.activation_checks()] == ["profile", "datasource"]


def test_activation_blocked_without_a_data_source(ops):
    customer = make_customer(actor=ops, complete=True)
    [blocker] = activation_blockers(customer)
    assert (blocker.code, blocker.message, blocker.fix_by) == (
        "datasource_missing",
        "尚未配置数据源",
        "开发运维配置数据源",
    )
    with pytest.raises(Conflict) as exc:
        customer_activate(actor=ops, customer=customer, modules=["property"])
    assert exc.value.code == "datasource_missing" and exc.value.status == 409
    assert exc.value.message == "暂不能开通：尚未配置数据源"
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED


def test_both_prerequisites_are_named(ops):
    customer = make_customer(actor=ops)
    with pytest.raises(ProfileIncomplete) as exc:
        customer_activate(actor=ops, customer=customer, modules=["property"])
    assert "资料不全" in exc.value.message and "尚未配置数据源" in exc.value.message


def test_activation_with_a_data_source(ops, devops):
    customer = make_customer(actor=ops, complete=True)
    make_datasource(customer, actor=devops)
    assert activation_blockers(customer) == []
    customer = customer_activate(actor=ops, customer=customer, modules=["property"])
    assert customer.status == Customer.Status.OPEN


def test_console_says_what_is_missing_and_who_can_fix_it(client_for, ops):
    customer = make_customer(actor=ops, complete=True)
    body = client_for(ops).get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "尚未配置数据源（开发运维配置数据源）" in body
    modal = (
        client_for(ops)
        .get(reverse("customers:activate", args=[customer.pk]), **HX)
        .content.decode()
    )
    assert "暂不能开通" in modal and "尚未配置数据源（开发运维配置数据源）" in modal
    assert 'name="modules"' not in modal
    response = client_for(ops).post(
        reverse("customers:activate", args=[customer.pk]), {"modules": ["property"]}, **HX
    )
    assert "尚未配置数据源" in response.content.decode()
    customer.refresh_from_db()
    assert customer.status == Customer.Status.NOT_OPENED


def test_the_activate_modal_lists_every_blocker_and_takes_the_profile_now(client_for, ops):
    """An incomplete profile AND no data source: the modal asks for the missing fields as a
    form and names the data source with who must act — both at once; saving the profile
    keeps the modal open on what is still missing."""
    from apps.customers.tests.factories import COMPLETE_PROFILE

    customer = make_customer(actor=ops)
    url = reverse("customers:activate", args=[customer.pk])
    modal = client_for(ops).get(url, **HX).content.decode()
    assert "尚未配置数据源（开发运维配置数据源）" in modal
    assert 'name="license_no"' in modal and "资料不全" in modal
    assert 'name="modules"' not in modal
    data = {k: v for k, v in COMPLETE_PROFILE.items() if k != "name"}
    response = client_for(ops).post(url, data, **HX)
    body = response.content.decode()
    assert "资料已保存" in body and "尚未配置数据源（开发运维配置数据源）" in body
    assert 'name="license_no"' not in body
    customer.refresh_from_db()
    assert customer.license_no == COMPLETE_PROFILE["license_no"]
    assert customer.status != Customer.Status.OPEN
