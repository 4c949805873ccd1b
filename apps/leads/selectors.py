"""Reads on leads (客户申请), narrowed by the caller's permission and data scope in one
place: an ops specialist sees the leads they own plus the unassigned pool (公海); managers
and admins see all."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.scope import owners_holding, scoped, sees_all
from apps.core import search
from apps.core import validators as v
from apps.core.errors import NotFound
from apps.core.inputs import ascii_digits, parse_id
from apps.core.permissions import has_perm, require_perm

from .models import SELF_APPLIED, Lead, PlacementRule, QrChannel

# The substring search's index (apps.core.search; migration 0008_name_search).
SEARCH_COLUMNS = ("name", "company")
SEARCH_INDEX = 2

SORTS = {
    "registered": "registered_at",
    "name": "name",
    "company": "company",
    "status": "status",
    "next": "next_follow_up_at",
    "last": "last_follow_up_at",
    "follow_ups": "follow_up_count",
}
NULLABLE_SORTS = {"next_follow_up_at", "last_follow_up_at"}
OPEN = "open"  # status filter: every open status (待回访, 跟进中, 有意向)


@dataclass
class LeadFilters:
    q: str = ""
    status: str = ""  # a Lead.Status value, or "open"
    channel: str = ""
    owner: str = ""  # user id, "none" for the pool, "me" for the caller
    date_from: dt.date | None = None  # registered on or after (Asia/Shanghai)
    date_to: dt.date | None = None  # registered on or before, inclusive
    overdue: bool = False
    qr: str = ""  # a QR channel id: the leads it brought
    sort: str = "-registered"


def first_call_hours() -> int:
    return int(getattr(settings, "LEAD_FIRST_CALL_HOURS", 24))


def overdue_condition(now: dt.datetime | None = None) -> Q:
    """Overdue (逾期未回访): an open, self-applied lead that was never followed up within
    LEAD_FIRST_CALL_HOURS of registering, or whose next follow-up time has passed."""
    now = now or timezone.now()
    late_first_call = Q(
        last_follow_up_at__isnull=True,
        registered_at__lt=now - dt.timedelta(hours=first_call_hours()),
    )
    return Q(
        Q(status__in=Lead.OPEN_STATUSES),
        Q(channel__in=SELF_APPLIED),
        late_first_call | Q(next_follow_up_at__lt=now),
    )


def to_call_condition(now: dt.datetime | None = None) -> Q:
    """To call (待回访): an open lead never followed up (and not scheduled), or whose next
    follow-up time has come."""
    now = now or timezone.now()
    never = Q(last_follow_up_at__isnull=True, next_follow_up_at__isnull=True)
    return Q(status__in=Lead.OPEN_STATUSES) & (never | Q(next_follow_up_at__lte=now))


def is_overdue(lead: Lead, now: dt.datetime | None = None) -> bool:
    """The same rule as ``overdue_condition`` for one loaded lead (no query)."""
    now = now or timezone.now()
    if not (lead.is_open and lead.is_self_applied):
        return False
    if lead.next_follow_up_at is not None and lead.next_follow_up_at < now:
        return True
    limit = now - dt.timedelta(hours=first_call_hours())
    return lead.last_follow_up_at is None and lead.registered_at < limit


def search_condition(q: str) -> Q:
    """A whole mobile number matches the phone exactly (unique index); 4–10 digits match
    part of it (e.g. the last four); anything else is part of the name or company."""
    digits = re.sub(r"[\s\-()（）+]", "", ascii_digits(q))
    if digits.isascii() and digits.isdigit():
        if v.is_mobile(digits):
            return Q(phone=v.mobile_e164(digits))
        if 4 <= len(digits) <= 11:
            return Q(phone__contains=digits)
    return search.contains(Lead, SEARCH_COLUMNS, q, index=SEARCH_INDEX)


def visible_leads(user) -> QuerySet[Lead]:
    """Every lead the user may see (permission + data scope)."""
    if not has_perm(user, "leads.view_lead"):
        return Lead.objects.none()
    return scoped(Lead.objects.all(), user)


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _filtered(user, filters: LeadFilters) -> QuerySet[Lead]:
    require_perm(user, "leads.view_lead")
    qs = visible_leads(user).select_related("owner", "qr_channel")
    q = filters.q.strip()
    if q:
        qs = qs.filter(search_condition(q))
    if filters.status == OPEN:
        qs = qs.filter(status__in=Lead.OPEN_STATUSES)
    elif filters.status in Lead.Status.values:
        qs = qs.filter(status=filters.status)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif filters.owner == "me":
        qs = qs.filter(owner=user)
    elif parse_id(filters.owner) is not None:
        qs = qs.filter(owner_id=parse_id(filters.owner))
    if filters.date_from:
        qs = qs.filter(registered_at__gte=_start_of(filters.date_from))
    if filters.date_to:
        qs = qs.filter(registered_at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    if filters.overdue:
        qs = qs.filter(overdue_condition())
    if parse_id(filters.qr) is not None:
        qs = qs.filter(qr_channel_id=parse_id(filters.qr))
    return qs


def lead_list(*, user, filters: LeadFilters) -> QuerySet[Lead]:
    qs = _filtered(user, filters)
    key = filters.sort.lstrip("-")
    column = SORTS.get(key, "registered_at")
    desc = filters.sort.startswith("-") or key not in SORTS
    if column in NULLABLE_SORTS:
        order = F(column).desc(nulls_last=True) if desc else F(column).asc(nulls_last=True)
    else:
        order = f"-{column}" if desc else column
    return qs.order_by(order, "-id" if desc else "id")


def to_call_list(*, user, filters: LeadFilters | None = None) -> QuerySet[Lead]:
    """Leads due for a call, the one waiting longest first. Each row carries ``due_at``
    (since when it has been waiting: the next follow-up time, or registration)."""
    qs = _filtered(user, filters or LeadFilters()).filter(to_call_condition())
    qs = qs.annotate(due_at=Coalesce("next_follow_up_at", "registered_at"))
    return qs.order_by("due_at", "id")


def access_lead(user, pk: int | str, *, perm: str = "leads.view_lead") -> Lead:
    """The lead ``pk`` if the user may see it; the same NotFound for missing and
    out-of-scope leads, so ids cannot be probed."""
    require_perm(user, perm)
    try:
        return (
            visible_leads(user)
            .select_related("owner", "qr_channel", "customer", "created_by", "released_from")
            .get(pk=parse_id(pk))
        )
    except (Lead.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def follow_ups_of(lead: Lead) -> QuerySet:
    return lead.follow_ups.select_related("actor").order_by("-at", "-id")


def lead_counts(user) -> dict[str, int]:
    """The 工作台's lead figures for the user (one query): overdue, due to call, own open."""
    if not has_perm(user, "leads.view_lead"):
        return {}
    now = timezone.now()
    return visible_leads(user).aggregate(
        overdue=Count("id", filter=overdue_condition(now)),
        to_call=Count("id", filter=to_call_condition(now)),
        pool=Count("id", filter=Q(owner__isnull=True, status__in=Lead.OPEN_STATUSES)),
    )


