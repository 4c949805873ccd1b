"""Builders for leads: registered or entered through the services on the real database."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from apps.leads.models import Lead

_numbers = itertools.count(1)


def new_phone() -> str:
    """A unique, valid mainland mobile number (11 digits)."""
    return f"139{next(_numbers):08d}"


def make_lead(
    *,
    owner: Any = None,
    channel: str = "web",
    company: str = "",
    name: str = "",
    phone: str = "",
    registered_ago: dt.timedelta | None = None,
    **fields: Any,
) -> Lead:
    """A lead as the public page registers it (``channel`` web/wechat/qr), or as staff enter
    it (``channel="offline"``, entered and owned by ``owner``). ``registered_ago`` backdates
    the registration; ``fields`` are set directly (test arrangement only)."""
    from apps.leads.services import lead_create_offline, lead_register

    name = name or f"申请人{next(_numbers)}"
    phone = phone or new_phone()
    if channel == "offline":
        lead = lead_create_offline(actor=owner, name=name, phone=phone, company=company)
    else:
        lead = lead_register(name=name, phone=phone, company=company, channel=channel).lead
    updates: dict[str, Any] = dict(fields)
    if channel != "offline" and owner is not None:
        updates["owner"] = owner
    if registered_ago is not None:
        updates["registered_at"] = timezone.now() - registered_ago
    if updates:
        Lead.objects.filter(pk=lead.pk).update(**updates)
        lead.refresh_from_db()
    return lead
