"""The 工作台's figures — one home for the page and ``GET /api/v1/dashboard``.

Every figure is filtered by the registration period (``date_from`` … ``date_to``), the
channel and the owner; a member of staff who sees only their own records (no
``accounts.data_scope_all``) gets the same figures over the records they own. Each figure is
one aggregate query (the median two), whatever the data size:

- ``funnel`` — 申请 → 已回访 → 有意向 → 已转化 → 已开通 → 已上线, per channel;
- ``by_month`` — applications and conversions per month of registration;
- ``callback`` — median time to the first call-back, the share called back within
  ``LEAD_FIRST_CALL_HOURS``;
- ``by_owner`` / ``by_qr`` — applications and conversions per specialist / QR channel;
- ``service_states`` / ``impl_states`` — customers per service state / 实施状态;
- ``expiring`` — open contracts ending within 30 / 60 / 90 days; ``contract_value`` — the
  value of contracts per month they start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    Sum,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from apps.contracts.selectors import visible_contracts
from apps.core.permissions import has_perm
from apps.customers.models import Customer, ServiceState
from apps.customers.selectors import visible_customers
from apps.datasources.models import DataSource
from apps.leads.models import Channel, Lead
from apps.leads.selectors import first_call_hours, visible_leads

STAGES = (
    ("applied", "申请"),
    ("called", "已回访"),
    ("interested", "有意向"),
    ("converted", "已转化"),
    ("opened", "已开通"),
    ("online", "已上线"),
)


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    channel: str = ""
    owner: int | None = None  # a staff id (managers); specialists always see their own

    def scoped(self, user: Any) -> Filters:
        if has_perm(user, "accounts.data_scope_all"):
            return self
        return Filters(self.date_from, self.date_to, self.channel, user.pk)


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


# Registration times outside these (a row written by hand, say) are left out of the
# figures: they are no one's real activity, and date arithmetic on them can overflow.
SANE_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SANE_TO = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)


def leads_of(user: Any, f: Filters):
    qs = visible_leads(user).filter(registered_at__gte=SANE_FROM, registered_at__lt=SANE_TO)
    if f.date_from:
        qs = qs.filter(registered_at__gte=_day_start(f.date_from))
    if f.date_to:
        qs = qs.filter(registered_at__lt=_day_start(f.date_to + dt.timedelta(days=1)))
    if f.channel in Channel.values:
        qs = qs.filter(channel=f.channel)
    if f.owner:
        qs = qs.filter(owner_id=f.owner)
    return qs


STAGE_CONDITIONS = {
    "applied": Q(),
    "called": Q(last_follow_up_at__isnull=False),
    "interested": Q(status__in=[Lead.Status.INTERESTED, Lead.Status.CONVERTED]),
    "converted": Q(status=Lead.Status.CONVERTED),
    "opened": Q(status=Lead.Status.CONVERTED, customer__activated_at__isnull=False),
    "online": Q(
        status=Lead.Status.CONVERTED,
        customer__datasource__impl_status=DataSource.ImplStatus.ONLINE,
    ),
}


def funnel(leads) -> dict[str, Any]:
    """The stages per channel and in all (one query)."""
    rows = leads.values("channel").annotate(
        **{code: Count("id", filter=cond) for code, cond in STAGE_CONDITIONS.items()}
    )
    per_channel = {r["channel"]: {code: r[code] for code, _l in STAGES} for r in rows}
    total = {code: sum(c[code] for c in per_channel.values()) for code, _l in STAGES}
    return {
        "stages": [{"code": c, "label": label, "count": total[c]} for c, label in STAGES],
        "channels": [
            {"channel": ch, "label": str(Channel(ch).label), **per_channel[ch]}
            for ch in Channel.values
            if ch in per_channel
        ],
    }


def _local_month(field: str) -> TruncMonth:
    """The month of ``field`` in the local time zone, without the database converting time
    zones (MySQL/MariaDB need their time-zone tables for that): the local offset is added
    and the month taken in UTC. Asia/Shanghai has no daylight saving, so one offset fits."""
    offset = timezone.localtime().utcoffset() or dt.timedelta()
    shifted = ExpressionWrapper(F(field) + offset, output_field=DateTimeField())
    return TruncMonth(shifted, tzinfo=dt.UTC)


def by_month(leads) -> list[dict[str, Any]]:
    rows = (
        leads.annotate(month=_local_month("registered_at"))
        .values("month")
        .annotate(applied=Count("id"), converted=Count("id", filter=STAGE_CONDITIONS["converted"]))
        .order_by("month")
    )
    return [
        {"month": _month(r["month"]), "applied": r["applied"], "converted": r["converted"]}
        for r in rows
    ]


def _month(value: Any) -> str:
    return f"{value:%Y-%m}" if value else ""


def callback(leads) -> dict[str, Any]:
    """Median hours to the first call-back and the share within the first-call limit (two
    queries: the counts, then the middle of the ordered waits)."""
    waited = (
        leads.annotate(first=Min("follow_ups__at"))
        .filter(first__isnull=False)
        .annotate(wait=ExpressionWrapper(F("first") - F("registered_at"), DurationField()))
    )
    limit = dt.timedelta(hours=first_call_hours())
    counts = leads.aggregate(
        total=Count("id"), called=Count("id", filter=Q(last_follow_up_at__isnull=False))
    )
    within = waited.filter(wait__lte=limit).count()
    called = waited.count()
    median = None
    if called:
        middle = list(
            waited.order_by("wait", "pk").values_list("wait", flat=True)[
                (called - 1) // 2 : called // 2 + 1
            ]
        )
        median = sum(middle, dt.timedelta()) / len(middle)
    return {
        "applied": counts["total"],
        "called": called,
        "within_limit": within,
        "within_share": round(within / counts["total"], 4) if counts["total"] else None,
        "limit_hours": first_call_hours(),
        "median_hours": round(median.total_seconds() / 3600, 2) if median is not None else None,
    }


def by_owner(leads) -> list[dict[str, Any]]:
    rows = (
        leads.values("owner_id", "owner__name", "owner__username")
        .annotate(applied=Count("id"), converted=Count("id", filter=STAGE_CONDITIONS["converted"]))
        .order_by("-converted", "-applied", "owner_id")
    )
    return [
        {
            "owner": r["owner_id"],
            "label": r["owner__name"] or r["owner__username"] or "公海（未分配）",
            "applied": r["applied"],
            "converted": r["converted"],
        }
        for r in rows
    ]


def by_qr(leads) -> list[dict[str, Any]]:
    rows = (
        leads.filter(qr_channel__isnull=False)
        .values("qr_channel_id", "qr_channel__name")
        .annotate(applied=Count("id"), converted=Count("id", filter=STAGE_CONDITIONS["converted"]))
        .order_by("-applied", "qr_channel_id")
    )
    return [
        {
            "qr": r["qr_channel_id"],
            "label": r["qr_channel__name"],
            "applied": r["applied"],
            "converted": r["converted"],
        }
        for r in rows
    ]


def customers_of(user: Any, f: Filters):
    qs = visible_customers(user)
    return qs.filter(owner_id=f.owner) if f.owner else qs


def service_states(customers) -> list[dict[str, Any]]:
    counts = dict(
        customers.filter(status=Customer.Status.OPEN)
        .values_list("service_state")
        .annotate(n=Count("id"))
        .values_list("service_state", "n")
    )
    return [
        {"state": s.value, "label": str(s.label), "count": counts.get(s.value, 0)}
        for s in ServiceState
        if s != ServiceState.CLOSED
    ]


def impl_states(customers) -> list[dict[str, Any]]:
    counts = dict(
        customers.values_list("datasource__impl_status")
        .annotate(n=Count("id"))
        .values_list("datasource__impl_status", "n")
    )
    rows = [{"state": "none", "label": "未配置数据源", "count": counts.get(None, 0)}]
    rows += [
        {"state": str(s.value), "label": str(s.label), "count": counts.get(s.value, 0)}
        for s in DataSource.ImplStatus
    ]
    return rows


def contracts_of(user: Any, f: Filters):
    qs = visible_contracts(user)
    return qs.filter(customer__owner_id=f.owner) if f.owner else qs


def expiring(contracts, today: dt.date) -> list[dict[str, Any]]:
    windows = (30, 60, 90)
    row = contracts.filter(status="open", end_date__gte=today).aggregate(
        **{
            f"d{days}": Count("id", filter=Q(end_date__lte=today + dt.timedelta(days=days)))
            for days in windows
        }
    )
    return [{"days": days, "count": row[f"d{days}"]} for days in windows]


def contract_value(contracts, f: Filters) -> list[dict[str, Any]]:
    qs = contracts.filter(start_date__gte=SANE_FROM.date(), start_date__lt=SANE_TO.date())
    if f.date_from:
        qs = qs.filter(start_date__gte=f.date_from)
    if f.date_to:
        qs = qs.filter(start_date__lte=f.date_to)
    rows = (
        qs.annotate(month=TruncMonth("start_date"))
        .values("month")
        .annotate(amount=Sum("amount"), count=Count("id"))
        .order_by("month")
    )
    return [
        {
            "month": _month(r["month"]),
            "amount": str((r["amount"] or Decimal("0")).quantize(Decimal("0.01"))),
            "count": r["count"],
        }
        for r in rows
    ]


def figures(user: Any, filters: Filters, *, today: dt.date | None = None) -> dict[str, Any]:
    """Everything the 工作台 charts and ``GET /api/v1/dashboard`` show."""
    f = filters.scoped(user)
    today = today or timezone.localdate()
    leads = leads_of(user, f)
    customers = customers_of(user, f)
    contracts = contracts_of(user, f)
    return {
        "filters": {
            "date_from": f.date_from.isoformat() if f.date_from else None,
            "date_to": f.date_to.isoformat() if f.date_to else None,
            "channel": f.channel or None,
            "owner": f.owner,
        },
        "funnel": funnel(leads),
        "by_month": by_month(leads),
        "callback": callback(leads),
        "by_owner": by_owner(leads),
        "by_qr": by_qr(leads),
        "service_states": service_states(customers),
        "impl_states": impl_states(customers),
        "expiring": expiring(contracts, today),
        "contract_value": contract_value(contracts, f),
    }
