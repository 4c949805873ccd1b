"""The registry feed: every tenant in the order of its last change, paged by cursor.

Each tenant has a place in the feed: the value of the "registry" sequence it took with its
last change the business system sees (``customers.services.registry_changed``). Values
are handed out in commit order, so walking the feed by value never passes a change that
is still to commit, and a tenant that changes during a walk moves ahead of the walker —
seen again, newer, before the walk ends; never skipped.

A cursor holds two values: ``after`` (the last place read) and ``floor``. Tenants whose
data source was deleted stay in the feed as ``removed`` items, but only past the floor: a
walk from the start (floor = the head when it began) lists the fleet as it is, plus what
was removed while it walked; a walk from a cursor or from ``changed_since`` (floor = its
start) reports every removal since.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Min, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from apps.core.errors import ValidationFailed
from apps.core.inputs import DATE_MAX, DATE_MIN
from apps.core.models import current_value
from apps.customers.models import Customer
from apps.customers.services import REGISTRY_SEQUENCE

from .selectors import REGISTRY_FIELDS, RegistryEntry, entry_of

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

# The per-tenant read's columns, seen from the customer (the data source may be gone).
_FIELDS = (
    "registry_seq",
    "registry_changed_at",
    *(f.removeprefix("customer__") if f.startswith("customer__") else f"datasource__{f}"
      for f in REGISTRY_FIELDS),
)  # fmt: skip


@dataclass(frozen=True)
class Cursor:
    after: int
    floor: int

    def encode(self) -> str:
        raw = f"{self.after}.{self.floor}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a previous page gave, or a 422 naming the field."""
        invalid = ValidationFailed(
            _("游标：无效的游标，请使用上一页返回的 next_cursor"),
            fields={"cursor": [_("无效的游标，请使用上一页返回的 next_cursor")]},
        )
        text = (text or "").strip()
        if not text or len(text) > 64 or not text.isascii():
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            after, floor = (int(part) for part in raw.split("."))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise invalid from None
        if not (0 <= after < 2**63 and 0 <= floor < 2**63):
            raise invalid
        return cls(after, floor)


@dataclass(frozen=True)
class Item:
    seq: int
    changed_at: dt.datetime
    enterprise_no: str
    name: str
    entry: RegistryEntry | None  # None: removed from the registry (no data source)

    def as_dict(self) -> dict[str, Any]:
        """The item as the feed publishes it — the password decrypted."""
        changed_at = timezone.localtime(self.changed_at).isoformat()
        if self.entry is None:
            return {
                "enterprise_no": self.enterprise_no,
                "name": self.name,
                "removed": True,
                "changed_at": changed_at,
            }
        data = self.entry.payload()
        data.update(removed=False, changed_at=changed_at, etag=self.entry.etag)
        return data


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_cursor: Cursor
    has_more: bool
    etag: str

    def body(self) -> str:
        data = {
            "items": [item.as_dict() for item in self.items],
            "next_cursor": self.next_cursor.encode(),
            "has_more": self.has_more,
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def parse_changed_since(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time (local time when it names no zone), or a 422. Times
    before 2000 or after 2100 are taken as those bounds (nothing changed outside them)."""
    message = _("请使用 ISO 8601 时间，例如 2026-12-01T08:00:00+08:00")
    value = (text or "").strip()
    try:
        parsed: Any = parse_datetime(value) if len(value) > 10 else parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) > 40:
        raise ValidationFailed(
            _("变更起始时间：%(m)s") % {"m": message}, fields={"changed_since": [message]}
        )
    if not isinstance(parsed, dt.datetime):
        parsed = dt.datetime.combine(parsed, dt.time())
    bounds = [dt.datetime.combine(d, dt.time()) for d in (DATE_MIN, DATE_MAX)]
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(min(max(parsed, bounds[0]), bounds[1]))
    else:
        low, high = (timezone.make_aware(b) for b in bounds)
        if parsed.utcoffset() is not None and (parsed.year < 2000 or parsed.year > 2100):
            parsed = low if parsed.year < 2000 else high
        parsed = min(max(parsed, low), high)
    return parsed


def page(
    *,
    cursor: Cursor | None = None,
    changed_since: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """One page of the feed: from ``cursor``; else the tenants changed at or after
    ``changed_since`` (and what was removed since); else the whole fleet from the start.
    Two queries at most."""
    if cursor is None:
        head = current_value(REGISTRY_SEQUENCE)  # read first: later values are past it
        if changed_since is None:
            cursor = Cursor(0, head)
        else:
            first = Customer.objects.filter(
                registry_changed_at__gte=changed_since, registry_seq__isnull=False
            ).aggregate(first=Min("registry_seq"))["first"]
            start = head if first is None else first - 1
            cursor = Cursor(start, start)
    rows = list(
        Customer.objects.filter(registry_seq__gt=cursor.after)
        .filter(Q(datasource__isnull=False) | Q(registry_seq__gt=cursor.floor))
        .order_by("registry_seq")
        .values_list(*_FIELDS)[: limit + 1]
    )
    has_more = len(rows) > limit
    items = [_item(row) for row in rows[:limit]]
    after = items[-1].seq if items else cursor.after
    next_cursor = Cursor(after, cursor.floor)
    tags = [(item.seq, item.entry.etag if item.entry else "removed") for item in items]
    digest = hashlib.sha256(json.dumps([tags, next_cursor.encode(), has_more]).encode()).hexdigest()
    return Page(items, next_cursor, has_more, f'"{digest[:40]}"')


_NO, _NAME = _FIELDS.index("enterprise_no"), _FIELDS.index("name")


def _item(row: tuple) -> Item:
    seq, changed_at, ds_pk, *_rest = row
    no, name = row[_NO], row[_NAME]
    entry = None if ds_pk is None else entry_of(row[2:])
    return Item(seq, changed_at, no, name or "", entry)
