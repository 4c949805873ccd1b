"""到期提醒: warn a customer's 负责人 ahead of the end of its trial, its paid service or its
grace period — the step of the daily sweep after the states are brought up to date.

``SERVICE_REMINDER_DAYS`` (default 7 and 1) are the thresholds. A customer whose state ends
in ``n`` days is due the smallest threshold ``≥ n`` — so a contract signed with three days
left gets the 7-day reminder once, then the 1-day one, never a burst. Each (customer, state,
end date, threshold) is warned once (``ServiceReminder``'s unique constraint is the claim,
so two sweeps at once do not both send); a new end date (a renewal, an extended trial)
starts afresh. The message goes to every channel the kernel's ``notify`` knows (the SMS
app registers one; the cockpit adds more) and is audited on the customer, with how it
was delivered or why it was not. A failed delivery is tried again by the next sweeps,
``SERVICE_REMINDER_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import registry

from .models import Customer, ServiceReminder, ServiceState

BATCH = 500

# What ends, as the message says it.
ENDING = {
    ServiceState.TRIAL: "试用期",
    ServiceState.ACTIVE: "服务期",
    ServiceState.GRACE: "宽限期",
}


def due_threshold(days_left: int, thresholds: list[int] | None = None) -> int | None:
    """The reminder due ``days_left`` days before an end: the smallest threshold at or
    above it, or None (too early, or already past)."""
    thresholds = settings.SERVICE_REMINDER_DAYS if thresholds is None else thresholds
    if days_left < 0:
        return None
    fitting = [d for d in thresholds if days_left <= d]
    return min(fitting) if fitting else None


def message(customer: Customer, today: dt.date) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The reminder's text and its template parameters (customer, what, date, days)."""
    ends_on = customer.service_ends_on
    days = (ends_on - today).days
    what = ENDING[ServiceState(customer.service_state)]
    if customer.service_state == ServiceState.GRACE:
        consequence = _("，到期后将停用")
    else:
        consequence = _("，到期后进入 %(n)d 天宽限期") % {"n": settings.SERVICE_GRACE_DAYS}
    text = _("客户「%(c)s」的%(w)s将于 %(d)s 结束（剩 %(n)d 天）%(then)s，请及时跟进。") % {
        "c": customer.name,
        "w": what,
        "d": ends_on.isoformat(),
        "n": days,
        "then": consequence,
    }
    params = (
        ("customer", customer.name),
        ("what", what),
        ("date", ends_on.isoformat()),
        ("days", str(days)),
    )
    return text, params


def send_reminders(*, today: dt.date | None = None) -> Counter:
    """Send the reminders due today. Returns counts: ``sent`` (a channel delivered),
    ``undelivered`` (no channel applies: no phone, SMS not configured), ``failed``."""
    today = today or timezone.localdate()
    counts: Counter = Counter()
    thresholds = settings.SERVICE_REMINDER_DAYS
    if not thresholds:
        return counts
    due = (
        Customer.objects.filter(
            status=Customer.Status.OPEN,
            service_state__in=list(ENDING),
            service_ends_on__range=(today, today + dt.timedelta(days=max(thresholds))),
        )
        .select_related("owner")
        .order_by("pk")
    )
    last = 0
    while True:
        batch = list(due.filter(pk__gt=last)[:BATCH])
        if not batch:
            return counts
        last = batch[-1].pk
        earlier = {
            (r.customer_id, r.state, r.ends_on, r.days_before): r
            for r in ServiceReminder.objects.filter(
                customer_id__in=[c.pk for c in batch], ends_on__gte=today
            )
        }
        for customer in batch:
            threshold = due_threshold((customer.service_ends_on - today).days, thresholds)
            if threshold is None:
                continue
            key = (customer.pk, customer.service_state, customer.service_ends_on, threshold)
            reminder = _claim(customer, threshold, earlier.get(key))
            if reminder is not None:
                counts[_deliver(customer, reminder, today)] += 1


def _claim(
    customer: Customer, threshold: int, earlier: ServiceReminder | None
) -> ServiceReminder | None:
    """This sweep's right to send: a new row, or a failed one with attempts left, taken by
    a conditional update — None when another sweep has it or it needs nothing more."""
    if earlier is None:
        try:
            with transaction.atomic():
                return ServiceReminder.objects.create(
                    customer=customer,
                    state=customer.service_state,
                    ends_on=customer.service_ends_on,
                    days_before=threshold,
                    recipient=customer.owner,
                    attempts=1,
                )
        except IntegrityError:
            return None
    if (
        earlier.sent_at is not None
        or not earlier.error
        or earlier.attempts >= settings.SERVICE_REMINDER_ATTEMPTS
    ):
        return None
    taken = ServiceReminder.objects.filter(
        pk=earlier.pk, attempts=earlier.attempts, sent_at=None
    ).update(attempts=F("attempts") + 1, error="", recipient=customer.owner)
    if not taken:
        return None
    earlier.attempts += 1
    earlier.error = ""
    earlier.recipient = customer.owner
    return earlier


def _deliver(customer: Customer, reminder: ServiceReminder, today: dt.date) -> str:
    text, params = message(customer, today)
    owner = customer.owner
    delivered, failed = (
        registry.notify(registry.Notice(owner, "service_reminder", text, params))
        if owner is not None and owner.is_active
        else ([], [])
    )
    who = owner.display_name if owner is not None else _("（无负责人）")
    if delivered:
        outcome = "sent"
        reminder.channels = "、".join(delivered)[:100]
        reminder.sent_at = timezone.now()
        note = _("已通过%(c)s提醒 %(u)s") % {"c": reminder.channels, "u": who}
    elif failed:
        outcome = "failed"
        reminder.error = "；".join(failed)[:200]
        left = settings.SERVICE_REMINDER_ATTEMPTS - reminder.attempts
        note = _("提醒 %(u)s 失败：%(e)s") % {"u": who, "e": reminder.error}
        if left > 0:
            note += _("，下次巡检将重试")
    else:
        outcome = "undelivered"
        if owner is None or not owner.is_active:
            note = _("无在职负责人，未能提醒")
        else:
            note = _("未能提醒 %(u)s：其未登记手机号或未配置提醒短信") % {"u": who}
    with transaction.atomic():
        reminder.save(update_fields=["channels", "error", "sent_at"])
        audit.record_entries(
            actor=None,
            entries=[
                audit.Entry(
                    "service_reminder",
                    customer,
                    _("到期提醒（提前 %(n)d 天）：%(t)s %(o)s")
                    % {"n": reminder.days_before, "t": text, "o": note},
                )
            ],
        )
    return outcome
