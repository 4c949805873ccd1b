"""The whole intake journey in Chromium: an applicant on a phone scans a QR poster
(/apply/?ch=qr&ref=X) and applies with an SMS code from the console backend; the lead
appears in the pool as 二维码 with reference X; a specialist claims it, records a call-back
and converts it, and the customer form arrives with the contact pre-filled."""

import logging
import re
import uuid

import pytest

from apps.accounts.tests.factories import make_staff
from apps.customers.models import Customer
from apps.leads.models import Lead
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE_IN_LOG = re.compile(r"SMS \(console\) to 139\*\*\*\*0001: 验证码 (\d{6})")


@pytest.fixture
def console_sms(settings):
    settings.SMS_BACKEND = "console"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"journey-{uuid.uuid4().hex}",
        }
    }


def test_qr_application_to_customer(browser, live_server, console_sms, caplog):
    caplog.set_level(logging.INFO, logger="apps.sms")
    make_staff("ops_j", "ops", name="运营小周")

    # The applicant, on a phone.
    phone = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True)
    phone.set_default_timeout(10_000)
    applicant = phone.new_page()
    applicant.goto(f"{live_server.url}/apply/?ch=qr&ref=X")
    applicant.fill("#f-name", "孙经理")
    applicant.fill("#f-phone", "13900000001")
    applicant.click("#send-code")
    applicant.wait_for_selector("#code-notice:has-text('验证码已发送')")
    match = CODE_IN_LOG.search(caplog.text)
    assert match, "the console backend logs the code with the phone masked"
    assert "13900000001" not in caplog.text
    applicant.fill("#f-code", match.group(1))
    applicant.fill("#f-company", "孙氏物业服务有限公司")
    applicant.check("input[name=consent]")
    applicant.click("text=提交申请")
    applicant.wait_for_selector("h1:has-text('申请已提交')")
    phone.close()

    lead = Lead.objects.get()
    assert (lead.channel, lead.channel_ref, lead.owner) == ("qr", "X", None)

    # The specialist, at a desk.
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    desk.set_default_timeout(10_000)
    page = desk.new_page()
    page.base_url = live_server.url
    login(page, "ops_j")
    page.goto(f"{live_server.url}/leads/pool/")
    row = page.locator("#lead-table tbody tr", has_text="孙经理")
    assert "二维码" in row.inner_text()
    row.locator("a", has_text="孙经理").click()
    assert "二维码（X）" in page.locator("dl.fields").inner_text()

    page.click("#btn-claim")
    page.wait_for_selector(".msg-success:has-text('已领取')")
    page.click("#btn-follow-up")
    modal = page.locator(".modal")
    modal.wait_for()
    modal.get_by_label("电话", exact=True).check()
    modal.locator("#id_result").select_option("interested")
    modal.locator("#id_notes").fill("管理 6 个小区，想先用收费和报修")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector(".msg-success:has-text('已记录回访')")

    page.click("#btn-convert")
    assert page.input_value("#id_contact_name") == "孙经理"
    assert page.input_value("#id_contact_phone") == "13900000001"
    assert page.input_value("#id_name") == "孙氏物业服务有限公司"
    page.click("button:has-text('创建客户')")
    page.wait_for_selector(".msg-success:has-text('已转为客户')")
    desk.close()

    customer = Customer.objects.get()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONVERTED and lead.customer == customer
    assert (customer.contact_name, customer.contact_phone) == ("孙经理", "13900000001")
    assert lead.follow_ups.get().result == "interested"
