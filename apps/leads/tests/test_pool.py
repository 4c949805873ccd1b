"""公海与分配规则 on the real database, with a controlled clock: recycling after N quiet
days (warned M days ahead in 待办 and on the lead), the holding and daily claim caps, the
previous owner's wait, placement by channel and province in turn; the sweep twice changes
nothing more; every change audited."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.tests.factories import make_staff
from apps.audit.models import AuditLog
from apps.console import inbox
from apps.core.errors import Conflict, ValidationFailed
from apps.leads import pool, services
from apps.leads.models import Channel, FollowUp, Lead, LeadClaim, PlacementRule, PoolPolicy

from .factories import make_lead

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


@pytest.fixture
def ops(db):
    return make_staff("p_ops", "ops", name="王磊")


@pytest.fixture
def ops2(db):
    return make_staff("p_ops2", "ops", name="李娜")


@pytest.fixture
def manager(db):
    return make_staff("p_mgr", "ops_manager", name="主管")


def rules(manager, **values) -> PoolPolicy:
    return pool.policy_update(actor=manager, data=values)


def held_lead(owner, manager, since: dt.datetime) -> Lead:
    """A pool lead assigned to ``owner``; its clock backdated to ``since``."""
    lead = make_lead()
    services.lead_assign(actor=manager, leads=[lead], owner=owner)
    Lead.objects.filter(pk=lead.pk).update(owned_since=since)
    lead.refresh_from_db()
    return lead


def recycled_rows() -> int:
    return AuditLog.objects.filter(action="recycle").count()


# --- Recycling and its warning -------------------------------------------------------------


def test_a_quiet_lead_is_warned_then_returns_to_the_pool_once(ops, manager):
    rules(manager, recycle_days=10, warn_days=3)
    t0 = timezone.now() - dt.timedelta(days=30)
    lead = held_lead(ops, manager, t0)

    assert pool.warning(lead, now=t0 + 6 * DAY) == ""  # four days left: no warning yet
    text = pool.warning(lead, now=t0 + 8 * DAY)
    assert "已 8 天未回访" in text and "退回公海" in text
    soon = inbox.sections(ops, now=t0 + 8 * DAY)
    section = next(s for s in soon if s.code == "recycling")
    assert section.count == 1 and section.items[0].alert and "退回公海" in section.items[0].detail

    assert pool.recycle(now=t0 + 10 * DAY - dt.timedelta(seconds=1)) == 0
    assert pool.recycle(now=t0 + 10 * DAY) == 1
    lead.refresh_from_db()
    assert lead.owner_id is None and lead.released_from_id == ops.pk
    assert lead.released_at == t0 + 10 * DAY and lead.owned_since is None
    row = AuditLog.objects.get(action="recycle", object_id=str(lead.pk))
    assert row.actor is None and row.changes["owner"] == [ops.pk, None]
    assert "10 天未回访" in row.message

    # The second run (a retry, a second beat) changes and records nothing more.
    assert pool.recycle(now=t0 + 10 * DAY) == 0
    assert pool.recycle(now=t0 + 20 * DAY) == 0
    assert recycled_rows() == 1


def test_a_call_back_restarts_the_clock_and_closed_leads_stay(ops, manager):
    rules(manager, recycle_days=10, warn_days=3)
    t0 = timezone.now() - dt.timedelta(days=11)
    called = held_lead(ops, manager, t0)
    services.lead_follow_up(
        actor=ops, lead=called, method=FollowUp.Method.PHONE, result=FollowUp.Result.CONSIDERING
    )
    closed = held_lead(ops, manager, t0)
    services.lead_close(actor=ops, lead=closed, reason=Lead.LostReason.NO_NEED)
    quiet = held_lead(ops, manager, t0)

    assert pool.recycle() == 1
    assert Lead.objects.get(pk=quiet.pk).owner_id is None
    assert Lead.objects.get(pk=called.pk).owner_id == ops.pk
    assert Lead.objects.get(pk=closed.pk).owner_id == ops.pk


def test_recycling_is_off_until_a_manager_sets_it(ops, manager):
    held_lead(ops, manager, timezone.now() - dt.timedelta(days=900))
    assert pool.recycle() == 0
    assert not any(s.code == "recycling" for s in inbox.sections(ops))


def test_the_daily_sweep_command_recycles_and_says_so_twice_safely(ops, manager):
    rules(manager, recycle_days=5, warn_days=1)
    for _n in range(3):
        held_lead(ops, manager, timezone.now() - dt.timedelta(days=6))
    out = io.StringIO()
    call_command("daily_sweep", stdout=out)
    assert "3 条客户申请超期未回访，已退回公海" in out.getvalue()
    out = io.StringIO()
    call_command("daily_sweep", stdout=out)
    assert "退回公海" not in out.getvalue()
    assert Lead.objects.filter(owner__isnull=True).count() == 3 and recycled_rows() == 3


def test_the_lead_page_shows_the_warning(ops, manager, client):
    rules(manager, recycle_days=10, warn_days=3)
    lead = held_lead(ops, manager, timezone.now() - dt.timedelta(days=8))
    client.force_login(ops)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="recycle-warning"' in page and "已 8 天未回访" in page
    pool.recycle(now=timezone.now() + 3 * DAY)
    client.force_login(manager)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "从 王磊 名下退回" in page and 'id="recycle-warning"' not in page


# --- Holding, daily claims, the previous owner's wait ---------------------------------------


def test_the_holding_cap_refuses_claims_and_assignments(ops, manager):
    rules(manager, hold_limit=2)
    first, second, third = make_lead(), make_lead(), make_lead()
    services.lead_claim(actor=ops, lead=first)
    services.lead_claim(actor=ops, lead=second)
    with pytest.raises(Conflict) as refused:
        services.lead_claim(actor=ops, lead=third)
    assert refused.value.code == "hold_limit" and "最多持有 2 条" in refused.value.message
    with pytest.raises(Conflict):
        services.lead_assign(actor=manager, leads=[third], owner=ops)
    assert Lead.objects.get(pk=third.pk).owner_id is None
    # A closed lead no longer counts against the cap.
    services.lead_close(actor=ops, lead=first, reason=Lead.LostReason.NO_NEED)
    services.lead_claim(actor=ops, lead=third)
    assert Lead.objects.get(pk=third.pk).owner_id == ops.pk


def test_the_daily_claim_cap_lifts_the_next_day(ops, manager):
    rules(manager, daily_claim_limit=1)
    first, second = make_lead(), make_lead()
    services.lead_claim(actor=ops, lead=first)
    with pytest.raises(Conflict) as refused:
        services.lead_claim(actor=ops, lead=second)
    assert refused.value.code == "claim_limit"
    # A follow-up on a pool lead takes it: the same cap applies.
    with pytest.raises(Conflict):
        services.lead_follow_up(
            actor=ops, lead=second, method="phone", result=FollowUp.Result.NO_ANSWER
        )
    assert not FollowUp.objects.filter(lead=second).exists()
    LeadClaim.objects.update(at=timezone.now() - DAY)  # yesterday's claim
    services.lead_claim(actor=ops, lead=second)
    assert LeadClaim.objects.filter(user=ops).count() == 2


def test_the_previous_owner_waits_before_reclaiming(ops, ops2, manager):
    rules(manager, recycle_days=10, warn_days=2, reclaim_wait_days=5)
    lead = held_lead(ops, manager, timezone.now() - dt.timedelta(days=11))
    assert pool.recycle() == 1
    lead.refresh_from_db()
    with pytest.raises(Conflict) as refused:
        services.lead_claim(actor=ops, lead=lead)
    assert refused.value.code == "reclaim_wait" and "5 天内不能再领取" in refused.value.message
    Lead.objects.filter(pk=lead.pk).update(released_at=timezone.now() - dt.timedelta(days=5))
    services.lead_claim(actor=ops, lead=lead)  # the wait is over
    services.lead_assign(actor=manager, leads=[lead], owner=None)  # a manager releases it
    with pytest.raises(Conflict):
        services.lead_claim(actor=ops, lead=lead)
    services.lead_claim(actor=ops2, lead=lead)  # anyone else may
    assert Lead.objects.get(pk=lead.pk).owner_id == ops2.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_cannot_slip_under_the_cap():
    """Two claims by one specialist at once: the person's row is locked, so with a daily
    cap of one exactly one succeeds."""
    racer = make_staff("p_racer", "ops")
    rules(make_staff("p_mgr2", "ops_manager"), daily_claim_limit=1)
    leads = [make_lead(), make_lead()]
    barrier = threading.Barrier(len(leads))
    outcomes: list = []

    def claim(lead):
        try:
            barrier.wait()
            services.lead_claim(actor=racer, lead=lead)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # recorded and asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(lead,)) for lead in leads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcomes)) == ["claim_limit", "ok"]
    assert LeadClaim.objects.filter(user=racer).count() == 1


# --- Placement -----------------------------------------------------------------------------


def test_new_leads_are_placed_in_turn_skipping_the_full_and_the_gone(ops, ops2, manager):
    third = make_staff("p_ops3", "ops", name="赵六")
    rule = pool.rule_save(
        actor=manager,
        data={"name": "网页报名", "channel": Channel.WEB, "specialists": [ops, ops2, third]},
    )
    owners = [make_lead(channel=Channel.WEB).owner_id for _n in range(4)]
    assert owners == [ops.pk, ops2.pk, third.pk, ops.pk]
    assert make_lead(channel=Channel.WECHAT).owner_id is None  # no rule: the pool
    placed = Lead.objects.filter(owner=ops).first()
    assert placed.owned_since is not None

    third.is_active = False
    third.save()
    rules(manager, hold_limit=2)  # ops already holds two
    owners = [make_lead(channel=Channel.WEB).owner_id for _n in range(2)]
    assert owners == [ops2.pk, None]  # ops2 reaches two; nobody left: the pool
    rule.refresh_from_db()
    assert rule.last_placed_id == ops2.pk


def test_placement_by_province_takes_the_first_matching_rule(ops, ops2, manager):
    pool.rule_save(
        actor=manager,
        data={"name": "广东", "position": 1, "province": "广东", "specialists": [ops]},
    )
    pool.rule_save(actor=manager, data={"name": "其他", "position": 2, "specialists": [ops2]})
    assert pool.place(Lead(province="440000", channel=Channel.WEB)) == ops
    assert pool.place(Lead(province="110000", channel=Channel.WEB)) == ops2
    assert pool.place(Lead(province="", channel=Channel.QR)) == ops2


# --- Editing the rules --------------------------------------------------------------------


def test_the_rules_refuse_bad_numbers_by_field(manager):
    with pytest.raises(ValidationFailed) as bad:
        rules(manager, recycle_days="３０天", hold_limit="-1", daily_claim_limit="99999999999")
    assert set(bad.value.fields) == {"recycle_days", "hold_limit", "daily_claim_limit"}
    assert "请输入整数" in bad.value.fields["recycle_days"][0]
    with pytest.raises(ValidationFailed) as bad:
        rules(manager, recycle_days=5, warn_days=5)
    assert "须少于退回公海的天数" in bad.value.fields["warn_days"][0]
    assert "提前提醒" in bad.value.message
    saved = rules(manager, recycle_days="３０", warn_days=" 3 ")  # full-width digits read
    assert (saved.recycle_days, saved.warn_days) == (30, 3)
    assert AuditLog.objects.filter(content_type__model="poolpolicy").count() == 1


def test_a_specialist_may_not_edit_the_rules(ops):
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        pool.policy_update(actor=ops, data={"recycle_days": 1})
    with pytest.raises(Forbidden):
        pool.rule_save(actor=ops, data={"name": "x", "specialists": [ops]})


def test_a_rule_needs_working_specialists_and_a_real_province(ops, manager):
    outsider = make_staff("p_dev", "devops")
    with pytest.raises(ValidationFailed) as bad:
        pool.rule_save(
            actor=manager,
            data={"name": "\x00", "province": "火星", "channel": "fax", "specialists": [outsider]},
        )
    assert set(bad.value.fields) == {"name", "province", "channel", "specialists"}


def test_the_console_page_saves_both(manager, ops, client):
    client.force_login(manager)
    page = client.get("/leads/rules/").content.decode()
    assert "公海规则" in page and "还没有分配规则" in page
    response = client.post(
        "/leads/rules/",
        {
            "recycle_days": "15",
            "warn_days": "15",
            "hold_limit": "0",
            "daily_claim_limit": "0",
            "reclaim_wait_days": "0",
        },
    )
    assert response.status_code == 200 and "须少于退回公海的天数" in response.content.decode()
    response = client.post(
        "/leads/rules/",
        {
            "recycle_days": "15",
            "warn_days": "3",
            "hold_limit": "50",
            "daily_claim_limit": "10",
            "reclaim_wait_days": "7",
        },
    )
    assert response.status_code == 302
    assert pool.policy().hold_limit == 50
    response = client.post(
        "/leads/rules/new/",
        {"name": "华南", "position": "1", "province": "440000", "specialists": [ops.pk]},
    )
    assert response.status_code == 302
    rule = PlacementRule.objects.get()
    assert rule.province == "440000" and list(rule.specialists.all()) == [ops]
    page = client.get("/leads/rules/").content.decode()
    assert "华南" in page and "广东省" in page and "王磊" in page
    assert client.post(f"/leads/rules/{rule.pk}/delete/").status_code == 302
    assert not PlacementRule.objects.exists()
