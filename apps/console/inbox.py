"""待办: one list of what a member of staff has to do today, each item with the one click
that does it (the modal that records a call-back, opens a customer, configures a data
source, extends a trial).

Sections, each shown to those who may act on it and counted in the menu:

- 新分配给我的客户申请 — my leads never followed up (the first call);
- 今天待回访 — my open leads whose next call-back is today or earlier (逾期 marked);
- 即将退回公海 — my open leads that the 公海规则 return to the pool within its warning
  days unless followed up;
- 待开通 — my customers not yet opened that have a data source;
- 等待配置数据源 — customers not opened without a data source or a run under way
  (开发运维);
- 即将到期 — my customers whose trial, paid period or grace ends within 30 days.

Each section costs two queries (its count, its first items) whatever the data size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.core.permissions import has_perm
from apps.customers.lifecycle import trial_extendable
from apps.customers.models import Customer, ServiceState
from apps.customers.selectors import visible_customers
from apps.datasources.models import DataSource, ProvisioningRun
from apps.leads import pool
from apps.leads.models import Lead
from apps.leads.selectors import is_overdue, visible_leads

LIMIT = 10
ENDING_DAYS = 30


@dataclass
class Item:
    title: str
    detail: str
    url: str  # the record
    action_url: str = ""  # the modal that does it ("" : no one-click action)
    action_label: str = ""
    alert: bool = False


@dataclass
class Section:
    code: str
    title: str
    count: int
    items: list[Item] = field(default_factory=list)
    more_url: str = ""


def _next(url: str, back: str) -> str:
    return f"{url}?{urlencode({'next': back})}"


def _lead_items(leads: QuerySet[Lead] | list[Lead], now: dt.datetime, back: str) -> list[Item]:
    items = []
    for lead in leads[:LIMIT]:
        overdue = is_overdue(lead, now)
        when = lead.next_follow_up_at or lead.registered_at
        items.append(
            Item(
                title=lead.company or lead.name,
                detail=("逾期 · " if overdue else "")
                + f"{lead.name} · {timezone.localtime(when).strftime('%m-%d %H:%M')}",
                url=reverse("leads:detail", args=[lead.pk]),
                action_url=_next(reverse("leads:follow_up", args=[lead.pk]), back),
                action_label="记录回访",
                alert=overdue,
            )
        )
    return items


def sections(user: Any, *, now: dt.datetime | None = None, items: bool = True) -> list[Section]:
    """The user's 待办 (``items=False``: the counts only, for the menu)."""
    now = now or timezone.now()
    back = reverse("console:inbox")
    end_of_today = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    found: list[Section] = []

    if has_perm(user, "leads.change_lead"):
        mine = visible_leads(user).filter(owner=user, status__in=Lead.OPEN_STATUSES)
        new = mine.filter(
            status=Lead.Status.NEW, last_follow_up_at__isnull=True, next_follow_up_at__isnull=True
        ).order_by("registered_at", "pk")
        section = Section("new_leads", "新分配给我的客户申请", new.count())
        section.more_url = reverse("leads:to_call")
        if items and section.count:
            section.items = _lead_items(new, now, back)
        found.append(section)
        due = mine.filter(next_follow_up_at__lte=end_of_today).order_by("next_follow_up_at", "pk")
        section = Section("callbacks", "今天待回访", due.count())
        section.more_url = reverse("leads:to_call")
        if items and section.count:
            section.items = _lead_items(due, now, back)
        found.append(section)
        rules = pool.policy()
        if rules.recycle_days:
            leaving = (
                pool.warned(rules, now)
                .filter(owner=user)
                .order_by("owned_since", "last_follow_up_at", "pk")
            )
            section = Section("recycling", "即将退回公海", leaving.count())
            section.more_url = reverse("leads:list") + "?owner=me"
            if items and section.count:
                rows = list(leaving[:LIMIT])
                section.items = _lead_items(rows, now, back)
                for item, lead in zip(section.items, rows, strict=True):
                    item.detail = pool.warning(lead, rules, now) or item.detail
                    item.alert = True
            found.append(section)

    if has_perm(user, "customers.activate_customer"):
        waiting = (
            visible_customers(user)
            .filter(owner=user, status=Customer.Status.NOT_OPENED)
            .filter(Exists(DataSource.objects.filter(customer=OuterRef("pk"))))
            .order_by("created_at", "pk")
        )
        section = Section("activation", "待开通的客户", waiting.count())
        section.more_url = reverse("customers:list") + "?status=0&owner=me"
        if items and section.count:
            section.items = [
                Item(
                    title=c.name or c.enterprise_no,
                    detail=f"{c.enterprise_no} · 数据源已配置",
                    url=reverse("customers:detail", args=[c.pk]),
                    action_url=reverse("customers:activate", args=[c.pk]),
                    action_label="开通",
                )
                for c in waiting[:LIMIT]
            ]
        found.append(section)

    if has_perm(user, "datasources.manage_datasource"):
        running = ProvisioningRun.objects.filter(
            customer=OuterRef("pk"), status__in=ProvisioningRun.ACTIVE
        )
        waiting = (
            visible_customers(user)
            .filter(status=Customer.Status.NOT_OPENED)
            .exclude(Exists(DataSource.objects.filter(customer=OuterRef("pk"))))
            .exclude(Exists(running))
            .order_by("created_at", "pk")
        )
        section = Section("datasource", "等待配置数据源的客户", waiting.count())
        section.more_url = reverse("customers:list") + "?status=0"
        if items and section.count:
            section.items = [
                Item(
                    title=c.name or c.enterprise_no,
                    detail=f"{c.enterprise_no} · {timezone.localtime(c.created_at):%m-%d} 建档",
                    url=reverse("customers:detail", args=[c.pk]),
                    action_url=reverse("datasources:configure", args=[c.pk]),
                    action_label="配置数据源",
                )
                for c in waiting[:LIMIT]
            ]
        found.append(section)

    if has_perm(user, "customers.view_customer") and has_perm(user, "customers.change_customer"):
        today = timezone.localdate(now)
        ending = (
            visible_customers(user)
            .filter(
                Q(owner=user),
                status=Customer.Status.OPEN,
                service_state__in=[ServiceState.TRIAL, ServiceState.ACTIVE, ServiceState.GRACE],
                service_ends_on__lte=today + dt.timedelta(days=ENDING_DAYS),
            )
            .order_by("service_ends_on", "pk")
        )
        section = Section("ending", "即将到期", ending.count())
        section.more_url = reverse("customers:list") + "?owner=me"
        if items and section.count:
            extend = has_perm(user, "customers.extend_trial")
            section.items = []
            for c in ending[:LIMIT]:
                days = (c.service_ends_on - today).days
                state = ServiceState(c.service_state).label
                item = Item(
                    title=c.name or c.enterprise_no,
                    detail=f"{state} · {days} 天后（{c.service_ends_on:%m-%d}）结束",
                    url=reverse("customers:detail", args=[c.pk]),
                    alert=days <= 7,
                )
                if extend and trial_extendable(c):
                    item.action_url = reverse("customers:extend_trial", args=[c.pk])
                    item.action_label = "延长试用"
                elif has_perm(user, "contracts.add_contract"):
                    item.action_url = reverse("customers:contract_gate", args=[c.pk])
                    item.action_label = "续签合同"
                section.items.append(item)
        found.append(section)
    return found


def count(user: Any) -> int:
    return sum(s.count for s in sections(user, items=False))
