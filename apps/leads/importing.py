"""Excel import of leads (线下拓客 spreadsheets) from the template the console provides.

Every row is checked by the same rules as 线下录入 (``clean_applicant``: name, mainland
mobile — Unicode digits read as ASCII — company, notes; control characters refused; the
province by name from the dropdown) before anything is written; a phone already on a lead,
or twice in the file, is an error of its row, and so is a 负责人 who cannot hold leads or
would go over the 公海规则's holding cap. With any error nothing is imported and every error
is reported by row and column; otherwise all rows are created in one transaction, channel
线下, with one audit row each written in one statement. A row without 负责人 goes by the
分配规则 (``pool.place``), else to the importer. Formula-looking text is kept as typed: it
is text here, and every export writes it as text.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.scope import OwnerNames
from apps.audit import services as audit
from apps.core import regions
from apps.core.errors import Conflict, ValidationFailed
from apps.core.importing import (
    Column,
    ImportResult,
    RowError,
    errors_of,
    read_rows,
)
from apps.core.importing import template_bytes as build_template
from apps.core.permissions import require_perm

from . import pool
from .models import Channel, Lead
from .selectors import assignable_owners
from .services import _clean_notes, clean_applicant, clean_channel_ref, clean_province

PERM = "leads.import_lead"
MAX_ROWS = 5000


def columns() -> tuple[Column, ...]:
    return (
        Column("name", "姓名", required=True, width=14, example="张三"),
        Column("phone", "手机号", required=True, width=16, text=True, example="13800138000"),
        Column("company", "公司名", width=30, example="阳光物业服务有限公司"),
        Column(
            "province",
            "所在省份",
            width=14,
            choices=tuple(name for _code, name in regions.provinces()),
            example="广东省",
        ),
        Column(
            "owner",
            "负责人",
            width=14,
            choices=tuple(sorted({u.display_name for u in assignable_owners()})),
            strict=False,  # a username is accepted too
        ),
        Column("notes", "备注", width=40),
    )


def labels() -> dict[str, str]:
    return {c.name: c.header for c in columns()}


def template_bytes() -> bytes:
    return build_template(
        "客户申请", columns(), note="示例行，导入前请删除；负责人留空时按分配规则分配"
    )


def leads_import(*, actor: Any, upload: Any) -> ImportResult:
    """Check every row, then import all of them or none (see the module)."""
    require_perm(actor, PERM)
    cols = columns()
    label = {c.name: c.header for c in cols}
    rows = read_rows(upload, cols, max_rows=MAX_ROWS)
    owners = OwnerNames(assignable_owners(), unknown=_("不是可负责客户申请的在职员工"))
    errors: list[RowError] = []
    clean: list[tuple[int, dict[str, str], str, Any]] = []
    seen: dict[str, int] = {}
    for number, values in rows:
        try:
            data = clean_applicant(
                name=values["name"], phone=values["phone"], company=values["company"]
            )
            notes = _clean_notes(values["notes"])
            data["province"] = clean_province(values["province"])
        except ValidationFailed as exc:
            errors.extend(errors_of(number, exc, label))
            continue
        owner = None
        if values["owner"]:
            owner, problem = owners.find(values["owner"])
            if problem:
                errors.append(RowError(number, label["owner"], problem))
                continue
        if data["phone"] in seen:
            errors.append(
                RowError(
                    number,
                    label["phone"],
                    _("与第 %(r)d 行的手机号重复") % {"r": seen[data["phone"]]},
                )
            )
            continue
        seen[data["phone"]] = number
        clean.append((number, data, notes, owner))
    taken = set(
        Lead.objects.filter(phone__in=[row[1]["phone"] for row in clean]).values_list(
            "phone", flat=True
        )
    )
    for number, data, _notes, _owner in clean:
        if data["phone"] in taken:
            errors.append(RowError(number, label["phone"], _("该手机号已有客户申请，不重复导入")))
    errors.extend(_over_the_cap(clean, label["owner"]))
    if errors:
        return ImportResult(0, sorted(errors, key=lambda e: (e.row, e.column)))
    now = timezone.now()
    ref = clean_channel_ref(actor.username)
    try:
        with transaction.atomic():
            pending: Counter[int] = Counter()
            leads = []
            for _n, data, notes, owner in clean:
                lead = Lead(
                    **data,
                    notes=notes,
                    channel=Channel.OFFLINE,
                    channel_ref=ref,
                    created_by=actor,
                    registered_at=now,
                    last_applied_at=now,
                )
                lead.owner = owner or pool.place(lead, pending) or actor
                lead.owned_since = now
                leads.append(lead)
            Lead.objects.bulk_create(leads)
            created = list(Lead.objects.filter(phone__in=list(seen)).order_by("pk"))
            audit.record_many(
                actor=actor,
                action="import",
                entries=[(lead, {}) for lead in created],
                message=_("Excel 导入"),
            )
    except IntegrityError:  # the same phone entered meanwhile
        raise Conflict(_("导入期间有相同手机号的申请被录入，未导入任何行，请重试")) from None
    return ImportResult(len(created), [])


def _over_the_cap(clean: list[tuple[int, dict, str, Any]], column: str) -> list[RowError]:
    """Rows that would give a named 负责人 more open leads than the holding cap allows."""
    rules = pool.policy()
    if not rules.hold_limit:
        return []
    errors = []
    given: Counter[int] = Counter()
    held: dict[int, int] = {}
    for number, _data, _notes, owner in clean:
        if owner is None:
            continue
        if owner.pk not in held:
            held[owner.pk] = pool.held(owner)
        given[owner.pk] += 1
        if held[owner.pk] + given[owner.pk] > rules.hold_limit:
            errors.append(
                RowError(
                    number,
                    column,
                    _("%(who)s 已持有 %(n)d 条，最多持有 %(k)d 条")
                    % {"who": owner.display_name, "n": held[owner.pk], "k": rules.hold_limit},
                )
            )
    return errors
