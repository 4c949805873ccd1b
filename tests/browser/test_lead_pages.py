"""Ops works the 待回访 list: records a call-back in the modal, closes a lead as 无意向 with a
reason, claims from the pool and converts a lead through the pre-filled customer form."""

import datetime as dt

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.models import Customer
from apps.leads.models import Lead
from apps.leads.tests.factories import make_lead
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_follow_up_close_claim_and_convert(page):
    ops = make_staff("ops_l", "ops", name="运营小王")
    first = make_lead(
        name="周经理",
        phone="13800138000",
        company="周氏物业",
        owner=ops,
        registered_ago=dt.timedelta(days=3, hours=1),
    )
    second = make_lead(
        name="吴经理",
        phone="13900139000",
        company="吴氏物业",
        owner=ops,
        registered_ago=dt.timedelta(days=1, hours=1),
    )
    pooled = make_lead(
        name="郑经理", phone="13700137000", company="郑氏物业", registered_ago=dt.timedelta(hours=1)
    )
    login(page, "ops_l")

    page.click('nav >> text="待回访"')
    rows = page.locator("#lead-table tbody tr")
    assert "周经理" in rows.nth(0).inner_text() and "3 天" in rows.nth(0).inner_text()

    # 记录回访 from the list: a missing reason keeps the modal open, then 有意向.
    rows.nth(0).locator("button:has-text('记录回访')").click()
    modal = page.locator(".modal")
    modal.wait_for()
    modal.locator("#id_result").select_option("not_interested")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector(".modal .errorlist")
    assert "无意向原因" in page.locator(".modal .errorlist").first.inner_text()
    page.locator(".modal #id_result").select_option("interested")
    page.locator(".modal #id_notes").fill("想看演示")
    page.locator(".modal button[type=submit]").click()
    page.wait_for_selector(".msg-success:has-text('已记录回访')")
    assert "周经理" not in page.locator("#lead-table").inner_text()  # next call is tomorrow
    first.refresh_from_db()
    assert first.status == Lead.Status.INTERESTED and first.follow_up_count == 1

    # 无意向 with a reason from the detail page.
    page.goto(f"{page.base_url}/leads/{second.pk}/")
    page.click("#btn-close")
    page.locator(".modal #id_reason").select_option("has_system")
    page.locator(".modal button[type=submit]").click()
    page.wait_for_selector("#btn-reopen")
    assert "已有系统" in page.locator("dl.fields").inner_text()

    # Claim from the pool.
    page.goto(f"{page.base_url}/leads/pool/")
    page.click(f"button[formaction='/leads/{pooled.pk}/claim/']")
    page.wait_for_selector(".msg-success:has-text('已领取')")
    pooled.refresh_from_db()
    assert pooled.owner == ops

    # 转为客户: the customer form arrives pre-filled from the lead.
    page.goto(f"{page.base_url}/leads/{first.pk}/")
    page.click("#btn-convert")
    assert page.input_value("#id_contact_name") == "周经理"
    assert page.input_value("#id_contact_phone") == "13800138000"
    assert page.input_value("#id_name") == "周氏物业"
    page.click("button:has-text('创建客户')")
    page.wait_for_selector(".msg-success:has-text('已转为客户')")
    customer = Customer.objects.get()
    assert customer.contact_name == "周经理" and customer.owner == ops
    first.refresh_from_db()
    assert first.status == Lead.Status.CONVERTED and first.customer == customer


def test_filter_bar_keeps_each_filter_whole(page):
    """The date range stays on one line (from, 至, to), and no filter is cut across rows."""
    make_staff("ops_f", "ops", name="运营小周")
    login(page, "ops_f")
    for width in (1366, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{page.base_url}/leads/")
        start = page.locator("input[name=date_from]").bounding_box()
        end = page.locator("input[name=date_to]").bounding_box()
        assert abs(start["y"] - end["y"]) < 2 and end["x"] > start["x"] + start["width"]
        query, reset = page.locator("form.filters .btn").all()
        assert abs(query.bounding_box()["y"] - reset.bounding_box()["y"]) < 2
        bar = page.locator("form.filters").bounding_box()
        for control in page.locator("form.filters > *:visible").all():
            box = control.bounding_box()
            assert box["x"] + box["width"] <= bar["x"] + bar["width"] + 1
