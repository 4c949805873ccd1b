"""Ops opens a trial from the console, then adds a contract: the service state follows
(试用中 → 服务中) on the customer page."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.tests.factories import make_staff
from apps.customers.models import Customer
from apps.customers.packages import package_create
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_trial_then_a_contract(page, live_server):
    ops = make_staff("ops_t", "ops", name="运营小赵")
    manager = make_staff("mgr_t", "ops_manager", name="主管老周")
    package_create(actor=manager, data={"name": "试用标准版", "modules": ["property", "repair"]})
    customer = make_customer(actor=ops, complete=True, name="杭州绿城试用物业")
    make_datasource(customer)
    login(page, "ops_t")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")

    page.click("#btn-trial")
    modal = page.locator(".modal")
    modal.wait_for()
    modal.locator("#id_package").select_option(label="试用标准版")
    modal.locator("#id_days").fill("14")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector(".msg-success:has-text('已开通试用')")
    ends = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
    state = page.locator("#service-state").inner_text()
    assert "试用中" in state and ends in state
    assert page.locator("#btn-extend-trial").count() == 0  # 运营主管 extend, not ops

    page.click("#btn-add-contract")
    page.wait_for_url(f"**/contracts/new/?customer={customer.pk}")
    start = timezone.localdate()
    end = start + dt.timedelta(days=364)
    page.fill("#id_bank_name", "招商银行杭州分行")
    page.fill("#id_legal_representative", "赵六")
    page.fill("#id_account_no", "571912345610001")
    page.fill("#id_start_date", start.isoformat())
    page.fill("#id_end_date", end.isoformat())
    page.fill("#id_communities", "5")
    page.fill("#id_amount", "50000.00")
    page.fill("#id_party_a_contact", "王经理")
    page.fill("#id_party_a_phone", "13800138000")
    page.fill("#id_party_b_contact", "运营小赵")
    page.fill("#id_party_b_phone", "0571-86001234")
    page.click("button:has-text('保存')")
    page.wait_for_selector("text=招商银行杭州分行")

    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    state = page.locator("#service-state").inner_text()
    assert "服务中" in state and end.isoformat() in state
    row = Customer.objects.get(pk=customer.pk)
    assert (row.service_state, row.service_ends_on, row.licensed_communities) == ("active", end, 5)
