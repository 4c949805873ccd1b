"""Lists at scale: following 下一页 / 上一页 by cursor gives exactly the rows of the offset
pages, in every sort the lists offer (ties included); the count stops at the cap and says
so; a malformed cursor starts from the top; the page's queries do not grow with the table."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditLog
from apps.core.listing import Total, count_rows, encode_cursor, keyset_order, list_page
from apps.customers.models import Customer
from apps.customers.selectors import CustomerFilters, customer_list
from apps.leads.models import Lead
from apps.leads.selectors import LeadFilters, lead_list

pytestmark = pytest.mark.django_db


def customers(n: int, owner) -> None:
    now = timezone.now()
    Customer.objects.bulk_create(
        [
            Customer(
                enterprise_no=f"HGJ9{i:05d}",
                name=f"物业{i % 7}",  # many ties on the name
                province=("440000", "110000")[i % 2],
                created_at=now - dt.timedelta(minutes=i // 3),  # ties on the time too
                owner=owner if i % 2 else None,
            )
            for i in range(n)
        ]
    )


def walk(qs, per_page: int) -> list[int]:
    """Every row's id, following 下一页 cursors from the first page."""
    seen: list[int] = []
    page = list_page(qs, QueryDict(""), per_page)
    while True:
        seen += [row.pk for row in page.object_list]
        if not page.has_next():
            return seen
        page = list_page(
            qs, QueryDict(f"after={page.next_cursor}&page={page.number + 1}"), per_page
        )


@pytest.mark.parametrize(
    "sort", ["-created", "created", "name", "-name", "enterprise_no", "-status"]
)
def test_cursor_pages_are_the_offset_pages_in_every_sort(manager, sort):
    customers(53, manager)
    qs = customer_list(user=manager, filters=CustomerFilters(sort=sort))
    assert keyset_order(qs) is not None
    assert walk(qs, 10) == list(qs.values_list("pk", flat=True))


def test_previous_pages_by_cursor(manager):
    customers(35, manager)
    qs = customer_list(user=manager, filters=CustomerFilters())
    expected = list(qs.values_list("pk", flat=True))
    first = list_page(qs, QueryDict(""), 10)
    second = list_page(qs, QueryDict(f"after={first.next_cursor}&page=2"), 10)
    third = list_page(qs, QueryDict(f"after={second.next_cursor}&page=3"), 10)
    back = list_page(qs, QueryDict(f"before={third.previous_cursor}&page=2"), 10)
    assert [r.pk for r in back.object_list] == expected[10:20] and back.number == 2
    top = list_page(qs, QueryDict(f"before={back.previous_cursor}&page=1"), 10)
    assert [r.pk for r in top.object_list] == expected[:10] and not top.has_previous()


def test_a_scoped_filtered_list_walks_the_same(ops, manager):
    customers(40, ops)
    qs = customer_list(user=ops, filters=CustomerFilters(province="440000"))
    assert walk(qs, 7) == list(qs.values_list("pk", flat=True))


def test_leads_sorted_by_a_nullable_column_fall_back_to_offsets(manager):
    for i in range(5):
        Lead.objects.create(name=f"甲{i}", phone=f"+86139000000{i:02d}", channel="web")
    by_call = lead_list(user=manager, filters=LeadFilters(sort="-last"))
    assert keyset_order(by_call) is None
    page = list_page(by_call, QueryDict("page=2"), 2)
    assert page.number == 2 and page.next_cursor == "" and page.has_next()
    by_registration = lead_list(user=manager, filters=LeadFilters())
    assert walk(by_registration, 2) == list(by_registration.values_list("pk", flat=True))


@pytest.mark.parametrize(
    "cursor",
    ["x", "W10", "WyJhIl0", "WyIyMDI2LTEzLTQwIiwxXQ", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwxXQ", "%00"],
)
def test_a_malformed_cursor_starts_from_the_top(manager, cursor):
    customers(12, manager)
    qs = customer_list(user=manager, filters=CustomerFilters())
    page = list_page(qs, QueryDict(f"after={cursor}&page=2"), 5)
    assert page.number == 2  # the cursor is ignored: the numbered page
    assert [r.pk for r in page.object_list] == list(qs.values_list("pk", flat=True)[5:10])


def test_the_count_stops_at_the_cap(manager, settings):
    settings.LIST_COUNT_CAP = 20
    customers(30, manager)
    if connection.vendor == "postgresql":  # its estimate comes from the statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
    everything = Customer.objects.order_by("-created_at", "-id")
    total = count_rows(everything)
    assert not total.exact and total.estimated and total.value >= 30
    assert str(total).startswith("约 ")
    filtered = count_rows(everything.filter(province="440000"), cap=10)
    assert filtered == Total(10, exact=False) and str(filtered) == "超过 10 条"
    assert count_rows(everything.filter(province="110000"), cap=100) == Total(15)
    page = list_page(everything, QueryDict(""), 5)
    assert page.paginator.num_pages is None and page.has_next()


def test_the_list_page_shows_a_capped_count_and_cursor_links(manager, client_for, settings):
    settings.LIST_COUNT_CAP = 20
    customers(45, manager)
    html = client_for(manager).get("/customers/", {"province": "440000"}).content.decode()
    assert "超过 20 条" in html and "after=" in html and "末页" not in html
    html = client_for(manager).get("/customers/", {"province": "110000"}).content.decode()
    assert "超过 20 条" in html  # 22 rows
    settings.LIST_COUNT_CAP = 100
    html = client_for(manager).get("/customers/", {"province": "110000"}).content.decode()
    assert "共 22 条" in html and "末页" in html


def test_a_deep_cursor_page_costs_what_the_first_does(manager, client_for):
    customers(120, manager)
    client = client_for(manager)
    qs = customer_list(user=manager, filters=CustomerFilters())
    deep = encode_cursor(next(iter(qs[99:100])), keyset_order(qs))

    def queries(params: dict) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/customers/", params).status_code == 200
        return len(ctx)

    queries({})
    assert queries({"after": deep, "page": "6"}) == queries({})


def test_the_audit_list_pages_by_cursor(manager):
    AuditLog.objects.bulk_create(
        [AuditLog(action="update", object_id=str(i), actor_name="甲") for i in range(25)]
    )
    qs = AuditLog.objects.order_by("-at", "-id")
    assert walk(qs, 10) == list(qs.values_list("pk", flat=True))
