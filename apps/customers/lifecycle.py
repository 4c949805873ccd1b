"""The service lifecycle: 试用中 trial · 服务中 active · 宽限期 grace · 已停用 suspended ·
已关闭 closed, and when each ends.

Where a customer stands is computed — by ``standing`` alone — from its status (开通 /
关闭), its trial and its paid service periods (its open contracts, through the kernel's
``service_periods`` hook; contracts sit above customers). ``refresh`` stores it, audits
every move and moves the tenant in the registry feed; the contract services call it when
a contract changes, 开通 and 关闭 call it, and ``daily_sweep`` calls it for everyone each
day — so running the sweep twice changes nothing more.

Rules (DESIGN §3.7), for an open customer on day ``today``:
- a paid period covering today (contiguous contracts merged) → 服务中 until its end;
- else a trial not yet over → 试用中 until its end;
- else, after a paid period or a trial ended, ``SERVICE_GRACE_DAYS`` of 宽限期, then 已停用;
- a customer opened without contract or trial, or whose only contract starts later, is
  服务中 without a past end (nothing lapsed). A new or extended contract restores service.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import registry
from apps.core.errors import Conflict, ErrorCode, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import update_each

from .models import Customer, ServiceState
from .services import registry_changed

SWEEP_BATCH = 500


@dataclass(frozen=True)
class Standing:
    state: str  # a ServiceState value, or "" for a customer never opened
    ends_on: dt.date | None  # when this state ends (None: not dated)
    communities: int | None = None  # the largest 授权小区数 of the period serving it


Period = tuple  # (start, end) or (start, end, 授权小区数)


def _blocks(periods: Iterable[Period]) -> list[tuple[dt.date, dt.date, int | None]]:
    """Periods merged where they overlap or touch (renewals), in order, each with the
    largest 授权小区数 of its contracts."""
    merged: list[tuple[dt.date, dt.date, int | None]] = []
    for start, end, *rest in sorted(periods, key=lambda p: (p[0], p[1])):
        communities = rest[0] if rest else None
        if merged and start <= merged[-1][1] + dt.timedelta(days=1):
            first, last, most = merged[-1]
            most = max((c for c in (most, communities) if c is not None), default=None)
            merged[-1] = (first, max(last, end), most)
        else:
            merged.append((start, end, communities))
    return merged


def standing(customer: Customer, periods: Iterable[Period], today: dt.date) -> Standing:
    """Where ``customer`` stands on ``today`` (see the module's rules)."""
    if customer.status == Customer.Status.NOT_OPENED:
        return Standing("", None)
    if customer.status == Customer.Status.CLOSED:
        return Standing(ServiceState.CLOSED, None)
    blocks = _blocks(periods)
    for start, end, communities in blocks:
        if start <= today <= end:
            return Standing(ServiceState.ACTIVE, end, communities)
    trial = customer.trial_ends_on
    if trial is not None and today <= trial:
        return Standing(ServiceState.TRIAL, trial)
    ended = [(end, c) for _start, end, c in blocks if end < today]
    last_paid = max(ended, key=lambda e: e[0]) if ended else None
    ends = [e for e, _c in ended] + ([trial] if trial else [])
    if not ends:
        upcoming = [(start, end, c) for start, end, c in blocks if start > today]
        if upcoming:
            _start, end, communities = min(upcoming)
            return Standing(ServiceState.ACTIVE, end, communities)
        return Standing(ServiceState.ACTIVE, None)
    grace_ends = max(ends) + dt.timedelta(days=settings.SERVICE_GRACE_DAYS)
    communities = last_paid[1] if last_paid and last_paid[0] == max(ends) else None
    if today <= grace_ends:
        return Standing(ServiceState.GRACE, grace_ends, communities)
    return Standing(ServiceState.SUSPENDED, None, communities)


@dataclass(frozen=True)
class Move:
    customer: Customer
    before: Standing
    after: Standing


def refresh(
    customer_ids: Iterable[int], *, today: dt.date | None = None, actor=None, stamp: bool = True
) -> list[Move]:
    """Store where these customers stand today; audit each move; move them in the registry
    feed (``stamp``; last in the transaction). Returns the moves."""
    today = today or timezone.localdate()
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return []
    with transaction.atomic():
        customers = list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        periods = registry.service_periods([c.pk for c in customers])
        moves = []
        for customer in customers:
            before = Standing(
                customer.service_state, customer.service_ends_on, customer.licensed_communities
            )
            after = standing(customer, periods.get(customer.pk, []), today)
            if after != before:
                customer.service_state, customer.service_ends_on = after.state, after.ends_on
                customer.licensed_communities = after.communities
                moves.append(Move(customer, before, after))
        if not moves:
            return []
        update_each(
            [m.customer for m in moves],
            ["service_state", "service_ends_on", "licensed_communities"],
        )
        audit.record_entries(
            actor=actor,
            entries=[
                audit.Entry(
                    "service_state",
                    m.customer,
                    _describe(m),
                    {
                        k: v
                        for k, v in {
                            "service_state": [m.before.state, m.after.state],
                            "service_ends_on": [_iso(m.before.ends_on), _iso(m.after.ends_on)],
                            "licensed_communities": [m.before.communities, m.after.communities],
                        }.items()
                        if v[0] != v[1]
                    },
                )
                for m in moves
            ],
        )
        if stamp:
            registry_changed([m.customer.pk for m in moves])
    return moves


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def state_label(state: str) -> str:
    return str(ServiceState(state).label) if state else _("未开通")


def _describe(move: Move) -> str:
    before, after = move.before, move.after
    if before.state != after.state:
        text = _("服务状态：%(a)s → %(b)s") % {
            "a": state_label(before.state),
            "b": state_label(after.state),
        }
    elif before.ends_on != after.ends_on:
        text = _("服务截止日：%(a)s → %(b)s") % {
            "a": _iso(before.ends_on) or _("未定"),
            "b": _iso(after.ends_on) or _("未定"),
        }
        return text
    else:
        return _("合同授权小区数：%(a)s → %(b)s") % {
            "a": before.communities if before.communities is not None else "—",
            "b": after.communities if after.communities is not None else "—",
        }
    if after.ends_on:
        text += _("（至 %(d)s）") % {"d": after.ends_on.isoformat()}
    return text


def daily_sweep(*, today: dt.date | None = None) -> Counter:
    """Bring every opened customer's service state up to date, in batches; idempotent.
    Returns how many moved into each state."""
    today = today or timezone.localdate()
    counts: Counter = Counter()
    last = 0
    while True:
        batch = list(
            Customer.objects.filter(pk__gt=last)
            .exclude(status=Customer.Status.NOT_OPENED, service_state="")
            .order_by("pk")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if not batch:
            return counts
        for move in refresh(batch, today=today):
            counts[move.after.state] += 1
        last = batch[-1]


def daily(*, today: dt.date | None = None) -> tuple[Counter, Counter]:
    """The day's work (``manage.py daily_sweep`` and the beat task): bring the states up to
    date, then send the 到期提醒 due on them. Returns (moves per state, reminders by
    outcome); idempotent. The other apps' daily work follows (``other_daily_jobs``)."""
    from .reminders import send_reminders

    today = today or timezone.localdate()
    return daily_sweep(today=today), send_reminders(today=today)


def other_daily_jobs(*, today: dt.date | None = None) -> list[tuple[str, int, str]]:
    """Run the daily work other apps registered (``core.registry.DailyJob``), on ``today``
    at the present time of day. Returns (code, how many changed, the sentence saying it)."""
    now = timezone.localtime()
    if today is not None:
        now = now.replace(year=today.year, month=today.month, day=today.day)
    done = []
    for job in registry.daily_jobs():
        n = job.run(now)
        done.append((job.code, n, str(job.summary) % {"n": n}))
    return done


# --- 试用 -----------------------------------------------------------------------------------


def trial_length(days: Any, default: int | None = None) -> int:
    """A trial's length in days (default ``TRIAL_DAYS``), or a 422 naming ``days``."""
    return _trial_days(days, settings.TRIAL_DAYS if default is None else default)


def customer_start_trial(
    *, actor, customer: Customer, package: Any, days: Any = "", profile: dict | None = None
) -> Customer:
    """开通试用: open the customer on ``package`` for ``days`` (default ``TRIAL_DAYS``)
    without a contract; the profile gate and the data-source prerequisite still apply."""
    from .services import customer_activate

    return customer_activate(
        actor=actor, customer=customer, package=package, profile=profile, trial_days=days
    )


def _trial_days(days: Any, default: int) -> int:
    try:
        value = int(default if days in (None, "") else days)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= settings.TRIAL_MAX_DAYS:
        message = _("请输入 1–%(m)d 天") % {"m": settings.TRIAL_MAX_DAYS}
        raise ValidationFailed(_("试用天数：%(m)s") % {"m": message}, fields={"days": [message]})
    return value


def trial_extendable(customer: Customer) -> bool:
    """Whether the trial may be extended: the customer is (or was, now in grace or
    suspended) on a trial, and has extensions left."""
    return (
        customer.trial_ends_on is not None
        and customer.service_state
        in (ServiceState.TRIAL, ServiceState.GRACE, ServiceState.SUSPENDED)
        and customer.trial_extensions < settings.TRIAL_MAX_EXTENSIONS
    )


@transaction.atomic
def customer_extend_trial(*, actor, customer: Customer, days: Any = None) -> Customer:
    """延长试用: a manager moves the trial's end ``days`` (default
    ``TRIAL_EXTENSION_DAYS``) past the later of its end and today, at most
    ``TRIAL_MAX_EXTENSIONS`` times. Only a customer on trial (or in the grace after it)."""
    require_perm(actor, "customers.extend_trial")
    days = _trial_days(days, settings.TRIAL_EXTENSION_DAYS)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not trial_extendable(customer):
        if customer.trial_extensions >= settings.TRIAL_MAX_EXTENSIONS:
            message = _("试用已延长 %(n)d 次，不能再延长") % {"n": customer.trial_extensions}
        else:
            message = _("该客户不在试用中，不能延长试用")
        raise Conflict(message, code=ErrorCode.CONFLICT)
    today = timezone.localdate()
    with audit.tracked(customer, actor=actor, action="trial_extend", always=True):
        customer.trial_ends_on = max(customer.trial_ends_on, today) + dt.timedelta(days=days)
        customer.trial_extensions += 1
        customer.save(update_fields=["trial_ends_on", "trial_extensions", "updated_at"])
    refresh([customer.pk], today=today, actor=actor)
    customer.refresh_from_db()
    return customer
