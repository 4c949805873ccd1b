"""The 工作台's figures against a seeded data set, each number worked out here by hand;
the same figures over a specialist's own records; the same number of queries however
many records there are."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.console.figures import Filters, figures
from apps.contracts.tests.factories import make_contract
from apps.customers.models import Customer
from apps.customers.tests.factories import make_customer
from apps.datasources.models import DataSource
from apps.datasources.tests.factories import make_datasource
from apps.leads.models import FollowUp, Lead
from apps.leads.services import lead_create_offline, lead_register, qr_channel_create

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)


def at(days_before: int, hour: int = 9) -> dt.datetime:
    day = TODAY - dt.timedelta(days=days_before)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def seed_lead(n, *, channel="web", registered, owner=None, call_after_hours=None, status=None,
              customer=None, qr=None):  # fmt: skip
    if channel == "offline":
        lead = lead_create_offline(actor=owner, name=f"申请人{n}", phone=f"1380013{n:04d}")
    else:
        lead = lead_register(
            name=f"申请人{n}",
            phone=f"1380013{n:04d}",
            channel=channel,
            channel_ref=qr.code if qr else "",
        ).lead
    values = {"registered_at": registered, "owner": owner}
    if call_after_hours is not None:
        called = registered + dt.timedelta(hours=call_after_hours)
        FollowUp.objects.create(
            lead=lead, actor=owner, at=called, method="phone", result="considering"
        )
        values["last_follow_up_at"] = called
    if status:
        values["status"] = status
    if customer is not None:
        values["customer"] = customer
    Lead.objects.filter(pk=lead.pk).update(**values)
    return lead


@pytest.fixture
def seeded(ops, ops2, manager, devops, admin_user):
    qr = qr_channel_create(actor=admin_user, name="海报A")
    c1 = make_customer(actor=ops, complete=True, name="阳光物业")
    Customer.objects.filter(pk=c1.pk).update(
        status=Customer.Status.OPEN, activated_at=at(8), service_state="active"
    )
    ds = make_datasource(c1, actor=devops)
    DataSource.objects.filter(pk=ds.pk).update(impl_status=DataSource.ImplStatus.ONLINE)
    c2 = make_customer(actor=ops, complete=True, name="翠湖物业")
    seed_lead(1, registered=at(10), owner=ops, call_after_hours=2, status="converted", customer=c1)
    seed_lead(2, registered=at(10), owner=ops, call_after_hours=30, status="following")
    seed_lead(3, channel="qr", qr=qr, registered=at(5))
    seed_lead(4, channel="wechat", registered=at(3), owner=ops, call_after_hours=5,
              status="converted", customer=c2)  # fmt: skip
    seed_lead(5, channel="offline", registered=at(1), owner=ops2)
    seed_lead(6, registered=at(40), owner=ops)  # before the period
    make_contract(actor=ops, customer=c1, start_date=dt.date(2026, 10, 1),
                  end_date=TODAY + dt.timedelta(days=20), amount=Decimal("1000.00"))  # fmt: skip
    make_contract(actor=ops, customer=c2, start_date=dt.date(2026, 11, 5),
                  end_date=TODAY + dt.timedelta(days=75), amount=Decimal("250.50"))  # fmt: skip
    return {"qr": qr, "c1": c1, "c2": c2}


PERIOD = Filters(date_from=TODAY - dt.timedelta(days=30), date_to=TODAY)


def test_the_figures_of_a_manager(seeded, manager, ops, ops2):
    result = figures(manager, PERIOD, today=TODAY)
    stages = {s["code"]: s["count"] for s in result["funnel"]["stages"]}
    # Leads 1–5 fall in the period; 1, 2 and 4 were called; 1 and 4 converted; only the
    # customer of lead 1 is opened and online.
    assert stages == {"applied": 5, "called": 3, "interested": 2, "converted": 2,
                      "opened": 1, "online": 1}  # fmt: skip
    web = next(c for c in result["funnel"]["channels"] if c["channel"] == "web")
    assert (web["applied"], web["called"], web["converted"], web["online"]) == (2, 2, 1, 1)
    # Waits 2 h, 5 h and 30 h: the median is 5 h; 2 of 5 within 24 h.
    assert result["callback"] == {
        "applied": 5, "called": 3, "within_limit": 2, "within_share": 0.4, "limit_hours": 24,
        "median_hours": 5.0,
    }  # fmt: skip
    assert result["by_month"] == [{"month": "2026-11", "applied": 5, "converted": 2}]
    owners = {r["label"]: (r["applied"], r["converted"]) for r in result["by_owner"]}
    assert owners == {ops.display_name: (3, 2), ops2.display_name: (1, 0), "公海（未分配）": (1, 0)}
    assert result["by_qr"] == [
        {"qr": seeded["qr"].pk, "label": "海报A", "applied": 1, "converted": 0}
    ]
    states = {s["state"]: s["count"] for s in result["service_states"]}
    assert states["active"] == 1 and sum(states.values()) == 1
    impl = {s["state"]: s["count"] for s in result["impl_states"]}
    assert impl["2"] == 1 and impl["none"] == 1
    assert result["expiring"] == [
        {"days": 30, "count": 1}, {"days": 60, "count": 1}, {"days": 90, "count": 2},
    ]  # fmt: skip
    # Contracts starting in the period (the October one started before it).
    assert result["contract_value"] == [{"month": "2026-11", "amount": "250.50", "count": 1}]
    every = figures(manager, Filters(), today=TODAY)["contract_value"]
    assert every == [
        {"month": "2026-10", "amount": "1000.00", "count": 1},
        {"month": "2026-11", "amount": "250.50", "count": 1},
    ]


def test_filters_and_a_specialists_own_records(seeded, manager, ops, ops2):
    wechat = figures(manager, Filters(PERIOD.date_from, PERIOD.date_to, "wechat"), today=TODAY)
    assert wechat["funnel"]["stages"][0]["count"] == 1
    # ops2 sees only their own lead, even asking for someone else's.
    own = figures(ops2, Filters(PERIOD.date_from, PERIOD.date_to, owner=ops.pk), today=TODAY)
    assert own["filters"]["owner"] == ops2.pk
    assert own["funnel"]["stages"][0]["count"] == 1
    assert own["expiring"] == [{"days": d, "count": 0} for d in (30, 60, 90)]


def test_the_query_count_does_not_grow_with_the_data(seeded, manager, ops):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            figures(manager, PERIOD, today=TODAY)
        return len(ctx)

    queries()
    before = queries()
    for n in range(100, 140):
        seed_lead(n, registered=at(n % 20), owner=ops, call_after_hours=n % 30)
    assert queries() == before <= 14


def test_the_api_answers_the_same_figures(seeded, manager, ops2, client_for):
    query = "date_from=2026-10-21&date_to=2026-11-20"
    body = client_for(manager).get(f"/api/v1/dashboard?{query}").json()
    expected = figures(manager, PERIOD, today=timezone.localdate())
    assert body["funnel"] == expected["funnel"] and body["callback"] == expected["callback"]
    own = client_for(ops2).get(f"/api/v1/dashboard?{query}").json()
    assert own["filters"]["owner"] == ops2.pk and own["funnel"]["stages"][0]["count"] == 1
    bad = client_for(manager).get("/api/v1/dashboard?date_from=2026-11-20&date_to=2026-10-01")
    assert bad.status_code == 422 and "date_from" in bad.json()["fields"]
    assert client_for(None).get("/api/v1/dashboard").status_code == 401


def test_the_page_shows_the_figures_and_keeps_the_filters(seeded, manager, client_for):
    page = client_for(manager).get("/?date_from=2026-10-21&date_to=2026-11-20&channel=web")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="figures-data"' in html
    assert "vendor/echarts.min.js" in html and "https://" not in html.split("<body")[1]
    assert "date_from=2026-10-21" in html  # the charts' lists keep the filters
    bad = client_for(manager).get("/?date_from=2026-11-20&date_to=2026-10-01")
    assert "不能晚于结束日期" in bad.content.decode()
