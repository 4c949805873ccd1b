"""Contract console pages: permissions, forms on real inputs, the completeness gate, audit
rows, scan upload/download, the list's filters and its query budget."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.contracts import services
from apps.contracts.models import Contract
from apps.customers.tests.factories import make_customer

from .factories import PDF_BYTES, form_data, make_contract, pdf_upload

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def audit_rows(obj, action: str):
    return AuditLog.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk), action=action
    )


def page_url(name: str, contract: Contract) -> str:
    if name == "create":
        return f"{reverse('contracts:create')}?customer={contract.customer_id}"
    if name == "list":
        return reverse("contracts:list")
    return reverse(f"contracts:{name}", args=[contract.pk])


def body(response) -> str:
    return response.content.decode()


def flashes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Permission matrix -----------------------------------------------------------------

PAGES = ["list", "detail", "create", "edit", "status", "scan"]


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_is_sent_to_login(client_for, contract, page):
    response = client_for(None).get(page_url(page, contract))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("who", ["nobody", "devops"])
@pytest.mark.parametrize("page", PAGES)
def test_staff_without_contract_permissions_get_403(request, client_for, contract, page, who):
    response = client_for(request.getfixturevalue(who)).get(page_url(page, contract))
    assert response.status_code == 403
    assert "无权访问" in body(response)


@pytest.mark.parametrize("who", ["nobody", "devops"])
def test_staff_without_contract_permissions_cannot_post(request, client_for, contract, who):
    c = client_for(request.getfixturevalue(who))
    assert c.post(page_url("status", contract), {"status": "closed"}).status_code == 403
    assert c.post(page_url("edit", contract), form_data(amount="1")).status_code == 403
    assert c.post(page_url("create", contract), form_data()).status_code == 403
    contract.refresh_from_db()
    assert contract.status == "open" and contract.amount == Decimal("128000.00")
    assert Contract.objects.count() == 1


@pytest.mark.parametrize("page", ["detail", "create", "edit", "status", "scan"])
def test_ops_gets_404_for_another_specialists_customer(client_for, ops, other_contract, page):
    response = client_for(ops).get(page_url(page, other_contract))
    assert response.status_code == 404


def test_ops_cannot_post_to_another_specialists_contract(client_for, ops, other_contract):
    c = client_for(ops)
    assert c.post(page_url("status", other_contract), {"status": "closed"}).status_code == 404
    assert c.post(page_url("edit", other_contract), form_data()).status_code == 404
    assert c.post(page_url("create", other_contract), form_data()).status_code == 404
    other_contract.refresh_from_db()
    assert other_contract.status == "open"
    assert Contract.objects.count() == 1


def test_ops_list_hides_another_specialists_contracts(client_for, ops, contract, other_contract):
    html = body(client_for(ops).get(reverse("contracts:list")))
    assert contract.customer.name in html
    assert other_contract.customer.name not in html


@pytest.mark.parametrize("who", ["ops", "manager", "admin_user"])
@pytest.mark.parametrize("page", PAGES)
def test_allowed_staff_open_every_page(request, client_for, contract, page, who):
    response = client_for(request.getfixturevalue(who)).get(page_url(page, contract))
    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_manager_opens_every_page_of_any_owner(client_for, manager, other_contract, page):
    assert client_for(manager).get(page_url(page, other_contract)).status_code == 200


def test_ops_sees_contracts_of_pool_customers(client_for, ops, manager):
    pool = make_customer(actor=manager, owner=None, complete=True)
    contract = make_contract(actor=manager, customer=pool)
    assert client_for(ops).get(page_url("detail", contract)).status_code == 200


def test_unknown_contract_is_404(client_for, manager):
    assert client_for(manager).get("/contracts/999999/").status_code == 404


# --- Create: the gate, defaults, validation --------------------------------------------


def test_incomplete_customer_is_sent_back_to_the_completeness_modal(client_for, ops):
    customer = make_customer(actor=ops, name="只有名字的物业")
    response = client_for(ops).get(f"{reverse('contracts:create')}?customer={customer.pk}")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/?gate=contract"
    (message,) = flashes(response)
    assert message.startswith("资料不全，添加合同前请先补全：")
    for label in ("营业执照号", "所属省份", "所属城市", "企业详细地址", "联系人", "联系电话"):
        assert label in message
    assert "企业名称" not in message  # it is filled in


def test_posting_for_an_incomplete_customer_is_refused_by_the_service(client_for, ops):
    customer = make_customer(actor=ops, name="只有名字的物业")
    url = f"{reverse('contracts:create')}?customer={customer.pk}"
    response = client_for(ops).post(url, form_data())
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{customer.pk}/?gate=contract"
    assert "营业执照号" in flashes(response)[0]
    assert Contract.objects.count() == 0


def test_create_form_defaults_party_b_to_the_current_user(client_for, ops, customer):
    ops.phone = "13911112222"
    ops.save()
    html = body(client_for(ops).get(page_url("create", Contract(customer=customer))))
    assert 'name="party_b_contact" value="运营小王"' in html.replace("\n", "")
    assert 'value="13911112222"' in html
    assert 'value="王经理"' in html  # 甲方对接人 from the customer's contact
    assert 'type="date"' in html and 'step="0.01"' in html


def test_create_flow_saves_uploads_and_audits(client_for, ops, customer):
    url = f"{reverse('contracts:create')}?customer={customer.pk}"
    data = form_data(account_no="4000 0234 0920 0123 456", amount="1234567.5")
    response = client_for(ops).post(url, {**data, "scan": pdf_upload()})
    contract = Contract.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("contracts:detail", args=[contract.pk])
    assert contract.customer == customer and contract.created_by == ops
    assert contract.account_no == "4000023409200123456"
    assert contract.amount == Decimal("1234567.50")
    assert contract.scan.name.endswith(".pdf")
    row = audit_rows(contract, "create").get()
    assert row.actor == ops and row.changes["amount"] == [None, "1234567.50"]
    detail = body(client_for(ops).get(response["Location"]))
    assert "4000 0234 0920 0123 456" in detail
    assert "¥1,234,567.50" in detail
    assert reverse("contracts:scan", args=[contract.pk]) in detail
    assert "操作记录" in detail and "新建" in detail


def post_create(client, customer, **overrides):
    url = f"{reverse('contracts:create')}?customer={customer.pk}"
    return client.post(url, form_data(**overrides))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"start_date": "2026-06-01", "end_date": "2026-05-31"},
            "合作截止时间不能早于合作开始时间",
        ),
        ({"communities": "0"}, "授权小区数须为大于 0 的整数"),
        ({"communities": "-1"}, "授权小区数："),
        ({"communities": "2.5"}, "授权小区数："),
        ({"amount": "-1"}, "合作金额不能为负数"),
        ({"amount": "100.125"}, "合作金额："),
        ({"amount": "十万"}, "合作金额："),
        ({"amount": "1" * 20}, "合作金额："),
        ({"account_no": "62220A1234567890"}, "账号应为 8–30 位数字"),
        ({"account_no": "1234567"}, "账号应为 8–30 位数字"),
        ({"party_a_phone": "12345"}, "甲方电话：请输入带区号的固定电话"),
        ({"party_b_phone": "0755-123"}, "乙方电话：请输入带区号的固定电话"),
        ({"start_date": "2026-13-45"}, "合作开始时间："),
        ({"end_date": ""}, "合作截止时间："),
        ({"bank_name": "   "}, "开户行："),
        ({"legal_representative": ""}, "法人代表："),
        ({"communities": str(10**12)}, "授权小区数不能超过 100000"),
    ],
)
def test_bad_input_gets_a_chinese_message_naming_the_field(
    client_for, ops, customer, overrides, expected
):
    response = post_create(client_for(ops), customer, **overrides)
    assert response.status_code == 200
    html = body(response)
    assert "请修正以下问题" in html
    assert expected in html
    label = expected.split("：")[0][:4]
    assert f"{label}：{label}" not in html  # the field is named once, not twice
    assert Contract.objects.count() == 0


def test_three_decimal_amount_message_is_chinese(client_for, ops, customer):
    html = body(post_create(client_for(ops), customer, amount="100.125"))
    assert "合作金额：确认小数不超过 2 位" in html


@pytest.mark.parametrize("phone", ["0755-86001234", "010-12345678-123", "+86 139 1111 2222"])
def test_landline_and_mobile_phones_are_accepted(client_for, ops, customer, phone):
    response = post_create(client_for(ops), customer, party_a_phone=phone, party_b_phone=phone)
    assert response.status_code == 302, body(response)
    assert Contract.objects.count() == 1


def test_19_digit_account_failing_luhn_is_accepted(client_for, ops, customer):
    response = post_create(client_for(ops), customer, account_no="6222021234567890124")
    assert response.status_code == 302
    assert Contract.objects.get().account_no == "6222021234567890124"


def test_scan_named_pdf_that_is_really_text_is_refused(client_for, ops, customer):
    url = f"{reverse('contracts:create')}?customer={customer.pk}"
    fake = SimpleUploadedFile("合同.pdf", "这不是 PDF，只是一段文字".encode(), "application/pdf")
    response = client_for(ops).post(url, {**form_data(), "scan": fake})
    assert response.status_code == 200
    assert "合同扫描件：只接受 PDF、JPG、PNG 格式的扫描件" in body(response)
    assert Contract.objects.count() == 0


def test_create_for_an_unknown_or_malformed_customer_is_404(client_for, ops):
    c = client_for(ops)
    assert c.get(f"{reverse('contracts:create')}?customer=999999").status_code == 404
    assert c.get(f"{reverse('contracts:create')}?customer=abc").status_code == 404


def test_create_without_customer_offers_a_customer_search(client_for, ops, customer):
    c = client_for(ops)
    html = body(c.get(reverse("contracts:create")))
    assert "选择客户" in html
    html = body(c.get(reverse("contracts:create"), {"q": "安居"}))
    assert f"?customer={customer.pk}" in html


# --- Edit and status -------------------------------------------------------------------


def test_edit_shows_current_values_and_saves_with_an_audit_row(client_for, ops, contract):
    c = client_for(ops)
    url = page_url("edit", contract)
    html = body(c.get(url))
    assert f'value="{contract.end_date.isoformat()}"' in html
    assert "已上传扫描件" in html
    response = c.post(url, form_data(amount="150000", communities="20"))
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.amount == Decimal("150000.00") and contract.communities == 20
    assert contract.scan  # kept when no new file is chosen
    row = audit_rows(contract, "update").get()
    assert row.changes == {"communities": [12, 20], "amount": ["128000.00", "150000.00"]}
    assert "合同已保存" in flashes(response)


def test_edit_with_bad_input_changes_nothing(client_for, ops, contract):
    response = client_for(ops).post(page_url("edit", contract), form_data(communities="0"))
    assert response.status_code == 200
    assert "授权小区数须为大于 0 的整数" in body(response)
    contract.refresh_from_db()
    assert contract.communities == 12
    assert not audit_rows(contract, "update").exists()


def test_edit_replaces_the_scan(client_for, ops, contract):
    old = contract.scan.name
    png = SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "image/png")
    client_for(ops).post(page_url("edit", contract), {**form_data(), "scan": png})
    contract.refresh_from_db()
    assert contract.scan.name != old and contract.scan.name.endswith(".png")
    assert audit_rows(contract, "update").get().changes["scan"][0] == old


def test_status_asks_for_confirmation(client_for, ops, contract):
    c = client_for(ops)
    fragment = body(c.get(page_url("status", contract), **HX))
    assert fragment.lstrip().startswith('<div class="modal-backdrop">')
    assert "确认关闭" in fragment and 'name="status" value="closed"' in fragment
    page = body(c.get(page_url("status", contract)))
    assert "<html" in page and "确认关闭" in page
    contract.refresh_from_db()
    assert contract.status == "open"  # a GET changes nothing


def test_status_close_and_reopen_write_audit_rows(client_for, ops, contract):
    c = client_for(ops)
    url = page_url("status", contract)
    response = c.post(url, {"status": "closed", "reason": "客户提前解约"})
    assert response.status_code == 302
    assert response["Location"] == reverse("contracts:detail", args=[contract.pk])
    contract.refresh_from_db()
    assert contract.status == "closed"
    row = audit_rows(contract, "close").get()
    assert row.message == "客户提前解约" and row.changes == {"status": ["open", "closed"]}
    # A repeated (stale) request does not toggle it back.
    response = c.post(url, {"status": "closed"})
    assert "该合同已是关闭状态" in flashes(response)
    assert audit_rows(contract, "close").count() == 1
    assert "开通" in body(c.get(url))  # the confirmation now offers 开通
    c.post(url, {"status": "open"})
    contract.refresh_from_db()
    assert contract.status == "open"
    assert audit_rows(contract, "activate").count() == 1
    html = body(c.get(page_url("detail", contract)))
    assert "客户提前解约" in html  # in the history section


def test_status_with_bad_input_changes_nothing(client_for, ops, contract):
    c = client_for(ops)
    response = c.post(page_url("status", contract), {"status": "deleted"})
    assert response.status_code == 302
    assert flashes(response)[0].startswith("状态：")
    response = c.post(page_url("status", contract), {"status": "closed", "reason": "长" * 201})
    assert flashes(response)[-1].startswith("说明：")
    contract.refresh_from_db()
    assert contract.status == "open"


# --- Scan download ---------------------------------------------------------------------


def test_scan_download_streams_the_file_privately(client_for, manager, contract):
    response = client_for(manager).get(page_url("scan", contract))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_scan_download_without_a_scan_is_404(client_for, ops, customer):
    contract = make_contract(actor=ops, customer=customer)
    response = client_for(ops).get(page_url("scan", contract))
    assert response.status_code == 404
    detail = body(client_for(ops).get(page_url("detail", contract)))
    assert "未上传" in detail and page_url("scan", contract) not in detail


def test_scan_download_needs_the_file_permission(client_for, ops, manager):
    from django.contrib.auth.models import Permission

    from apps.accounts.tests.factories import make_staff

    viewer = make_staff("viewer", None, name="只读")
    viewer.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_contract", "view_customer"],
            content_type__app_label__in=["contracts", "customers"],
        )
    )
    pool = make_customer(actor=manager, owner=None, complete=True)
    contract_of_pool = make_contract(actor=ops, customer=pool, scan=pdf_upload())
    c = client_for(viewer)
    assert c.get(page_url("detail", contract_of_pool)).status_code == 200
    assert c.get(page_url("scan", contract_of_pool)).status_code == 403
    assert page_url("scan", contract_of_pool) not in body(
        c.get(page_url("detail", contract_of_pool))
    )


# --- List ------------------------------------------------------------------------------


def test_list_shows_the_columns(client_for, ops, customer):
    today = timezone.localdate()
    make_contract(
        actor=ops,
        customer=customer,
        amount=Decimal("1234567.89"),
        communities=7,
        start_date=today - dt.timedelta(days=300),
        end_date=today + dt.timedelta(days=12),
    )
    html = body(client_for(ops).get(reverse("contracts:list")))
    assert f'href="/customers/{customer.pk}/"' in html and customer.name in html
    assert "李建国" in html and "¥1,234,567.89" in html
    assert (today + dt.timedelta(days=12)).isoformat() in html
    assert "12 天后到期" in html and '<span class="badge ok">开通</span>' in html


def test_list_search_filters_and_sort(client_for, ops, customer):
    other = make_customer(actor=ops, complete=True, name="杭州西湖物业")
    a = make_contract(actor=ops, customer=customer, amount=Decimal(500))
    b = make_contract(actor=ops, customer=other, amount=Decimal(90000), legal_representative="钱二")
    services.contract_set_status(actor=ops, contract=b, status="closed")
    c = client_for(ops)

    def shown(**params) -> list[int]:
        response = c.get(reverse("contracts:list"), params)
        html = body(response)
        return [x.pk for x in (a, b) if f'href="/contracts/{x.pk}/"' in html]

    assert shown(q="西湖") == [b.pk]
    assert shown(q=other.enterprise_no) == [b.pk]
    assert shown(q="钱二") == [b.pk]
    assert shown(q="李建国") == [a.pk]
    assert shown(status="closed") == [b.pk]
    assert shown(status="open") == [a.pk]
    html = body(c.get(reverse("contracts:list"), {"sort": "amount"}))
    assert html.index(f'href="/contracts/{a.pk}/"') < html.index(f'href="/contracts/{b.pk}/"')
    html = body(c.get(reverse("contracts:list"), {"sort": "-amount"}))
    assert html.index(f'href="/contracts/{b.pk}/"') < html.index(f'href="/contracts/{a.pk}/"')
    assert "没有符合条件的合同" in body(c.get(reverse("contracts:list"), {"q": "不存在的公司"}))


def test_list_expiring_filter_at_the_30_day_boundary(client_for, ops, customer):
    today = timezone.localdate()
    start = today - dt.timedelta(days=400)
    by_days = {
        days: make_contract(
            actor=ops, customer=customer, start_date=start, end_date=today + dt.timedelta(days)
        )
        for days in (-1, 0, 30, 31)
    }
    html = body(client_for(ops).get(reverse("contracts:list"), {"expiring": "1"}))
    listed = {d for d, x in by_days.items() if f'href="/contracts/{x.pk}/"' in html}
    assert listed == {0, 30}
    assert "30 天后到期" in html and "今天到期" in html
    everything = body(client_for(ops).get(reverse("contracts:list")))
    assert "已到期" in everything  # the one that ended yesterday
    assert everything.count("天后到期") == 1  # 31 days out carries no flag


def test_list_paginates_with_page_size_choices(client_for, ops, customer):
    for _ in range(25):
        make_contract(actor=ops, customer=customer)
    c = client_for(ops)
    html = body(c.get(reverse("contracts:list")))
    assert len(re.findall(r'href="/contracts/\d+/"', html)) == 20
    assert "共 25 条" in html and "第 1 / 2 页" in html
    html = body(c.get(reverse("contracts:list"), {"page_size": "50"}))
    assert "第 1 / 1 页" in html
    html = body(c.get(reverse("contracts:list"), {"page_size": "7"}))  # not a choice
    assert "第 1 / 2 页" in html


def test_list_answers_htmx_with_the_results_fragment(client_for, ops, contract):
    response = client_for(ops).get(reverse("contracts:list"), {"q": "安居"}, **HX)
    html = body(response)
    assert "<html" not in html and "<table" in html
    assert f'href="/contracts/{contract.pk}/"' in html


def list_queries(client, size: int) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("contracts:list"), {"page_size": str(size)})
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_runs_no_queries_per_row(client_for, ops, django_assert_max_num_queries):
    customers = [make_customer(actor=ops, complete=True) for _ in range(10)]
    for i in range(5):
        make_contract(actor=ops, customer=customers[i])
    c = client_for(ops)
    c.get(reverse("contracts:list"))  # warm caches (content types, session)
    five = list_queries(c, 50)
    for i in range(45):
        make_contract(actor=ops, customer=customers[i % 10])
    assert Contract.objects.count() == 50
    fifty = list_queries(c, 50)
    assert fifty == five
    with django_assert_max_num_queries(10):
        c.get(reverse("contracts:list"), {"page_size": "50"})


# --- The customer page's contracts partial ---------------------------------------------


def test_customer_contracts_partial_lists_with_the_expiry_badge(ops, customer):
    today = timezone.localdate()
    soon = make_contract(actor=ops, customer=customer, end_date=today + dt.timedelta(days=5))
    ended = make_contract(
        actor=ops,
        customer=customer,
        start_date=today - dt.timedelta(days=400),
        end_date=today - dt.timedelta(days=3),
    )
    html = render_to_string("contracts/_customer_contracts.html", {"contracts": [soon, ended]})
    assert f'href="/contracts/{soon.pk}/"' in html and f'href="/contracts/{ended.pk}/"' in html
    assert "5 天后到期" in html and "已到期" in html and "¥128,000.00" in html
    assert "暂无合同" in render_to_string("contracts/_customer_contracts.html", {"contracts": []})


def test_customer_page_shows_its_contracts(client_for, ops, customer):
    today = timezone.localdate()
    contract = make_contract(actor=ops, customer=customer, end_date=today + dt.timedelta(days=9))
    html = body(client_for(ops).get(reverse("customers:detail", args=[customer.pk])))
    assert f'href="/contracts/{contract.pk}/"' in html and "9 天后到期" in html
