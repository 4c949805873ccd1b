"""The registry feed (GET /api/v1/registry/tenants): every tenant paged by cursor, walks
that never skip a tenant changing under them, incremental syncs from a cursor or a time,
removals, ETags, scopes, and a fixed number of queries per page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.tests.factories import make_staff, make_token
from apps.api.auth import registry_auth
from apps.api.tests.helpers import API, assert_error, bearer
from apps.audit import tally
from apps.audit.models import ReadTally
from apps.customers.models import Customer
from apps.customers.services import customer_update, registry_changed
from apps.customers.tests.factories import make_customer
from apps.datasources.lifecycle import datasource_advance
from apps.datasources.models import DataSource
from apps.datasources.tests.factories import make_datasource

pytestmark = pytest.mark.django_db

FEED = f"{API}/registry/tenants"
PASSWORD = "Tenant#2026pw"


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    registry_auth.clear_cache()
    yield
    registry_auth.clear_cache()


@pytest.fixture
def raw(db):
    return make_token(make_staff("bizsys", None, name="业务系统"), scopes=("registry",))


@pytest.fixture
def fleet(ops, devops):
    """Five tenants with a data source, and one customer without (never listed)."""
    make_customer(actor=ops, complete=True, name="无库物业")
    return [
        make_datasource(make_customer(actor=ops, complete=True, name=f"物业{i}"), actor=devops)
        for i in range(5)
    ]


def get(client, raw, **params):
    response = client.get(FEED, params, **bearer(raw))
    assert response.status_code == 200, response.content
    return response.json()


def walk(client, raw, limit=2, cursor=None, during=None):
    """Every page from ``cursor`` (or the start) until ``has_more`` is false; ``during``
    runs after each page. Returns (items, last cursor, pages)."""
    items, pages = [], 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = get(client, raw, **params)
        pages += 1
        items += body["items"]
        cursor = body["next_cursor"]
        if during is not None:
            during(pages)
        if not body["has_more"]:
            return items, cursor, pages


def test_a_walk_lists_every_tenant_once_as_the_single_read_does(client, raw, fleet):
    items, cursor, pages = walk(client, raw, limit=2)
    assert pages == 3 and cursor
    assert [i["enterprise_no"] for i in items] == [ds.customer.enterprise_no for ds in fleet]
    first = items[0]
    single = client.get(f"{FEED}/{first['enterprise_no']}", **bearer(raw))
    assert first["etag"] == single["ETag"]
    assert {k: v for k, v in first.items() if k not in ("etag", "changed_at", "removed")} == (
        single.json()
    )
    assert first["datasource"]["password"] == PASSWORD and first["removed"] is False
    assert dt.datetime.fromisoformat(first["changed_at"]).utcoffset() == dt.timedelta(hours=8)
    assert "无库物业" not in str(items)


def test_a_tenant_changing_during_a_walk_is_seen_again_never_skipped(
    client, raw, fleet, ops, devops
):
    """Tenants change while the walker is between pages — one it already read, one it has
    not reached: both are in the walk with their newest state, and nothing is missing."""
    read_early, not_yet = fleet[0], fleet[4]

    def change(page):
        if page == 1:
            customer_update(actor=ops, customer=read_early.customer, data={"name": "改名甲"})
            datasource_advance(actor=devops, datasource=not_yet, to_status=1)

    items, _cursor, _pages = walk(client, raw, limit=2, during=change)
    latest = {i["enterprise_no"]: i for i in items}
    assert set(latest) == {ds.customer.enterprise_no for ds in fleet}
    assert latest[read_early.customer.enterprise_no]["name"] == "改名甲"
    assert latest[not_yet.customer.enterprise_no]["datasource"]["impl_status"] == "in_progress"
    nos = [i["enterprise_no"] for i in items]
    assert nos.count(read_early.customer.enterprise_no) == 2  # its old state, then its new
    assert nos.count(not_yet.customer.enterprise_no) == 1  # moved ahead: read once, new


def test_incremental_sync_from_the_last_cursor(client, raw, fleet, ops, devops):
    _items, cursor, _pages = walk(client, raw, limit=10)
    nothing = get(client, raw, cursor=cursor)
    assert nothing == {"items": [], "next_cursor": cursor, "has_more": False}

    customer_update(actor=ops, customer=fleet[2].customer, data={"name": "新名称物业"})
    customer_update(actor=ops, customer=fleet[1].customer, data={"address": "不发布的字段"})
    newcomer = make_datasource(make_customer(actor=ops, name="新租户"), actor=devops)
    changes = get(client, raw, cursor=cursor)
    assert [i["enterprise_no"] for i in changes["items"]] == [
        fleet[2].customer.enterprise_no,
        newcomer.customer.enterprise_no,
    ]
    assert changes["items"][0]["name"] == "新名称物业" and not changes["has_more"]
    assert get(client, raw, cursor=changes["next_cursor"])["items"] == []


def test_a_removed_tenant_is_reported_to_incremental_syncs_not_to_fresh_walks(client, raw, fleet):
    _items, cursor, _pages = walk(client, raw, limit=10)
    gone = fleet[3]
    DataSource.objects.filter(pk=gone.pk).delete()
    registry_changed([gone.customer_id])  # as datasource_delete does
    changes = get(client, raw, cursor=cursor)["items"]
    assert changes == [
        {
            "enterprise_no": gone.customer.enterprise_no,
            "name": gone.customer.name,
            "removed": True,
            "changed_at": changes[0]["changed_at"],
        }
    ]
    fresh, _cursor, _pages = walk(client, raw, limit=10)
    assert gone.customer.enterprise_no not in [i["enterprise_no"] for i in fresh]


def test_a_tenant_removed_during_a_fresh_walk_is_reported_by_that_walk(client, raw, fleet):
    gone = fleet[0]

    def remove(page):
        if page == 1:
            DataSource.objects.filter(pk=gone.pk).delete()
            registry_changed([gone.customer_id])

    items, _cursor, _pages = walk(client, raw, limit=2, during=remove)
    mine = [i for i in items if i["enterprise_no"] == gone.customer.enterprise_no]
    assert [i["removed"] for i in mine] == [False, True]


def test_changed_since(client, raw, fleet, ops):
    t0 = timezone.now()
    Customer.objects.filter(pk__in=[ds.customer_id for ds in fleet]).update(
        registry_changed_at=t0 - dt.timedelta(hours=1)
    )
    customer_update(actor=ops, customer=fleet[1].customer, data={"name": "最近改名"})
    since = get(client, raw, changed_since=t0.isoformat())
    assert [i["name"] for i in since["items"]] == ["最近改名"]
    local = timezone.localtime(t0 - dt.timedelta(minutes=90)).replace(tzinfo=None)
    assert len(get(client, raw, changed_since=local.isoformat())["items"]) == 5  # local time
    assert len(get(client, raw, changed_since="1970-01-01")["items"]) == 5
    assert get(client, raw, changed_since="2099-01-01T00:00:00Z")["items"] == []
    # The cursor it gives carries on from there.
    ops_later = get(client, raw, cursor=since["next_cursor"])
    assert ops_later["items"] == []


def test_etags(client, raw, fleet, ops):
    first = client.get(FEED, {"limit": 2}, **bearer(raw))
    etag = first["ETag"]
    assert first["Cache-Control"] == "no-store, private"
    again = client.get(FEED, {"limit": 2}, HTTP_IF_NONE_MATCH=etag, **bearer(raw))
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    cursor = first.json()["next_cursor"]
    tail = client.get(FEED, {"cursor": cursor, "limit": 50}, **bearer(raw))
    end = tail.json()["next_cursor"]
    idle = client.get(FEED, {"cursor": end}, **bearer(raw))
    polled = client.get(FEED, {"cursor": end}, HTTP_IF_NONE_MATCH=idle["ETag"], **bearer(raw))
    assert polled.status_code == 304  # nothing changed: a poll costs no body
    customer_update(actor=ops, customer=fleet[0].customer, data={"name": "变了"})
    changed = client.get(FEED, {"cursor": end}, HTTP_IF_NONE_MATCH=idle["ETag"], **bearer(raw))
    assert changed.status_code == 200 and changed.json()["items"][0]["name"] == "变了"


def test_scopes(client, client_for, raw, fleet, admin_user):
    assert_error(client.get(FEED), 401, "unauthenticated")
    assert_error(client_for(admin_user).get(FEED), 401, "unauthenticated")  # a session
    console = make_token(admin_user, scopes=(ApiToken.SCOPE_API,))
    body = assert_error(client.get(FEED, **bearer(console)), 403, "forbidden")
    assert "租户注册表只读" in body["message"]
    assert_error(client.get(FEED, **bearer("hgj_unknown")), 401, "unauthenticated")
    assert client.get(FEED, **bearer(raw)).status_code == 200


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"cursor": "not-a-cursor"}, "cursor", "无效的游标"),
        ({"cursor": "MTIz"}, "cursor", "无效的游标"),  # base64 of "123": no floor
        ({"cursor": "LTEuMA"}, "cursor", "无效的游标"),  # "-1.0"
        ({"cursor": "游标"}, "cursor", "无效的游标"),
        ({"changed_since": "yesterday"}, "changed_since", "ISO 8601"),
        ({"changed_since": "2026-02-30"}, "changed_since", "ISO 8601"),
        ({"changed_since": "2026-01-01T00:00:00+25:00"}, "changed_since", "ISO 8601"),
        ({"changed_since": "2026-01-01\x00"}, "changed_since", ""),
        ({"limit": "0"}, "limit", ""),
        ({"limit": "1001"}, "limit", ""),
        ({"limit": "ten"}, "limit", ""),
        ({"limit": "9" * 30}, "limit", ""),
        ({"cursor": "MC4w", "changed_since": "2026-01-01"}, "changed_since", "只能指定一个"),
    ],
)
def test_bad_parameters_get_422_naming_the_field(client, raw, fleet, params, field, words):
    body = assert_error(client.get(FEED, params, **bearer(raw)), 422, "validation_error")
    assert field in body["fields"], body
    assert words in body["message"] + " ".join(body["fields"][field])


def test_a_page_costs_a_fixed_number_of_queries(client, raw, fleet, ops, devops, settings):
    settings.REGISTRY_TOKEN_CACHE_SECONDS = 60
    get(client, raw, limit=1)  # the token is cached now
    with CaptureQueriesContext(connection) as small:
        get(client, raw, limit=2)
    for i in range(10):
        make_datasource(make_customer(actor=ops, name=f"更多{i}"), actor=devops)
    with CaptureQueriesContext(connection) as large:
        assert len(get(client, raw, limit=100)["items"]) == 15
    assert len(small) == len(large) == 2  # the head of the sequence, the page
    with CaptureQueriesContext(connection) as from_cursor:
        get(client, raw, cursor=get(client, raw, limit=3)["next_cursor"])
    assert len(from_cursor) == 2 + 1  # the previous call's two, then one: the page


def test_feed_reads_are_counted_as_one_row_per_token(client, raw, fleet):
    walk(client, raw, limit=2)
    tally.flush()
    row = ReadTally.objects.get(action="registry_read", object_key="*")
    assert row.count == 3 and row.source_label == "测试令牌"
    assert ReadTally.objects.count() == 1  # not one row per tenant listed
