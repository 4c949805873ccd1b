"""Ops creates a customer with only a name and a contact, then 开通 / 添加合同 open the
completeness modal listing exactly the missing fields."""

import pytest

from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog
from apps.customers.models import Customer
from apps.customers.tests.factories import unique_uscc
from apps.datasources.tests.factories import make_datasource
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MISSING_LABELS = ["营业执照号", "所属省份", "所属城市", "企业详细地址"]


def create_minimal_customer(page, name: str) -> Customer:
    page.click('nav >> text="客户"')  # exact: the menu also has 客户申请
    page.click("text=新建客户")
    page.fill("#id_name", name)
    page.fill("#id_contact_name", "王经理")
    page.fill("#id_contact_phone", "13800138000")
    page.click("button:has-text('保存')")
    page.wait_for_selector(f"h1:has-text('{name}')")
    return Customer.objects.get(name=name)


def fill_missing(page) -> None:
    modal = page.locator(".modal")
    modal.locator("#id_license_no").fill(unique_uscc())
    modal.locator("#id_province").select_option("440000")
    # The city list follows the province (HTMX request).
    page.wait_for_selector("#id_city option[value='440300']", state="attached")
    modal.locator("#id_city").select_option("440300")
    modal.locator("#id_address").fill("南山区科技园 1 号")


def test_activation_through_completeness_modal(page):
    make_staff("ops_b", "ops", name="运营小王")
    login(page, "ops_b")
    customer = create_minimal_customer(page, "深圳市万家物业服务有限公司")
    make_datasource(customer)  # configured by devops beforehand
    page.reload()

    page.click("#btn-activate")
    modal = page.locator(".modal")
    modal.wait_for()
    lead = modal.locator(".lead").inner_text()
    for label in MISSING_LABELS:
        assert label in lead
    labels = modal.locator("label.req").all_inner_texts()
    assert [t.strip(" *") for t in labels] == MISSING_LABELS
    assert modal.locator("#id_name").count() == 0
    assert modal.locator("#id_contact_phone").count() == 0

    # Saving with a bad licence number keeps the modal open with the field named.
    modal.locator("#id_license_no").fill("123")
    modal.locator("button[type=submit]").click()
    page.wait_for_selector(".modal .errorlist")
    assert "营业执照号" in page.locator(".modal .errorlist").first.inner_text()

    fill_missing(page)
    page.locator(".modal button[type=submit]").click()
    page.wait_for_selector(".msg-success:has-text('客户已开通')")
    assert page.locator("h1 .badge").inner_text() == "开通"

    customer.refresh_from_db()
    assert customer.status == Customer.Status.OPEN
    assert AuditLog.objects.filter(action="activate", object_id=str(customer.pk)).exists()


def test_add_contract_through_completeness_modal(page):
    make_staff("ops_c", "ops", name="运营小李")
    login(page, "ops_c")
    customer = create_minimal_customer(page, "北京安居物业管理有限公司")

    page.click("#btn-add-contract")
    modal = page.locator(".modal")
    modal.wait_for()
    labels = modal.locator("label.req").all_inner_texts()
    assert [t.strip(" *") for t in labels] == MISSING_LABELS
    fill_missing(page)
    modal.locator("button[type=submit]").click()
    page.wait_for_url(f"**/contracts/new/?customer={customer.pk}")

    page.fill("#id_bank_name", "招商银行深圳分行")
    page.fill("#id_legal_representative", "李四")
    page.fill("#id_account_no", "755912345610001")
    page.fill("#id_start_date", "2026-01-01")
    page.fill("#id_end_date", "2026-12-31")
    page.fill("#id_communities", "3")
    page.fill("#id_amount", "36000.00")
    page.fill("#id_party_a_contact", "王经理")
    page.fill("#id_party_a_phone", "13800138000")
    page.fill("#id_party_b_contact", "运营小李")
    page.fill("#id_party_b_phone", "0755-86001234")
    page.click("button:has-text('保存')")
    page.wait_for_selector("text=招商银行深圳分行")

    customer.refresh_from_db()
    assert customer.license_no and customer.city == "440300"
    contract = customer.contracts.get()
    assert contract.communities == 3
    assert AuditLog.objects.filter(action="create", object_id=str(contract.pk)).exists()


def test_activate_modal_shows_both_blockers_and_saves_the_profile(page):
    """No data source and an incomplete profile: the modal says both — the fields as a form,
    the data source with who must act — and after saving the profile only the data source
    is left."""
    make_staff("ops_d", "ops", name="运营小陈")
    login(page, "ops_d")
    customer = create_minimal_customer(page, "广州市双阻物业管理有限公司")

    page.click("#btn-activate")
    modal = page.locator(".modal")
    modal.wait_for()
    warning = modal.locator(".blockers").inner_text()
    assert "资料不全" in warning and "尚未配置数据源（开发运维配置数据源）" in warning
    assert modal.locator("#id_license_no").count() == 1
    assert modal.locator("input[name=modules]").count() == 0
    fill_missing(page)
    modal.locator("button:has-text('保存资料')").click()
    page.wait_for_selector(".modal >> text=资料已保存")
    warning = page.locator(".modal .blockers").inner_text()
    assert "资料不全" not in warning and "尚未配置数据源" in warning
    customer.refresh_from_db()
    assert customer.license_no and customer.address == "南山区科技园 1 号"
    assert customer.status != Customer.Status.OPEN


def test_not_opened_and_closed_are_told_apart(page):
    from apps.customers.services import customer_activate, customer_close
    from apps.customers.tests.factories import make_customer

    ops = make_staff("ops_e", "ops", name="运营小吴")
    never = make_customer(actor=ops, complete=True, name="从未开通的物业")
    was_open = make_customer(actor=ops, complete=True, name="开通后关闭的物业")
    make_datasource(was_open)
    customer_activate(actor=ops, customer=was_open, modules=["property"])
    customer_close(actor=ops, customer=was_open, reason="合同到期")
    login(page, "ops_e")
    page.goto(f"{page.base_url}/customers/")
    rows = {
        page.locator(f"tr:has-text('{name}') .badge").first.inner_text()
        for name in ("从未开通的物业",)
    }
    assert rows == {"未开通"}
    assert page.locator("tr:has-text('开通后关闭的物业') .badge").first.inner_text() == "关闭"
    page.select_option("select[name=status]", "2")
    page.wait_for_selector("tr:has-text('从未开通的物业')")
    page.wait_for_selector("tr:has-text('开通后关闭的物业')", state="detached")
    page.goto(f"{page.base_url}/customers/{never.pk}/")
    assert page.locator("h1 .badge").inner_text() == "未开通"
