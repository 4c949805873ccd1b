"""Shared list-page helpers: pagination with a page-size choice and sort links, built to
stay fast as tables grow to millions of rows.

- **The count is capped.** ``count_rows`` counts at most ``LIST_COUNT_CAP`` + 1 rows (a
  ``COUNT`` over a ``LIMIT``ed subquery, so the database stops early). Past the cap, a list
  of the whole table shows the table's size as the database estimates it (「约 1,000,000
  条」); a filtered list shows 「超过 10,000 条」. Below the cap the count is exact, as before.
- **下一页 and 上一页 follow a cursor** (keyset pagination): the link carries the sort values
  of the page's last (first) row, and the next page is the rows after it in the list's
  order — an index range read, as fast on page 50 000 as on page 2. Lists ordered by a
  nullable column or an annotation fall back to offsets.
- **Numbered pages** (``?page=``: 首页, 末页 when the count is exact, old links) use offsets,
  and a deep one is read in two steps (``page_rows``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models import Q, QuerySet
from django.http import HttpRequest

# Past this offset a page is read in two steps (see ``page_rows``).
DEFERRED_JOIN_OFFSET = 1000


def page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("page_size", settings.LIST_PAGE_SIZE))
    except ValueError:
        return settings.LIST_PAGE_SIZE
    return size if size in settings.LIST_PAGE_SIZE_CHOICES else settings.LIST_PAGE_SIZE


def page_rows(qs: QuerySet, start: int, stop: int) -> list:
    """Rows ``start:stop`` of ``qs``. Deep pages are read without dragging whole rows
    through a large OFFSET: first the page's primary keys (the database walks only the
    index), then those rows with their joins — same rows, same order, one query more."""
    if start < DEFERRED_JOIN_OFFSET:
        return list(qs[start:stop])
    ids = list(qs.values_list("pk", flat=True)[start:stop])
    by_pk = {obj.pk: obj for obj in qs.filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


# --- Counting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """How many rows a list has: exact, at least ``value`` (capped), or about ``value``
    (the database's estimate of the whole table)."""

    value: int
    exact: bool = True
    estimated: bool = False

    def __str__(self) -> str:
        if self.exact:
            return f"共 {self.value} 条"
        if self.estimated:
            return f"约 {self.value:,} 条"
        return f"超过 {self.value:,} 条"


def table_estimate(model: type) -> int | None:
    """The database's own idea of how many rows ``model``'s table holds, read from its
    statistics without scanning (None when it has none)."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table]
            )
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT table_rows FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = %s",
                [table],
            )
        elif connection.vendor == "sqlite":
            cursor.execute(f"SELECT MAX(rowid) FROM {connection.ops.quote_name(table)}")  # noqa: S608 - the model's own table name
        else:
            return None
        row = cursor.fetchone()
    value = int(row[0]) if row and row[0] is not None else 0
    return value if value > 0 else None


def count_rows(qs: QuerySet, cap: int | None = None) -> Total:
    """The list's size, reading at most ``cap`` + 1 rows (see the module)."""
    cap = cap or settings.LIST_COUNT_CAP
    counted = qs.order_by().values("pk")[: cap + 1].count()
    if counted <= cap:
        return Total(counted)
    if not qs.query.where:
        estimate = table_estimate(qs.model)
        if estimate is not None and estimate > cap:
            return Total(estimate, exact=False, estimated=True)
    return Total(cap, exact=False)


# --- Keyset pagination -----------------------------------------------------------------------


def keyset_order(qs: QuerySet) -> list[tuple[str, bool]] | None:
    """The list's order as [(field, descending)], ending with the primary key, when a cursor
    can follow it: plain, non-null columns of the model itself. None otherwise."""
    meta = qs.model._meta
    terms = list(qs.query.order_by or meta.ordering or [])
    order: list[tuple[str, bool]] = []
    for term in terms:
        if not isinstance(term, str) or "__" in term or term.startswith("?"):
            return None
        desc = term.startswith("-")
        name = term.lstrip("-+")
        if name == "pk":
            name = meta.pk.name
        try:
            field = meta.get_field(name)
        except Exception:  # an annotation or an unknown name
            return None
        if field.null or field.many_to_many or field.one_to_many:
            return None
        order.append((field.attname, desc))
    if not order:
        return None
    pk = meta.pk.attname
    if pk not in {name for name, _desc in order}:
        order.append((pk, order[-1][1]))
    return order


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode_cursor(row: Any, order: list[tuple[str, bool]]) -> str:
    values = [_plain(getattr(row, name)) for name, _desc in order]
    raw = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, qs: QuerySet, order: list[tuple[str, bool]]) -> list | None:
    """The sort values a cursor carries, each checked by its field (None: not a cursor of
    this list — the page then starts from the top)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != len(order):
        return None
    meta = qs.model._meta
    parsed = []
    for (name, _desc), value in zip(order, values, strict=True):
        field = next(f for f in meta.concrete_fields if f.attname == name)
        if value is None or isinstance(value, dict | list):
            return None
        try:
            python = field.to_python(value)
            if isinstance(python, dt.datetime) and python.tzinfo is None:
                return None
            field.get_db_prep_value(python, connections[qs.db], prepared=False)
        except Exception:  # a malformed or out-of-range value
            return None
        parsed.append(python)
    return parsed


def after(order: list[tuple[str, bool]], values: list, *, backwards: bool = False) -> Q:
    """Rows strictly after ``values`` in ``order`` (before, ``backwards``): the first
    column's bound first, so the database reads one index range."""

    def beyond(name: str, desc: bool, value: Any) -> Q:
        return Q(**{f"{name}__{'lt' if desc != backwards else 'gt'}": value})

    ties = Q()
    alternatives = Q()
    for (name, desc), value in zip(order, values, strict=True):
        alternatives |= ties & beyond(name, desc, value)
        ties &= Q(**{name: value})
    first, desc = order[0]
    bound = f"{first}__{'lte' if desc != backwards else 'gte'}"
    return Q(**{bound: values[0]}) & alternatives


