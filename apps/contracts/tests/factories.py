"""Builders for contracts: created through the service on the real database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.customers.tests.factories import make_customer

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def contract_data(**overrides: Any) -> dict[str, Any]:
    today = timezone.localdate()
    data: dict[str, Any] = {
        "bank_name": "中国工商银行深圳南山支行",
        "legal_representative": "李建国",
        "account_no": "4000023409200123456",
        "start_date": today - dt.timedelta(days=100),
        "end_date": today + dt.timedelta(days=265),
        "communities": 12,
        "amount": Decimal("128000.00"),
        "party_a_contact": "王经理",
        "party_a_phone": "13800138000",
        "party_b_contact": "运营小王",
        "party_b_phone": "0755-86001234",
        "intro": "",
        "remarks": "",
    }
    data.update(overrides)
    return data


def form_data(**overrides: Any) -> dict[str, Any]:
    """What a browser posts: strings, dates as YYYY-MM-DD."""
    data = contract_data()
    data.update(overrides)
    return {k: (v.isoformat() if isinstance(v, dt.date) else str(v)) for k, v in data.items()}


def pdf_upload(name: str = "合同.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


def make_contract(*, actor, customer=None, scan=None, **overrides: Any):
    from apps.contracts.services import contract_create

    if customer is None:
        customer = make_customer(actor=actor, complete=True)
    return contract_create(
        actor=actor, customer=customer, data=contract_data(**overrides), scan=scan
    )