# --- Waiting time ------------------------------------------------------------------------


def waited_text(delta: dt.timedelta) -> str:
    """``3 天 4 小时`` / ``5 小时 10 分钟`` / ``12 分钟`` — how long a lead has waited."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(d)d 天 %(h)d 小时") % {"d": days, "h": hours}
    if hours:
        return _("%(h)d 小时 %(m)d 分钟") % {"h": hours, "m": minutes}
    return _("%(m)d 分钟") % {"m": minutes}


def mark_waiting(leads: Iterable[Lead], now: dt.datetime | None = None) -> None:
    """Set ``waited`` (timedelta) and ``waited_text`` on rows of ``to_call_list``."""
    now = now or timezone.now()
    for lead in leads:
        lead.waited = now - lead.due_at
        lead.waited_text = waited_text(lead.waited)


# --- Duplicates --------------------------------------------------------------------------


@dataclass
class Duplicate:
    """An existing customer that a lead seems to be: same contact phone or company name."""

    customer: object
    by_phone: bool
    by_company: bool
    visible: bool  # whether the viewer may open the customer

    @property
    def reason(self) -> str:
        parts = []
        if self.by_phone:
            parts.append(_("联系电话相同"))
        if self.by_company:
            parts.append(_("企业名称相同"))
        return "、".join(parts)


@dataclass
class DuplicateIndex:
    by_lead: dict[int, list[Duplicate]] = field(default_factory=dict)

    def get(self, lead_id: int) -> list[Duplicate]:
        return self.by_lead.get(lead_id, [])


def duplicate_customers(leads: Iterable[Lead], *, viewer=None) -> DuplicateIndex:
    """Existing customers matching a page of leads, found in ONE query: customers whose
    contact phone is one of the leads' phones (11 digits) or whose name is one of the
    leads' companies. A lead's own converted customer is not a duplicate."""
    from apps.customers.models import Customer

    leads = list(leads)
    phones = {lead.display_phone for lead in leads}
    companies = {lead.company for lead in leads if lead.company}
    index = DuplicateIndex()
    if not leads:
        return index
    condition = Q(contact_phone__in=phones)
    if companies:
        condition |= Q(name__in=companies)
    # No ORDER BY in the database: it would read the table in id order instead of the two
    # indexes (phone, name) the condition needs.
    customers = sorted(
        Customer.objects.filter(condition)
        .select_related("owner")
        .only("id", "name", "enterprise_no", "contact_phone", "owner__username", "owner__name")
        .order_by(),
        key=lambda c: c.pk,
    )
    if not customers:
        return index
    can_view = has_perm(viewer, "customers.view_customer") if viewer is not None else False
    everyone = sees_all(viewer) if viewer is not None else False
    for lead in leads:
        phone = lead.display_phone
        found = []
        for c in customers:
            if c.pk == lead.customer_id:
                continue
            by_phone = c.contact_phone == phone
            by_company = bool(lead.company) and c.name == lead.company
            if by_phone or by_company:
                visible = can_view and (
                    everyone or c.owner_id is None or c.owner_id == getattr(viewer, "pk", None)
                )
                found.append(Duplicate(c, by_phone, by_company, visible))
        if found:
            index.by_lead[lead.pk] = found
    return index


def attach_duplicates(leads: Iterable[Lead], *, viewer=None) -> list[Lead]:
    """Set ``duplicates`` on each lead (one query for all of them); returns the list."""
    leads = list(leads)
    index = duplicate_customers(leads, viewer=viewer)
    for lead in leads:
        lead.duplicates = index.get(lead.pk)
    return leads


# --- QR channels -------------------------------------------------------------------------


def qr_channel_list(*, user) -> QuerySet[QrChannel]:
    """Every QR channel with its registrations and conversions, counted in one query."""
    require_perm(user, "leads.manage_qrchannel")
    return (
        QrChannel.objects.select_related("owner")
        .annotate(
            registrations=Count("leads"),
            conversions=Count("leads", filter=Q(leads__status=Lead.Status.CONVERTED)),
        )
        .order_by("-created_at", "-id")
    )


def access_qr_channel(user, pk: int | str) -> QrChannel:
    require_perm(user, "leads.manage_qrchannel")
    try:
        return QrChannel.objects.select_related("owner").get(pk=parse_id(pk))
    except (QrChannel.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def assignable_owners() -> QuerySet:
    """Active staff who may own leads (the rule of ``services.OWNER_PERM``)."""
    from .services import OWNER_PERM

    return owners_holding(OWNER_PERM)


def placement_rules() -> list[PlacementRule]:
    """分配规则 in the order they are tried, each with its specialists (two queries)."""
    return list(
        PlacementRule.objects.prefetch_related(
            Prefetch("specialists", queryset=User.objects.order_by("pk"))
        ).order_by("position", "pk")
    )


def access_placement_rule(pk: int | str) -> PlacementRule:
    rule = PlacementRule.objects.filter(pk=parse_id(pk)).first() if parse_id(pk) else None
    if rule is None:
        raise NotFound()
    return rule


def find_lead(user, text: str) -> Lead | None:
    """The lead a 合并 form names — by its number (#12 or 12) or its phone — if the user may
    see it."""
    text = ascii_digits((text or "").strip()).lstrip("#")
    if not text:
        return None
    leads = visible_leads(user).select_related("owner", "qr_channel")
    if v.is_mobile(text):
        return leads.filter(phone=v.mobile_e164(text)).first()
    pk = parse_id(text)
    return leads.filter(pk=pk).first() if pk is not None else None


def merge_candidates(user, lead: Lead, limit: int = 5) -> list[Lead]:
    """Leads that look like the same applicant: the same company or the same name."""
    match = Q(name=lead.name)
    if lead.company:
        match |= Q(company=lead.company)
    return list(
        visible_leads(user)
        .filter(match)
        .exclude(pk=lead.pk)
        .select_related("owner")
        .order_by("-registered_at", "-pk")[:limit]
    )
