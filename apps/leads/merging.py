"""合并重复的客户申请: the same company applied twice (another phone, another channel).

One lead survives (``keep``); the other (``drop``) gives it its follow-ups, its day's
claims, its customer if it was converted, the earliest registration's channel attribution
(channel, QR channel, source, registration time), its repeat applications and whatever
``keep`` lacks (company, province, owner); its own phone and name are written into
``keep``'s notes. ``drop`` is then deleted; its audit rows show in ``keep``'s history. Two
converted leads are refused: merge their customers instead (which merges the leads).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import validators as v
from apps.core.errors import Conflict, ErrorCode
from apps.core.permissions import require_perm
from apps.core.records import lock_pair

from .models import FollowUp, Lead, LeadClaim

PERM = "leads.merge_lead"
NOTES_LIMIT = 2000


def _refuse(message: str) -> Conflict:
    return Conflict(message, code=ErrorCode.MERGE_REFUSED)


def _locked_pair(keep: Lead, drop: Lead) -> tuple[Lead, Lead]:
    if keep.pk == drop.pk:
        raise _refuse(_("不能把客户申请与它自己合并"))
    pair = lock_pair(Lead, keep, drop)
    if pair is None:
        raise _refuse(_("要合并的客户申请已不存在"))
    return pair


@transaction.atomic
def lead_merge(*, actor: Any, keep: Lead, drop: Lead) -> Lead:
    """Merge ``drop`` into ``keep`` (see the module); audited on both."""
    require_perm(actor, PERM)
    keep, drop = _locked_pair(keep, drop)
    if keep.customer_id and drop.customer_id:
        raise _refuse(_("两条客户申请都已转化为客户，请合并对应的客户（申请随之合并）"))
    return absorb(actor=actor, keep=keep, drop=drop)


def absorb(*, actor: Any, keep: Lead, drop: Lead, customer: Any = None) -> Lead:
    """The merge itself, on rows the caller locked. ``customer``: the customer ``keep``
    belongs to afterwards (a customer merge passes it; ``drop``'s link is released)."""
    moved = FollowUp.objects.filter(lead=drop).update(lead=keep)
    LeadClaim.objects.filter(lead=drop).update(lead=keep)
    audit.record_merged(
        actor=actor,
        merged=drop,
        into=keep,
        message=_("合并到 #%(id)d %(name)s") % {"id": keep.pk, "name": keep.name},
    )
    message = _("合并 #%(id)d %(name)s（%(phone)s，%(ch)s）：回访 %(n)d 条") % {
        "id": drop.pk,
        "name": drop.name,
        "phone": v.mask_phone(drop.phone),
        "ch": drop.get_channel_display(),
        "n": moved,
    }
    dropped_customer = drop.customer
    if customer is not None or dropped_customer is not None:
        drop.customer = None
        drop.save(update_fields=["customer"])
    with audit.tracked(keep, actor=actor, action="merge", message=message, always=True):
        _take_over(keep, drop)
        if customer is not None:
            keep.customer = customer
        elif dropped_customer is not None and keep.customer_id is None:
            keep.customer = dropped_customer
            keep.status = Lead.Status.CONVERTED
            keep.converted_at = drop.converted_at
            keep.next_follow_up_at = None
        drop.delete()
        keep.save()
    return keep


def _take_over(keep: Lead, drop: Lead) -> None:
    """``keep`` takes what it lacks from ``drop`` and the earliest attribution."""
    if drop.registered_at < keep.registered_at:
        keep.registered_at = drop.registered_at
        keep.channel = drop.channel
        keep.channel_ref = drop.channel_ref
        keep.qr_channel_id = drop.qr_channel_id
    keep.repeat_count += drop.repeat_count + 1  # the other application was a repeat
    keep.follow_up_count += drop.follow_up_count
    for name in ("last_applied_at", "last_follow_up_at", "consented_at"):
        theirs = getattr(drop, name)
        if theirs and (getattr(keep, name) is None or theirs > getattr(keep, name)):
            setattr(keep, name, theirs)
    for name in ("company", "province"):
        if not getattr(keep, name) and getattr(drop, name):
            setattr(keep, name, getattr(drop, name))
    if keep.owner_id is None and drop.owner_id is not None:
        keep.owner_id = drop.owner_id
        keep.owned_since = drop.owned_since
    if keep.next_follow_up_at is None and keep.is_open and drop.is_open:
        keep.next_follow_up_at = drop.next_follow_up_at
    if keep.status == Lead.Status.NOT_INTERESTED and drop.is_open:
        keep.status, keep.lost_reason, keep.lost_note = drop.status, "", ""
    line = _("合并自 #%(id)d：%(name)s %(phone)s") % {
        "id": drop.pk,
        "name": drop.name,
        "phone": v.normalize_mobile(drop.phone),
    }
    if drop.notes:
        line += f"。{drop.notes}"
    notes = f"{keep.notes}\n{line}" if keep.notes else line
    keep.notes = notes[:NOTES_LIMIT]


def customer_merge_step(actor: Any, keep: Any, drop: Any) -> str:
    """A customer merge's part for leads: ``drop``'s lead goes to ``keep`` — merged into
    ``keep``'s lead when both have one."""
    dropped = Lead.objects.select_for_update().filter(customer=drop).first()
    if dropped is None:
        return ""
    kept = Lead.objects.select_for_update().filter(customer=keep).first()
    if kept is None:
        with audit.tracked(dropped, actor=actor, action="update"):
            dropped.customer = keep
            dropped.save()
        return _("客户申请 #%(id)d") % {"id": dropped.pk}
    dropped_id = dropped.pk
    absorb(actor=actor, keep=kept, drop=dropped, customer=keep)
    return _("客户申请 #%(id)d 并入 #%(k)d") % {"id": dropped_id, "k": kept.pk}
