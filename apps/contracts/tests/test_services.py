"""Contract rules (model + service) on real inputs, and the selectors' scope and filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from stdnum import luhn

from apps.audit.models import AuditLog
from apps.contracts import selectors, services
from apps.contracts.models import Contract
from apps.contracts.selectors import ContractFilters
from apps.core.errors import Conflict, Forbidden, NotFound, ProfileIncomplete, ValidationFailed
from apps.customers.tests.factories import make_customer

from .factories import contract_data, make_contract, pdf_upload

pytestmark = pytest.mark.django_db


def audit_rows(obj, action: str):
    return AuditLog.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk), action=action
    )


def refused(actor, customer, **overrides) -> ValidationFailed:
    before = Contract.objects.count()
    with pytest.raises(ValidationFailed) as info:
        services.contract_create(actor=actor, customer=customer, data=contract_data(**overrides))
    assert Contract.objects.count() == before
    return info.value


# --- Validation on real inputs ---------------------------------------------------------


def test_end_before_start_is_refused(ops, customer):
    today = timezone.localdate()
    exc = refused(ops, customer, start_date=today, end_date=today - dt.timedelta(days=1))
    assert exc.fields == {"end_date": ["合作截止时间不能早于合作开始时间"]}
    assert "合作截止时间" in exc.message


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("end_date", "2026-02-30"),
        ("start_date", "下个月"),
        ("amount", "十万"),
        ("communities", "x"),
    ],
)
def test_unparsable_raw_values_are_refused_not_a_crash(ops, customer, field, raw):
    # API callers may hand the service strings; a bad one is a field error, never a 500.
    exc = refused(ops, customer, **{field: raw})
    assert list(exc.fields) == [field]


def test_string_values_are_parsed(ops, customer):
    c = services.contract_create(
        actor=ops,
        customer=customer,
        data=contract_data(
            start_date="2026-01-01", end_date="2026-12-31", amount="36000", communities="3"
        ),
    )
    c.refresh_from_db()
    assert (c.start_date, c.end_date) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert (c.amount, c.communities) == (Decimal("36000.00"), 3)


def test_end_equal_to_start_is_accepted(ops, customer):
    today = timezone.localdate()
    c = services.contract_create(
        actor=ops, customer=customer, data=contract_data(start_date=today, end_date=today)
    )
    assert c.start_date == c.end_date == today


@pytest.mark.parametrize("communities", [0, -3])
def test_communities_must_be_positive(ops, customer, communities):
    exc = refused(ops, customer, communities=communities)
    assert "communities" in exc.fields
    assert "授权小区数" in exc.message


def test_negative_amount_is_refused(ops, customer):
    exc = refused(ops, customer, amount=Decimal("-0.01"))
    assert exc.fields["amount"] == ["合作金额不能为负数"]
    assert exc.message.startswith("合作金额：")


def test_amount_with_three_decimals_is_refused(ops, customer):
    exc = refused(ops, customer, amount=Decimal("100.125"))
    assert "amount" in exc.fields
    assert "合作金额" in exc.message and "2" in exc.fields["amount"][0]


def test_zero_amount_and_two_decimals_are_accepted(ops, customer):
    assert make_contract(actor=ops, customer=customer, amount=Decimal("0")).amount == 0
    c = make_contract(actor=ops, customer=customer, amount=Decimal("99999.99"))
    c.refresh_from_db()
    assert c.amount == Decimal("99999.99")


@pytest.mark.parametrize("account", ["62220A1234567890", "6222-0212-34x6", "1234567", "1" * 31])
def test_bad_account_numbers_are_refused(ops, customer, account):
    exc = refused(ops, customer, account_no=account)
    assert "账号应为 8–30 位数字" in exc.fields["account_no"]
    assert "账号" in exc.message


def test_19_digit_account_failing_luhn_is_accepted(ops, customer):
    account = "4000023409200123456"
    assert len(account) == 19 and not luhn.is_valid(account)  # corporate: no Luhn
    c = make_contract(actor=ops, customer=customer, account_no=account)
    c.refresh_from_db()
    assert c.account_no == account


def test_account_spaces_and_dashes_are_dropped(ops, customer):
    c = make_contract(actor=ops, customer=customer, account_no=" 4000 0234-0920 0123 456 ")
    assert c.account_no == "4000023409200123456"


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0755-86001234", "0755-86001234"),
        ("010-12345678-123", "010-12345678-123"),
        ("(0571)87654321", "(0571)87654321"),
        ("400-820-8820", "400-820-8820"),
    ],
)
def test_real_phones_are_accepted(ops, customer, phone, stored):
    c = make_contract(actor=ops, customer=customer, party_a_phone=phone, party_b_phone=phone)
    assert c.party_a_phone == stored
    assert c.party_b_phone == stored


@pytest.mark.parametrize("phone", ["12345", "1380013800", "0755-123", "abc-12345678"])
def test_bad_phones_are_refused(ops, customer, phone):
    exc = refused(ops, customer, party_a_phone=phone)
    assert "party_a_phone" in exc.fields
    assert "甲方电话" in exc.message


def test_required_fields_are_named(ops, customer):
    exc = refused(ops, customer, bank_name="  ", legal_representative="")
    assert set(exc.fields) >= {"bank_name", "legal_representative"}
    assert "开户行" in exc.message and "法人代表" in exc.message


def test_huge_community_count_is_refused_not_a_database_error(ops, customer):
    exc = refused(ops, customer, communities=10**12)
    assert exc.fields["communities"] == ["授权小区数不能超过 100000"]
    assert make_contract(actor=ops, customer=customer, communities=100_000).communities == 100_000


def test_overlong_remarks_are_refused(ops, customer):
    exc = refused(ops, customer, remarks="备" * 2001)
    assert "remarks" in exc.fields and "备注" in exc.message


def test_unknown_field_is_refused(ops, customer):
    exc = refused(ops, customer, customer_id=1)
    assert "customer_id" in exc.fields


# --- Scans ---------------------------------------------------------------------------


def test_scan_named_pdf_that_is_text_is_refused(ops, customer):
    fake = SimpleUploadedFile("合同.pdf", b"just some text, not a PDF", "application/pdf")
    with pytest.raises(ValidationFailed) as info:
        services.contract_create(actor=ops, customer=customer, data=contract_data(), scan=fake)
    assert info.value.fields["scan"] == ["只接受 PDF、JPG、PNG 格式的扫描件"]
    assert Contract.objects.count() == 0


def test_scan_is_stored_under_the_type_of_its_content(ops, customer):
    png = SimpleUploadedFile("scan.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "application/pdf")
    c = make_contract(actor=ops, customer=customer, scan=png)
    assert c.scan.name.startswith("contracts/") and c.scan.name.endswith(".png")


# --- Gate, permissions, audit ---------------------------------------------------------


def test_incomplete_customer_cannot_get_a_contract(ops):
    customer = make_customer(actor=ops, name="只有名字的物业")
    with pytest.raises(ProfileIncomplete) as info:
        services.contract_create(actor=ops, customer=customer, data=contract_data())
    assert "营业执照号" in info.value.message and "联系电话" in info.value.message
    assert "license_no" in info.value.fields
    assert Contract.objects.count() == 0


@pytest.mark.parametrize("who", ["devops", "nobody"])
def test_create_needs_the_permission(request, customer, who):
    with pytest.raises(Forbidden):
        services.contract_create(
            actor=request.getfixturevalue(who), customer=customer, data=contract_data()
        )


def test_create_writes_an_audit_row(ops, customer):
    c = make_contract(actor=ops, customer=customer, scan=pdf_upload())
    row = audit_rows(c, "create").get()
    assert row.actor == ops
    assert row.changes["amount"] == [None, "128000.00"]
    assert row.changes["account_no"] == [None, "4000023409200123456"]


def test_update_writes_the_changed_fields_only(ops, contract):
    services.contract_update(
        actor=ops, contract=contract, data={"amount": Decimal("150000"), "communities": 12}
    )
    row = audit_rows(contract, "update").get()
    assert row.changes == {"amount": ["128000.00", "150000.00"]}
    services.contract_update(actor=ops, contract=contract, data={"communities": 12})
    assert audit_rows(contract, "update").count() == 1


def test_status_toggle_is_audited_and_refuses_a_repeat(ops, contract):
    services.contract_set_status(actor=ops, contract=contract, status="closed", reason="客户解约")
    contract.refresh_from_db()
    assert contract.status == Contract.Status.CLOSED
    row = audit_rows(contract, "close").get()
    assert row.changes == {"status": ["open", "closed"]} and row.message == "客户解约"
    with pytest.raises(Conflict) as info:
        services.contract_set_status(actor=ops, contract=contract, status="closed")
    assert info.value.message == "该合同已是关闭状态"
    services.contract_set_status(actor=ops, contract=contract, status="open")
    assert audit_rows(contract, "activate").count() == 1


def test_status_toggle_validates_its_input(ops, devops, contract):
    with pytest.raises(ValidationFailed):
        services.contract_set_status(actor=ops, contract=contract, status="deleted")
    with pytest.raises(ValidationFailed):
        services.contract_set_status(
            actor=ops, contract=contract, status="closed", reason="x" * 201
        )
    with pytest.raises(Forbidden):
        services.contract_set_status(actor=devops, contract=contract, status="closed")


# --- Selectors -------------------------------------------------------------------------


def test_scope_ops_sees_own_and_pool_manager_sees_all(ops, ops2, manager, contract, other_contract):
    pool_customer = make_customer(actor=manager, owner=None, complete=True)
    pool = make_contract(actor=manager, customer=pool_customer)
    ops_ids = set(selectors.visible_contracts(ops).values_list("id", flat=True))
    assert ops_ids == {contract.pk, pool.pk}
    all_ids = {contract.pk, other_contract.pk, pool.pk}
    assert set(selectors.visible_contracts(manager).values_list("id", flat=True)) == all_ids
    with pytest.raises(NotFound):
        selectors.access_contract(ops, other_contract.pk)
    with pytest.raises(NotFound):
        selectors.access_contract(ops, 10**9)


def test_devops_sees_no_contracts(devops, contract):
    assert not selectors.visible_contracts(devops).exists()
    with pytest.raises(Forbidden):
        selectors.access_contract(devops, contract.pk)


def test_expiring_filter_at_the_30_day_boundary(ops, customer):
    today = timezone.localdate()
    start = today - dt.timedelta(days=400)

    def ending(days: int, **kw) -> Contract:
        return make_contract(
            actor=ops, customer=customer, start_date=start, end_date=today + dt.timedelta(days)
        )

    inside = {ending(0).pk, ending(1).pk, ending(30).pk}
    outside = {ending(31).pk, ending(-1).pk}
    closed = ending(10)
    services.contract_set_status(actor=ops, contract=closed, status="closed")
    found = set(
        selectors.contract_list(user=ops, filters=ContractFilters(expiring=True)).values_list(
            "id", flat=True
        )
    )
    assert found == inside
    assert not (found & outside) and closed.pk not in found
    # The badge agrees with the filter.
    flags = {c.pk: c.expiry for c in Contract.objects.all()}
    assert all(flags[pk] and flags[pk].state == "expiring" for pk in inside)
    labels = {c.days_left(): c.expiry.label for c in Contract.objects.filter(pk__in=inside)}
    assert labels == {0: "今天到期", 1: "1 天后到期", 30: "30 天后到期"}
    past = Contract.objects.get(end_date=today - dt.timedelta(days=1))
    assert past.expiry.state == "expired" and past.expiry.label == "已到期"
    assert Contract.objects.get(end_date=today + dt.timedelta(days=31)).expiry is None
    assert Contract.objects.get(pk=closed.pk).expiry is None


def test_search_status_and_sort(ops, customer):
    other = make_customer(actor=ops, complete=True, name="杭州西湖物业")
    mine = customer
    a = make_contract(actor=ops, customer=mine, amount=Decimal(500), legal_representative="赵一")
    b = make_contract(actor=ops, customer=other, amount=Decimal(90000), legal_representative="钱二")
    c = make_contract(actor=ops, customer=other, amount=Decimal(7000), legal_representative="孙三")
    services.contract_set_status(actor=ops, contract=c, status="closed")

    def ids(**kw) -> list[int]:
        return list(
            selectors.contract_list(user=ops, filters=ContractFilters(**kw)).values_list(
                "id", flat=True
            )
        )

    assert ids(q="西湖") == [c.pk, b.pk]
    assert ids(q=other.enterprise_no.lower()) == [c.pk, b.pk]
    assert ids(q="钱二") == [b.pk]
    assert ids(status="closed") == [c.pk]
    assert ids(status="open", sort="amount") == [a.pk, b.pk]
    assert ids(sort="-amount") == [b.pk, c.pk, a.pk]
    assert ids(customer=str(customer.pk)) == [a.pk]


def test_customer_contracts_is_scoped(ops, ops2, manager, contract):
    assert list(selectors.customer_contracts(user=ops, customer=contract.customer)) == [contract]
    assert list(selectors.customer_contracts(user=ops2, customer=contract.customer)) == []
    assert list(selectors.customer_contracts(user=manager, customer=contract.customer)) == [
        contract
    ]