def _reversed(order: list[tuple[str, bool]]) -> list[str]:
    return [f"{name}" if desc else f"-{name}" for name, desc in order]


def _ordering(order: list[tuple[str, bool]]) -> list[str]:
    return [f"-{name}" if desc else name for name, desc in order]


# --- The page ---------------------------------------------------------------------------------


class ListPaginator:
    def __init__(self, total: Total, per_page: int) -> None:
        self.total = total
        self.count = total.value
        self.per_page = per_page
        self.num_pages = max(1, math.ceil(total.value / per_page)) if total.exact else None


class ListPage:
    """What the pagination partial shows; the attributes of Django's ``Page`` it used."""

    def __init__(
        self,
        rows: list,
        number: int,
        paginator: ListPaginator,
        *,
        has_next: bool,
        next_cursor: str = "",
        previous_cursor: str = "",
    ) -> None:
        self.object_list = rows
        self.number = number
        self.paginator = paginator
        self.has_next_page = has_next
        self.next_cursor = next_cursor
        self.previous_cursor = previous_cursor

    def has_next(self) -> bool:
        return self.has_next_page

    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return max(1, self.number - 1)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


def _number(text: Any) -> int:
    try:
        value = int(str(text))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 10**9 else 1


def list_page(qs: QuerySet, params: Any, per_page: int, total: Total | None = None) -> ListPage:
    """The page ``params`` (a QueryDict or dict: ``page``, ``after``, ``before``) asks for;
    ``total``: the list's size when the caller has counted it already."""
    total = total or count_rows(qs)
    paginator = ListPaginator(total, per_page)
    number = _number(params.get("page") or 1)
    order = keyset_order(qs)
    cursor_text = params.get("after") or params.get("before") or ""
    backwards = not params.get("after") and bool(params.get("before"))
    values = decode_cursor(cursor_text, qs, order) if (order and cursor_text) else None
    if values is not None:
        if backwards:
            rows = list(
                qs.filter(after(order, values, backwards=True)).order_by(*_reversed(order))[
                    : per_page + 1
                ]
            )
            more_before = len(rows) > per_page
            rows = list(reversed(rows[:per_page]))
            has_next = True
            if not more_before:
                number = 1
        else:
            rows = list(qs.filter(after(order, values)).order_by(*_ordering(order))[: per_page + 1])
            has_next = len(rows) > per_page
            rows = rows[:per_page]
            number = max(number, 2)
    else:
        if paginator.num_pages is not None:
            number = min(number, paginator.num_pages)
        start = (number - 1) * per_page
        rows = page_rows(qs, start, start + per_page + 1)
        if not rows and number > 1:  # past the end of a capped list: its first page
            number, rows = 1, page_rows(qs, 0, per_page + 1)
        has_next = len(rows) > per_page
        rows = rows[:per_page]
    page = ListPage(rows, number, paginator, has_next=has_next)
    if order and rows:
        page.next_cursor = encode_cursor(rows[-1], order) if has_next else ""
        page.previous_cursor = encode_cursor(rows[0], order) if number > 1 else ""
    return page


def paginate(request: HttpRequest, qs: QuerySet) -> dict:
    """Context for a list page: ``page_obj``, ``rows`` and query strings for links."""
    per_page = page_size(request)
    page = list_page(qs, request.GET, per_page)
    params = request.GET.copy()
    for name in ("page", "after", "before"):
        params.pop(name, None)
    without_page = params.urlencode()
    params.pop("sort", None)
    without_sort = params.urlencode()
    return {
        "page_obj": page,
        "rows": list(page.object_list),
        "querystring_without_page": f"{without_page}&" if without_page else "",
        "querystring_without_sort": f"{without_sort}&" if without_sort else "",
        "page_size": per_page,
        "page_size_choices": settings.LIST_PAGE_SIZE_CHOICES,
    }
