"""待办 per role: what each person has to do, with the right one-click action, in a bounded
number of queries however many items there are; the menu's count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.tests.factories import make_staff
from apps.console import inbox
from apps.customers.lifecycle import customer_start_trial
from apps.customers.packages import package_create
from apps.customers.tests.factories import make_customer
from apps.datasources.tests.factories import make_datasource
from apps.leads.models import Lead, PoolPolicy
from apps.leads.services import lead_assign, lead_register

pytestmark = pytest.mark.django_db


def by_code(user) -> dict[str, inbox.Section]:
    return {s.code: s for s in inbox.sections(user)}


def lead(n: int, owner=None, **fields) -> Lead:
    created = lead_register(name=f"申请人{n}", phone=f"1380013{n:04d}", company=f"物业{n}").lead
    if owner is not None or fields:
        Lead.objects.filter(pk=created.pk).update(owner=owner, **fields)
    return Lead.objects.get(pk=created.pk)


@pytest.fixture
def world(ops, ops2, manager, devops):
    now = timezone.now()
    lead_assign(actor=manager, leads=[lead(1)], owner=ops)  # new, never called
    lead(2, owner=ops, last_follow_up_at=now, next_follow_up_at=now - dt.timedelta(hours=1))
    lead(3, owner=ops, last_follow_up_at=now, next_follow_up_at=now + dt.timedelta(days=3))
    lead(4, owner=ops2)  # another specialist's
    ready = make_customer(actor=ops, complete=True, name="待开通物业")
    make_datasource(ready, actor=devops)
    bare = make_customer(actor=ops2, complete=True, name="缺数据源物业")
    package = package_create(actor=manager, data={"name": "试用版", "modules": ["property"]})
    trial = make_customer(actor=ops, complete=True, name="试用物业")
    make_datasource(trial, actor=devops)
    customer_start_trial(actor=ops, customer=trial, package=package, days=5)
    return {"ready": ready, "bare": bare, "trial": trial}


def test_a_specialist_sees_their_own_work_with_one_click_actions(world, ops):
    sections = by_code(ops)
    assert set(sections) == {"new_leads", "callbacks", "activation", "ending"}
    assert [i.title for i in sections["new_leads"].items] == ["物业1"]
    assert sections["new_leads"].items[0].action_url.startswith("/leads/")
    assert "follow-up/?next=%2Finbox%2F" in sections["new_leads"].items[0].action_url
    callbacks = sections["callbacks"]
    assert [i.title for i in callbacks.items] == ["物业2"] and callbacks.items[0].alert
    assert callbacks.items[0].detail.startswith("逾期")
    (ready,) = sections["activation"].items
    assert ready.title == "待开通物业" and ready.action_label == "开通"
    assert ready.action_url == f"/customers/{world['ready'].pk}/activate/"
    (ending,) = sections["ending"].items
    assert ending.title == "试用物业" and "5 天后" in ending.detail and ending.alert
    assert ending.action_label == "续签合同"  # specialists do not extend trials
    assert inbox.count(ops) == 4


def test_a_manager_extends_a_trial_from_the_inbox(world, manager, ops):
    from apps.customers.models import Customer

    Customer.objects.filter(pk=world["trial"].pk).update(owner=manager)
    (ending,) = by_code(manager)["ending"].items
    assert ending.action_label == "延长试用"
    assert ending.action_url == f"/customers/{world['trial'].pk}/trial/extend/"


def test_devops_see_the_customers_waiting_for_a_data_source(world, devops):
    sections = by_code(devops)
    assert set(sections) == {"datasource"}
    (item,) = sections["datasource"].items
    assert item.title == "缺数据源物业" and item.action_label == "配置数据源"
    assert item.action_url == f"/customers/{world['bare'].pk}/datasource/configure/"


def test_someone_without_a_role_has_nothing_to_do(world):
    assert inbox.sections(make_staff("idle", None)) == []


def test_the_query_count_does_not_grow_with_the_items(world, ops, devops):
    def queries(user) -> int:
        with CaptureQueriesContext(connection) as ctx:
            inbox.sections(user)
        return len(ctx)

    PoolPolicy.objects.create(pk=1, recycle_days=30, warn_days=29)  # 即将退回公海 counts too
    queries(ops), queries(devops)  # permissions are loaded once per user object
    before = queries(ops), queries(devops)
    # Two per section (its count, its first items) and one for the 公海规则.
    assert before[0] <= 11 and before[1] <= 2
    for n in range(10, 40):
        lead(n, owner=ops)
        make_customer(actor=ops, complete=True)
    assert (queries(ops), queries(devops)) == before


def test_the_page_and_the_menu_count(world, ops, client):
    client.force_login(ops)
    page = client.get("/inbox/").content.decode()
    assert "新分配给我的客户申请" in page and "物业1" in page and "记录回访" in page
    assert 'id="badge-inbox"' in client.get("/").content.decode()
    assert client.get("/inbox/count/").content.decode() == "4"
