"""公海与分配规则: the rules a manager sets on who holds leads, and their one home.

- A lead not followed up for ``recycle_days`` since it was taken (claimed, assigned, placed)
  or since its last call-back returns to the pool; from ``warn_days`` before, its owner sees
  the date in 待办 and on the lead. The daily sweep recycles (``recycle``), idempotent and
  audited.
- A specialist holds at most ``hold_limit`` open leads and claims at most
  ``daily_claim_limit`` a day; whoever held a lead before it went back waits
  ``reclaim_wait_days`` before claiming it again (``check_claim``, ``check_hold``).
- A new lead that nobody owns goes by the first matching 分配规则 to the next of its
  specialists in turn (``place``).

0 switches a limit off. Limits of one specialist are checked with that specialist's row
locked, so two concurrent claims cannot both slip under a cap.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import regions
from apps.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from apps.core.inputs import text_problem
from apps.core.permissions import has_perm, require_perm
from apps.core.records import refuse_unknown
from apps.notifications import services as notifications

from .models import Channel, Lead, LeadClaim, PlacementRule, PoolPolicy

PERM = "leads.manage_pool_rules"
OWNER_PERM = "leads.change_lead"
MAX_DAYS = 3650
MAX_COUNT = 100_000
RECYCLE_BATCH = 500

POLICY_FIELDS = {
    "recycle_days": (_("未回访自动退回公海（天）"), MAX_DAYS),
    "warn_days": (_("提前提醒（天）"), MAX_DAYS),
    "hold_limit": (_("每人最多持有（条）"), MAX_COUNT),
    "daily_claim_limit": (_("每人每天最多领取（条）"), MAX_COUNT),
    "reclaim_wait_days": (_("原负责人再次领取需等待（天）"), MAX_DAYS),
}


def policy() -> PoolPolicy:
    """The rules in force (all off until a manager sets them)."""
    found = PoolPolicy.objects.filter(pk=1).first()
    return found if found is not None else PoolPolicy(pk=1)


def _count(value: Any, label: str, limit: int) -> tuple[int | None, str]:
    text = str(value if value is not None else "").strip()
    if text == "":
        return 0, ""
    try:
        number = int(text)
    except ValueError:
        return None, _("请输入整数")
    if not 0 <= number <= limit:
        return None, _("请输入 0–%(m)d") % {"m": limit}
    return number, ""


@transaction.atomic
def policy_update(*, actor, data: dict[str, Any]) -> PoolPolicy:
    """保存公海规则 (audited). Every field is a whole number ≥ 0; the warning comes before
    the recycling."""
    require_perm(actor, PERM)
    refuse_unknown(data, tuple(POLICY_FIELDS))
    current = PoolPolicy.objects.select_for_update().filter(pk=1).first()
    created = current is None
    current = current or PoolPolicy(pk=1)
    cleaned: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for name, (label, limit) in POLICY_FIELDS.items():
        if name not in data:
            continue
        number, problem = _count(data[name], label, limit)
        if problem:
            errors[name] = [problem]
        else:
            cleaned[name] = number
    recycle = cleaned.get("recycle_days", current.recycle_days)
    warn = cleaned.get("warn_days", current.warn_days)
    if not errors and recycle and warn >= recycle:
        errors["warn_days"] = [_("须少于退回公海的天数（%(n)d 天）") % {"n": recycle}]
    if errors:
        message = "；".join(f"{POLICY_FIELDS[k][0]}：{m[0]}" for k, m in errors.items())
        raise ValidationFailed(message, fields=errors)
    if created:
        for name, value in cleaned.items():
            setattr(current, name, value)
        current.updated_by = actor
        current.save()
        audit.record(actor=actor, action="create", obj=current, after=audit.snapshot(current))
        return current
    with audit.tracked(current, actor=actor):
        for name, value in cleaned.items():
            setattr(current, name, value)
        current.updated_by = actor
        current.save()
    return current


# --- Holding and claiming ------------------------------------------------------------------


def _lock_person(user) -> None:
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def held(user) -> int:
    return Lead.objects.filter(owner=user, status__in=Lead.OPEN_STATUSES).count()


def check_hold(owner, adding: int, rules: PoolPolicy | None = None) -> None:
    """Refuse giving ``owner`` ``adding`` more open leads beyond the holding cap."""
    rules = rules or policy()
    if owner is None or not rules.hold_limit or adding <= 0:
        return
    _lock_person(owner)
    now_held = held(owner)
    if now_held + adding > rules.hold_limit:
        raise Conflict(
            _("%(who)s 名下已有 %(n)d 条未结束的客户申请，最多持有 %(k)d 条")
            % {"who": owner.display_name, "n": now_held, "k": rules.hold_limit},
            code=ErrorCode.HOLD_LIMIT,
        )


def _day_start(now: dt.datetime) -> dt.datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def claimed_today(user, now: dt.datetime | None = None) -> int:
    start = _day_start(now or timezone.now())
    return LeadClaim.objects.filter(user=user, at__gte=start).count()


def check_claim(actor, lead: Lead, *, now: dt.datetime | None = None) -> None:
    """The rules a 领取 must pass (the caller holds the lead's row): the reclaim wait, the
    daily cap and the holding cap, each refused with what it is and when it lifts."""
    now = now or timezone.now()
    rules = policy()
    if (
        rules.reclaim_wait_days
        and lead.released_from_id == actor.pk
        and lead.released_at is not None
    ):
        until = lead.released_at + dt.timedelta(days=rules.reclaim_wait_days)
        if now < until:
            raise Conflict(
                _("该客户申请从你名下退回公海，%(d)d 天内不能再领取（%(t)s 后可领取）")
                % {
                    "d": rules.reclaim_wait_days,
                    "t": timezone.localtime(until).strftime("%Y-%m-%d %H:%M"),
                },
                code=ErrorCode.RECLAIM_WAIT,
            )
    if rules.daily_claim_limit:
        _lock_person(actor)
        if claimed_today(actor, now) >= rules.daily_claim_limit:
            raise Conflict(
                _("你今天已领取 %(j)d 条，已达每日上限，明天再来领取")
                % {"j": rules.daily_claim_limit},
                code=ErrorCode.CLAIM_LIMIT,
            )
    check_hold(actor, 1, rules)


def record_claim(actor, lead: Lead, now: dt.datetime) -> None:
    LeadClaim.objects.create(lead=lead, user=actor, at=now)


def stamp_owner(lead: Lead, previous_owner_id: int | None, now: dt.datetime) -> None:
    """A change of owner restarts the clock; leaving someone for the pool remembers them."""
    lead.owned_since = now if lead.owner_id else None
    if lead.owner_id is None and previous_owner_id:
        lead.released_from_id = previous_owner_id
        lead.released_at = now


STAMP_FIELDS = ("owned_since", "released_from", "released_at")


# --- Recycling -----------------------------------------------------------------------------


def quiet_since(lead: Lead) -> dt.datetime:
    """Since when nobody has followed the lead up: the later of its last call-back and the
    moment its owner took it."""
    taken = lead.owned_since or lead.registered_at
    last = lead.last_follow_up_at
    return max(taken, last) if last else taken


def returns_at(lead: Lead, rules: PoolPolicy | None = None) -> dt.datetime | None:
    """When the sweep will return this lead to the pool (None: it will not)."""
    rules = rules or policy()
    if not rules.recycle_days or lead.owner_id is None or not lead.is_open:
        return None
    return quiet_since(lead) + dt.timedelta(days=rules.recycle_days)


def warning(lead: Lead, rules: PoolPolicy | None = None, now: dt.datetime | None = None) -> str:
    """The notice on the lead within the warning window (""  outside it)."""
    rules = rules or policy()
    at = returns_at(lead, rules)
    if at is None:
        return ""
    now = now or timezone.now()
    if at - now > dt.timedelta(days=rules.warn_days):
        return ""
    return _("已 %(n)d 天未回访，将于 %(t)s 退回公海；记录一次回访即可保留") % {
        "n": max((now - quiet_since(lead)).days, 0),
        "t": timezone.localtime(at).strftime("%Y-%m-%d %H:%M"),
    }


def _quiet_before(cutoff: dt.datetime) -> Q:
    taken = Q(owned_since__lte=cutoff) | Q(owned_since__isnull=True, registered_at__lte=cutoff)
    called = Q(last_follow_up_at__isnull=True) | Q(last_follow_up_at__lte=cutoff)
    return taken & called


def due(rules: PoolPolicy, now: dt.datetime) -> QuerySet[Lead]:
    """Held open leads the sweep returns to the pool at ``now``."""
    if not rules.recycle_days:
        return Lead.objects.none()
    cutoff = now - dt.timedelta(days=rules.recycle_days)
    return Lead.objects.filter(
        _quiet_before(cutoff), owner__isnull=False, status__in=Lead.OPEN_STATUSES
    )


def warned(rules: PoolPolicy, now: dt.datetime) -> QuerySet[Lead]:
    """Held open leads inside the warning window (including those already due)."""
    if not rules.recycle_days:
        return Lead.objects.none()
    cutoff = now - dt.timedelta(days=rules.recycle_days - rules.warn_days)
    return Lead.objects.filter(
        _quiet_before(cutoff), owner__isnull=False, status__in=Lead.OPEN_STATUSES
    )


def recycle(*, now: dt.datetime | None = None) -> int:
    """The daily sweep's part: return every lead due to the pool, in batches, each row
    locked and checked again (a call-back recorded meanwhile keeps it), audited in bulk,
    and tell each former owner once. Running it again changes nothing more."""
    now = now or timezone.now()
    rules = policy()
    if not rules.recycle_days:
        return 0
    total = 0
    owners: Counter[int] = Counter()
    message = _("%(n)d 天未回访，自动退回公海") % {"n": rules.recycle_days}
    while True:
        ids = list(due(rules, now).order_by("pk").values_list("pk", flat=True)[:RECYCLE_BATCH])
        if not ids:
            break
        with transaction.atomic():
            rows = list(due(rules, now).select_for_update().filter(pk__in=ids).order_by("pk"))
            entries = []
            for lead in rows:
                entries.append((lead, {"owner": [lead.owner_id, None]}))
                owners[lead.owner_id] += 1
                previous = lead.owner_id
                lead.owner = None
                lead.updated_at = now
                stamp_owner(lead, previous, now)
            if rows:
                Lead.objects.bulk_update(rows, ["owner", "updated_at", *STAMP_FIELDS])
                audit.record_many(actor=None, action="recycle", entries=entries, message=message)
                total += len(rows)
        if len(rows) < len(ids):
            # Rows changed under us (a call-back, a claim): the next query sees them as
            # they are now, and skipped ones are no longer due.
            continue
    for owner_id, n in owners.items():
        notifications.announce(
            kind="lead_recycled",
            text=_("【绘管家】你有 %(n)d 条客户申请超过 %(d)d 天未回访，已退回公海。")
            % {"n": n, "d": rules.recycle_days},
            user_ids=[owner_id],
        )
    return total


# --- Placement -----------------------------------------------------------------------------


def _eligible(user) -> bool:
    return user.is_active and has_perm(user, OWNER_PERM)


def place(lead: Lead, pending: Counter[int] | None = None) -> Any:
    """The specialist the first matching 分配规则 gives a new, unowned lead to (None: it
    stays in the pool). The rule's row is locked, so concurrent arrivals take turns; a
    specialist who left, lost the role or is at the holding cap is skipped. ``pending``
    counts leads given in this transaction but not yet written (an import)."""
    rules = policy()
    pending = pending if pending is not None else Counter()
    for rule in PlacementRule.objects.filter(is_active=True).order_by("position", "pk"):
        if rule.province and rule.province != lead.province:
            continue
        if rule.channel and rule.channel != lead.channel:
            continue
        rule = PlacementRule.objects.select_for_update().get(pk=rule.pk)
        people = list(rule.specialists.order_by("pk"))
        if not people:
            continue
        start = 0
        if rule.last_placed_id is not None:
            later = [i for i, p in enumerate(people) if p.pk > rule.last_placed_id]
            start = later[0] if later else 0
        for person in people[start:] + people[:start]:
            if not _eligible(person):
                continue
            if rules.hold_limit:
                _lock_person(person)
                if held(person) + pending[person.pk] >= rules.hold_limit:
                    continue
            rule.last_placed = person
            rule.save(update_fields=["last_placed", "updated_at"])
            pending[person.pk] += 1
            return person
    return None


def _clean_rule(data: dict[str, Any], rule: PlacementRule | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    labels = {
        "name": _("规则名称"),
        "position": _("顺序"),
        "province": _("省份"),
        "channel": _("渠道"),
        "specialists": _("轮流分配给"),
        "is_active": _("启用"),
    }
    cleaned: dict[str, Any] = {}
    if "name" in data or rule is None:
        name = str(data.get("name") or "").strip()
        problem = text_problem(name)
        if not name:
            errors["name"] = [_("请输入规则名称")]
        elif problem:
            errors["name"] = [problem]
        elif len(name) > 50:
            errors["name"] = [_("最多 50 字")]
        cleaned["name"] = name
    if "position" in data:
        number, problem = _count(data["position"], labels["position"], 9999)
        if problem:
            errors["position"] = [problem]
        cleaned["position"] = number
    if "province" in data:
        province = regions.province_code(str(data["province"] or ""))
        if province is None:
            errors["province"] = [_("请选择有效的省份")]
        cleaned["province"] = province or ""
    if "channel" in data:
        channel = str(data["channel"] or "")
        if channel and channel not in Channel.values:
            errors["channel"] = [_("无效的选项")]
        cleaned["channel"] = channel
    if "specialists" in data or rule is None:
        people = list(data.get("specialists") or [])
        if not people:
            errors["specialists"] = [_("请至少选择一名专员")]
        elif any(not _eligible(p) for p in people):
            errors["specialists"] = [_("只能选择在职、负责客户申请的员工")]
        cleaned["specialists"] = people
    if "is_active" in data:
        cleaned["is_active"] = bool(data["is_active"])
    if errors:
        message = "；".join(f"{labels[k]}：{m[0]}" for k, m in errors.items())
        raise ValidationFailed(message, fields=errors)
    return cleaned


RULE_FIELDS = ("name", "position", "province", "channel", "specialists", "is_active")


@transaction.atomic
def rule_save(*, actor, data: dict[str, Any], rule: PlacementRule | None = None) -> PlacementRule:
    """新建或修改分配规则 (audited, the specialists by name in the diff)."""
    require_perm(actor, PERM)
    refuse_unknown(data, RULE_FIELDS)
    if rule is not None:
        rule = PlacementRule.objects.select_for_update().filter(pk=rule.pk).first()
        if rule is None:
            raise NotFound()
    cleaned = _clean_rule(data, rule)
    people = cleaned.pop("specialists", None)
    if rule is None:
        rule = PlacementRule.objects.create(created_by=actor, **cleaned)
        rule.specialists.set(people)
        after = audit.snapshot(rule)
        after["specialists"] = _names(people)
        audit.record(actor=actor, action="create", obj=rule, after=after)
        return rule
    with audit.tracked(
        rule, actor=actor, extra=lambda r: {"specialists": _names(r.specialists.order_by("pk"))}
    ):
        for name, value in cleaned.items():
            setattr(rule, name, value)
        rule.save()
        if people is not None:
            rule.specialists.set(people)
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: PlacementRule) -> None:
    require_perm(actor, PERM)
    rule = PlacementRule.objects.select_for_update().filter(pk=rule.pk).first()
    if rule is None:
        raise NotFound()
    audit.record(actor=actor, action="delete", obj=rule, before=audit.snapshot(rule))
    rule.delete()


def _names(people: Iterable[Any]) -> list[str]:
    return sorted(p.display_name for p in people)
