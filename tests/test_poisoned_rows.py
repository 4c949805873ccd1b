"""Rows poisoned in the past — written before the input rules existed, or by hand in the
database — never break a page, an API read or an export. They are written here directly
(``QuerySet.update`` bypasses every validation), then every list, detail page, the
操作日志 and every export is read as each role that can see them."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from apps.audit import services as audit
from apps.audit.models import AuditLog, ReadTally
from apps.contracts.models import Contract
from apps.core.excel import FORMULA_START
from apps.customers.models import Customer
from apps.customers.tests.factories import COMPLETE_PROFILE, make_customer, unique_uscc
from apps.leads.models import FollowUp, Lead, QrChannel
from apps.leads.services import lead_create_offline, lead_follow_up

pytestmark = pytest.mark.django_db

FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
FAR_PAST = dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.UTC)
# Control characters a database keeps (PostgreSQL refuses only NUL) and openpyxl refuses.
CONTROL_TEXT = "甲\x07物\x1b业\x0b"
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
FORMULA_TEXT = '=HYPERLINK("http://evil","点我")'


def _poison(manager) -> dict:
    profile = {**COMPLETE_PROFILE, "license_no": unique_uscc()}
    profile.pop("name")
    customer = make_customer(actor=manager, name="正常物业", **profile)
    contract = Contract(
        customer=customer,
        created_by=manager,
        bank_name="招商银行",
        legal_representative="王五",
        account_no="755912345610801",
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 12, 31),
        communities=3,
        amount="100.00",
        party_a_contact="甲方",
        party_a_phone="13800138000",
        party_b_contact="乙方",
        party_b_phone="13800138001",
    )
    contract.save()
    lead = lead_create_offline(actor=manager, name="申请人", phone="13700137000")
    lead_follow_up(actor=manager, lead=lead, method="phone", result="considering")
    nul = "" if connection.vendor == "postgresql" else "\x00"
    Customer.objects.filter(pk=customer.pk).update(
        name=CONTROL_TEXT + nul,
        contact_name=FORMULA_TEXT,
        intro="@SUM(1+1)\x01",
        address="-2+3",
        activated_at=FAR_FUTURE,
        closed_at=FAR_PAST,
    )
    Contract.objects.filter(pk=contract.pk).update(
        start_date=dt.date(1, 1, 1),
        end_date=dt.date(9999, 12, 31),
        bank_name=CONTROL_TEXT,
        legal_representative=FORMULA_TEXT,
    )
    Lead.objects.filter(pk=lead.pk).update(
        name=CONTROL_TEXT,
        company=FORMULA_TEXT + nul,
        next_follow_up_at=FAR_FUTURE,
        last_follow_up_at=FAR_PAST,
        registered_at=FAR_FUTURE,
    )
    FollowUp.objects.filter(lead=lead).update(next_follow_up_at=FAR_FUTURE, notes=CONTROL_TEXT)
    # Audit rows that carry the same values in their diffs and names.
    audit.record(
        actor=manager,
        action="update",
        obj=Lead.objects.get(pk=lead.pk),
        changes={
            "next_follow_up_at": [None, "9999-12-31T23:59:59+00:00"],
            "name": ["申请人", CONTROL_TEXT],
        },
        message=FORMULA_TEXT + "\x02",
    )
    AuditLog.objects.filter(object_id=str(customer.pk)).update(
        object_repr=CONTROL_TEXT, at=FAR_FUTURE
    )
    channel = QrChannel.objects.create(name="海报", code="POISON01", created_by=manager)
    QrChannel.objects.filter(pk=channel.pk).update(name=CONTROL_TEXT, campaign=FORMULA_TEXT)
    type(manager).objects.filter(pk=manager.pk).update(name=CONTROL_TEXT)
    ReadTally.objects.create(
        action="registry_read", source="token:1\x07", source_label=FORMULA_TEXT,
        actor=manager, object_key=CONTROL_TEXT + nul, object_repr=FORMULA_TEXT,
        count=2**62, first_at=FAR_PAST, last_at=FAR_FUTURE,
    )  # fmt: skip
    return {"customer": customer, "contract": contract, "lead": lead, "channel": channel}


def _pages(objects: dict) -> list[str]:
    c, k, lead = objects["customer"], objects["contract"], objects["lead"]
    return [
        reverse("console:dashboard"),
        reverse("customers:list"),
        reverse("customers:list") + "?q=甲",
        reverse("customers:detail", args=[c.pk]),
        reverse("customers:edit", args=[c.pk]),
        reverse("contracts:list"),
        reverse("contracts:list") + "?expiring=1",
        reverse("contracts:detail", args=[k.pk]),
        reverse("contracts:edit", args=[k.pk]),
        reverse("leads:list"),
        reverse("leads:to_call"),
        reverse("leads:pool"),
        reverse("leads:detail", args=[lead.pk]),
        reverse("leads:edit", args=[lead.pk]),
        reverse("leads:follow_up", args=[lead.pk]),
        reverse("audit:list"),
        reverse("audit:list") + f"?customer={c.pk}",
        f"/api/v1/customers/{c.pk}",
        "/api/v1/customers",
        f"/api/v1/contracts/{k.pk}",
        "/api/v1/contracts",
        f"/api/v1/customers/{c.pk}/contracts",
        f"/api/v1/leads/{lead.pk}",
        "/api/v1/leads",
        f"/api/v1/leads/{lead.pk}/follow-ups",
        reverse("leads:qr_list"),
        reverse("leads:qr_edit", args=[objects["channel"].pk]),
        "/api/v1/qr-channels",
        "/api/v1/me",
    ]


EXPORTS = ["customers:export", "leads:export", "contracts:export", "audit:export"]


def test_every_page_and_api_read_tolerates_poisoned_rows(client_for, manager, admin_user):
    objects = _poison(manager)
    for user in (manager, admin_user):
        client = client_for(user)
        urls = _pages(objects)
        if user == admin_user:
            urls += [
                reverse("accounts:staff_list"),
                reverse("accounts:staff_edit", args=[manager.pk]),
                reverse("audit:reads"),
                reverse("audit:reads") + "?q=甲",
            ]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (user.username, url, response.status_code)


@pytest.mark.parametrize("export", EXPORTS)
def test_every_export_tolerates_poisoned_rows_and_writes_text(client_for, admin_user, export):
    _poison(admin_user)
    response = client_for(admin_user).get(reverse(export))
    assert response.status_code == 200
    content = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = load_workbook(io.BytesIO(content)).active
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value is not None]
    assert cells
    formula_like = 0
    for cell in cells:
        # Never a formula, whatever the user typed: a string cell, and one that looks like a
        # formula carries Excel's quotePrefix (text as typed, text again when edited).
        assert cell.data_type != "f", (cell.coordinate, cell.value)
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
            assert cell.data_type == "s" and cell.quotePrefix, (cell.coordinate, cell.value)
            formula_like += 1
        if isinstance(cell.value, str):
            assert not ILLEGAL.search(cell.value), cell.value
    assert formula_like
    texts = {cell.value for cell in cells if isinstance(cell.value, str)}
    # What the user typed is still there, exactly.
    assert any(FORMULA_TEXT in text for text in texts)


@pytest.mark.parametrize(
    ("export", "model", "prefix"),
    [
        ("customers:export", Customer, "="),
        ("leads:export", Lead, "+"),
        ("leads:export", Lead, "@"),
        ("contracts:export", Contract, "-"),
    ],
)
def test_every_text_column_comes_back_as_plain_text(client_for, admin_user, export, model, prefix):
    """Every text column of the exported records set to a formula with a control character:
    each comes back as the same text (the control character replaced), never a formula."""
    from django.db import models

    _poison(admin_user)
    text_fields = [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField) and not f.choices
    ]
    values = {name: f"{prefix}cmd|'/C calc'!A{i}\x03" for i, name in enumerate(text_fields)}
    limits = {f.name: f.max_length for f in model._meta.concrete_fields}
    values = {k: v[: limits[k]] if limits[k] else v for k, v in values.items()}
    model.objects.update(**values)
    response = client_for(admin_user).get(reverse(export))
    sheet = load_workbook(io.BytesIO(response.getvalue())).active
    texts = [
        cell
        for row in sheet.iter_rows(min_row=2)
        for cell in row
        if isinstance(cell.value, str) and cell.value.startswith(prefix)
    ]
    assert len(texts) >= 4
    for cell in texts:
        assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
        assert ("\x03" not in cell.value and "\ufffd" in cell.value) or len(cell.value) < 20
