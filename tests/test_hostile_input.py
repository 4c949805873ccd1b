"""Hostile input at every entry: field types × hostile values × API, console form and public
page. Each answer is a 4xx naming the field, or a normalised value stored — never a 500,
never a half-stored record, never a value that breaks a page afterwards.

Runs on whichever control database ``DATABASE_URL`` names (the test script runs it on
SQLite, MariaDB and PostgreSQL)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.contracts.models import Contract
from apps.customers.models import Customer
from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc
from apps.datasources.models import DataSource
from apps.leads.models import FollowUp, Lead, QrChannel

pytestmark = pytest.mark.django_db

HUGE = 10**20
HOSTILE: dict[str, Any] = {
    "control": "测试\x07物业",
    "c1": "测试\x85物业",
    "nul": "测试\x00物业",
    "surrogate": "测试\ud800物业",  # JSON only: an HTML form cannot carry one
    "year9999": "9999-12-31",
    "year9999t": "9999-12-31T23:59:59",
    "year1": "0001-01-01",
    "huge": HUGE,
    "huge_neg": -HUGE,
    "unicode_digits": "１３８００１３８０００",
    "arabic_digits": "13٨00138000",
    "long": "长" * 100_000,
}
# Characters that must never be stored.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

CONTRACT_BASE = {
    "bank_name": "招商银行深圳分行",
    "legal_representative": "王五",
    "account_no": "755912345610801",
    "start_date": "2026-01-01",
    "end_date": "2026-12-31",
    "communities": 3,
    "amount": "12000.00",
    "party_a_contact": "甲方张三",
    "party_a_phone": "13800138000",
    "party_b_contact": "乙方李四",
    "party_b_phone": "0755-12345678",
}


@dataclass
class Target:
    """One write entry: where to send, the valid rest of the body, and how to find the
    stored record."""

    name: str
    kind: str  # api | form | public
    fields: dict[str, str]  # field → type (for ids only)
    base: dict[str, Any] = field(default_factory=dict)
    role: str = "manager"  # the fixture of the member of staff who sends it


TARGETS = [
    Target(
        "api_customer",
        "api",
        {
            "name": "short",
            "intro": "multiline",
            "contact_phone": "phone",
            "license_no": "licence",
            "email": "email",
            "office_phone": "phone",
        },
        {"name": "测试物业"},
    ),
    Target(
        "api_contract",
        "api",
        {
            "bank_name": "short",
            "remarks": "multiline",
            "account_no": "digits",
            "start_date": "date",
            "communities": "integer",
            "amount": "decimal",
            "party_a_phone": "phone",
            "status": "enum",
        },
        CONTRACT_BASE,
    ),
    Target(
        "api_lead",
        "api",
        {"name": "short", "phone": "phone", "notes": "multiline", "company": "short"},
        {"name": "王经理", "phone": "13900139000"},
    ),
    Target(
        "api_follow_up",
        "api",
        {"next_follow_up_at": "datetime", "notes": "multiline", "method": "enum"},
        {"method": "phone", "result": "considering"},
    ),
    Target("api_qr", "api", {"name": "short", "campaign": "short"}, {"name": "海报 A"}),
    Target(
        # 检测连接 against a closed local port: hostile values must be refused before any
        # connection is attempted, and nothing is ever saved by a check.
        "api_datasource_check",
        "api",
        {
            "host": "short",
            "username": "short",
            "port": "integer",
            "max_connections": "integer",
            "remarks": "multiline",
        },
        {
            "host": "127.0.0.1",
            "port": 1,
            "db_type": "mysql",
            "username": "tenant_app",
            "password": "Str0ng!Passw0rd",
            "max_connections": 10,
            "min_connections": 1,
        },
        role="admin_user",
    ),
    Target("form_qr", "form", {"name": "short", "campaign": "short"}, {"name": "海报 A"}),
    Target(
        "form_customer",
        "form",
        {
            "name": "short",
            "intro": "multiline",
            "contact_phone": "phone",
            "license_no": "licence",
            "email": "email",
        },
        {"name": "测试物业"},
    ),
    Target(
        "form_contract",
        "form",
        {
            "bank_name": "short",
            "remarks": "multiline",
            "account_no": "digits",
            "start_date": "date",
            "communities": "integer",
            "amount": "decimal",
        },
        CONTRACT_BASE,
    ),
    Target(
        "form_lead",
        "form",
        {"name": "short", "phone": "phone", "notes": "multiline"},
        {"name": "王经理", "phone": "13900139000"},
    ),
    Target(
        "form_follow_up",
        "form",
        {"next_follow_up_at": "datetime", "notes": "multiline", "method": "enum"},
        {"method": "phone", "result": "considering"},
    ),
    Target(
        "public_api",
        "api",
        {"name": "short", "phone": "phone", "company": "short", "ref": "short"},
        {"name": "王经理", "phone": "13900139000", "code": "000000", "consent": True},
    ),
    Target(
        "public_page",
        "public",
        {"name": "short", "phone": "phone", "company": "short", "code": "digits"},
        {"name": "王经理", "phone": "13900139000", "code": "000000", "consent": "1"},
    ),
]

CASES = [
    pytest.param(t, f, v, id=f"{t.name}-{f}-{v}")
    for t in TARGETS
    for f in t.fields
    for v in HOSTILE
    if not (v == "surrogate" and t.kind != "api")
]


def _counts() -> tuple[int, ...]:
    return (
        Customer.objects.count(),
        Contract.objects.count(),
        Lead.objects.count(),
        FollowUp.objects.count(),
        QrChannel.objects.count(),
        DataSource.objects.count(),
    )


def _setup(target: Target, manager) -> dict[str, Any]:
    """Objects the target needs (a complete customer, an open lead)."""
    from apps.leads.services import lead_create_offline

    context: dict[str, Any] = {}
    if "contract" in target.name or "datasource" in target.name:
        profile = {**COMPLETE_PROFILE, "license_no": unique_uscc()}
        profile.pop("name")
        context["customer"] = make_customer(actor=manager, name="合同客户", **profile)
    if "follow_up" in target.name:
        context["lead"] = lead_create_offline(actor=manager, name="跟进人", phone="13700137000")
    return context


def _send(client, target: Target, context: dict[str, Any], body: dict[str, Any]):
    if target.kind == "api":
        url = {
            "api_customer": "/api/v1/customers",
            "api_lead": "/api/v1/leads",
            "public_api": "/api/v1/public/registrations",
        }.get(target.name)
        if target.name == "api_contract":
            url = f"/api/v1/customers/{context['customer'].pk}/contracts"
        if target.name == "api_follow_up":
            url = f"/api/v1/leads/{context['lead'].pk}/follow-ups"
        if target.name == "api_qr":
            url = "/api/v1/qr-channels"
        if target.name == "api_datasource_check":
            url = f"/api/v1/customers/{context['customer'].pk}/datasource/check"
        raw = json.dumps(body, ensure_ascii=True)
        return client.post(url, raw, content_type="application/json")
    data = {k: ("" if v is None else str(v)) for k, v in body.items()}
    if target.kind == "public":
        return client.post(reverse("public:apply"), data)
    if target.name == "form_customer":
        return client.post(reverse("customers:create"), data)
    if target.name == "form_contract":
        url = reverse("contracts:create") + f"?customer={context['customer'].pk}"
        return client.post(url, data)
    if target.name == "form_qr":
        return client.post(reverse("leads:qr_create"), data)
    if target.name == "form_lead":
        return client.post(reverse("leads:create"), data)
    if target.name == "form_follow_up":
        return client.post(reverse("leads:follow_up", args=[context["lead"].pk]), data)
    raise AssertionError(target.name)


def _form_errors(response) -> dict[str, Any]:
    context = response.context
    if context is None:
        return {}
    errors: dict[str, Any] = {}
    for key in ("form", "profile_form"):
        form = context.get(key) if hasattr(context, "get") else None
        if form is not None and hasattr(form, "errors"):
            errors.update(form.errors)
    if "errors" in context and isinstance(context["errors"], dict):
        errors.update(context["errors"])
    return errors


def _stored_values() -> list[str]:
    """Every text value of the records the targets write."""
    values: list[str] = []
    for model in (Customer, Contract, Lead, FollowUp, QrChannel):
        for row in model.objects.values():
            values.extend(str(v) for v in row.values() if v is not None)
    return values


@pytest.mark.parametrize(("target", "field_name", "value_key"), CASES)
def test_hostile_value_is_refused_or_normalised(
    request, client_for, manager, target, field_name, value_key
):
    context = _setup(target, manager)
    sender = request.getfixturevalue(target.role)
    client = client_for(None if target.kind == "public" else sender)
    before = _counts()
    value = HOSTILE[value_key]
    body = {**target.base, field_name: value}
    response = _send(client, target, context, body)

    assert response.status_code < 500, response.content[:500]
    accepted = response.status_code in (200, 201, 202, 302) and not (
        target.kind != "api" and _form_errors(response)
    )
    if target.kind == "api" and response.status_code >= 400:
        payload = response.json()
        assert payload["code"] and payload["message"]
        if response.status_code == 422 and target.name != "public_api":
            assert field_name in payload["fields"], payload
        assert _counts() == before
    elif not accepted:
        if target.kind == "form":
            assert field_name in _form_errors(response), _form_errors(response)
        assert _counts() == before
    for stored in _stored_values():
        assert not FORBIDDEN.search(stored), (field_name, stored[:80])
        assert len(stored) < 50_000
    if _counts() == before:
        return
    # Whatever was stored renders.
    for url in (reverse("customers:list"), reverse("leads:list"), reverse("contracts:list")):
        assert client_for(manager).get(url).status_code == 200
    for lead in Lead.objects.all():
        assert client_for(manager).get(reverse("leads:detail", args=[lead.pk])).status_code == 200
    for customer in Customer.objects.all():
        url = reverse("customers:detail", args=[customer.pk])
        assert client_for(manager).get(url).status_code == 200


UNICODE_PHONES = ["１３８００１３８０００", "13٨00138000", "1380013８000"]


@pytest.mark.parametrize("phone", UNICODE_PHONES)
def test_unicode_digits_are_the_same_phone_for_the_one_open_lead_rule(client_for, manager, phone):
    from apps.leads.services import lead_create_offline

    lead_create_offline(actor=manager, name="先来", phone="13800138000")
    response = client_for(manager).post(
        "/api/v1/leads",
        json.dumps({"name": "后到", "phone": phone}),
        content_type="application/json",
    )
    assert response.status_code == 409
    assert Lead.objects.count() == 1


@pytest.mark.parametrize("phone", UNICODE_PHONES)
def test_unicode_digits_are_stored_ascii(client_for, manager, phone):
    response = client_for(manager).post(
        "/api/v1/leads",
        json.dumps({"name": "王经理", "phone": phone}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert Lead.objects.get().phone == "+8613800138000"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/customers?page={n}",
        "/api/v1/customers?owner={n}",
        "/api/v1/leads?page={n}",
        "/api/v1/contracts?customer={n}",
        "/api/v1/customers/{n}",
        "/api/v1/leads/{n}",
        "/customers/{n}/",
        "/leads/{n}/",
        "/customers/?page={n}",
        "/customers/?owner={n}",
        "/leads/?page={n}",
        "/contracts/?customer={n}",
        "/audit/?customer={n}",
    ],
)
@pytest.mark.parametrize("n", [HUGE, -HUGE, "１２"])
def test_absurd_integers_in_filters_and_paths(client_for, admin_user, url, n):
    response = client_for(admin_user).get(url.format(n=n))
    assert response.status_code in (200, 404, 422), (url, response.status_code)


@pytest.mark.parametrize("name", ["scan\x00.png", "scan\ud800.png", "=cmd|' /C calc'!A0.png"])
def test_hostile_upload_file_names(client_for, manager, name):
    profile = {**COMPLETE_PROFILE, "license_no": unique_uscc()}
    profile.pop("name")
    customer = make_customer(actor=manager, name="合同客户", **profile)
    safe = name.encode("utf-8", "replace").decode("utf-8")
    upload = SimpleUploadedFile(safe, PNG, content_type="image/png")
    url = reverse("contracts:create") + f"?customer={customer.pk}"
    response = client_for(manager).post(url, {**CONTRACT_BASE, "scan": upload})
    assert response.status_code in (200, 302)
    for contract in Contract.objects.all():
        assert not FORBIDDEN.search(contract.scan.name)
        detail = reverse("contracts:detail", args=[contract.pk])
        assert client_for(manager).get(detail).status_code == 200


@pytest.mark.parametrize("phone", UNICODE_PHONES)
def test_unicode_digits_share_the_sms_cooldown(client, sms_cache, sms_clock, phone):
    first = client.post(
        "/api/v1/public/sms-codes",
        json.dumps({"phone": "13800138000"}),
        content_type="application/json",
    )
    assert first.status_code == 202
    again = client.post(
        "/api/v1/public/sms-codes", json.dumps({"phone": phone}), content_type="application/json"
    )
    assert again.status_code == 429


@pytest.mark.parametrize("name", ["scan\x00.png", "scan\ud800.png", "=cmd|' /C calc'!A0.png"])
def test_hostile_upload_file_names_in_the_api(client_for, manager, name):
    from django.test.client import MULTIPART_CONTENT, encode_multipart

    profile = {**COMPLETE_PROFILE, "license_no": unique_uscc()}
    profile.pop("name")
    customer = make_customer(actor=manager, name="执照客户", **profile)
    safe = name.encode("utf-8", "replace").decode("utf-8")
    upload = SimpleUploadedFile(safe, PNG, content_type="image/png")
    client = client_for(manager)
    url = f"/api/v1/customers/{customer.pk}/license-scan"
    body = encode_multipart("BoUnDaRyStRiNg", {"file": upload})
    response = client.put(url, body, content_type=MULTIPART_CONTENT)
    assert response.status_code < 500
    customer.refresh_from_db()
    assert not FORBIDDEN.search(customer.license_scan.name or "")
    assert client.get(f"/api/v1/customers/{customer.pk}").status_code == 200
