"""Contract pages in real Chromium: create with a scan, see it flagged when it ends soon,
filter the list, and close it through the confirmation modal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog
from apps.contracts.models import Contract
from apps.customers.tests.factories import make_customer
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def test_create_filter_and_close_a_contract(page, tmp_path):
    ops = make_staff("ops_k", "ops", name="运营小孙")
    ops.phone = "13911112222"
    ops.save()
    customer = make_customer(actor=ops, complete=True, name="深圳市福田物业管理有限公司")
    login(page, "ops_k")

    page.goto(f"{page.base_url}/contracts/new/?customer={customer.pk}")
    # 乙方 defaults to the signed-in member of staff.
    assert page.input_value("#id_party_b_contact") == "运营小孙"
    assert page.input_value("#id_party_b_phone") == "13911112222"
    today = timezone.localdate()
    end = today + dt.timedelta(days=20)
    page.fill("#id_bank_name", "招商银行深圳分行")
    page.fill("#id_legal_representative", "李四")
    page.fill("#id_account_no", "7559 1234 5610 001")
    page.fill("#id_start_date", (today - dt.timedelta(days=345)).isoformat())
    page.fill("#id_end_date", end.isoformat())
    page.fill("#id_communities", "0")
    page.fill("#id_amount", "36000.5")
    page.fill("#id_party_a_phone", "0755-86001234")
    scan = tmp_path / "合同.pdf"
    scan.write_bytes(PDF_BYTES)
    page.set_input_files("#id_scan", str(scan))
    page.click("button:has-text('保存')")
    # The service refuses 0 communities; the form says so next to the field, in Chinese.
    page.wait_for_selector("text=授权小区数须为大于 0 的整数")
    assert Contract.objects.count() == 0

    page.fill("#id_communities", "3")
    page.set_input_files("#id_scan", str(scan))
    page.click("button:has-text('保存')")
    page.wait_for_selector(".msg-success:has-text('合同已创建')")
    contract = Contract.objects.get()
    assert contract.account_no == "755912345610001" and contract.scan
    assert page.locator(".account-no").inner_text() == "7559 1234 5610 001"
    assert "¥36,000.50" in page.content()
    assert page.locator("h1 .badge.warn").inner_text() == "20 天后到期"

    # The list's 「30 天内到期」 filter (HTMX) keeps it.
    page.click("nav >> text=合同")
    page.check("input[name=expiring]")
    page.wait_for_url("**/contracts/?*expiring=1*")
    assert page.locator("#contract-results .badge.warn").inner_text() == "20 天后到期"

    # 关闭 asks for confirmation in a modal, then records it.
    page.click(f"#contract-results a[href='/contracts/{contract.pk}/']")
    page.click(".page-head a:has-text('关闭')")
    modal = page.locator(".modal")
    modal.wait_for()
    modal.locator("textarea[name=reason]").fill("客户提前解约")
    modal.locator("button:has-text('确认关闭')").click()
    page.wait_for_selector(".msg-success:has-text('合同已关闭')")
    contract.refresh_from_db()
    assert contract.status == Contract.Status.CLOSED
    assert AuditLog.objects.filter(action="close", message="客户提前解约").exists()
    assert page.locator("h1 .badge.off").inner_text() == "关闭"
