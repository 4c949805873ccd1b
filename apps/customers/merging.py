"""合并重复的客户: the same company entered twice (another phone, a lead converted twice).

One customer survives (``keep``); the other (``drop``) gives it its contracts, its lead
(merged into ``keep``'s lead when both have one) and every other app's rows (each app's
``core.registry.MergeStep``), and fills the profile fields ``keep`` lacks. A tenant database
belongs to its 企业号 — the business system finds it by that number — so ``drop`` may not
have a data source or any data-source history: merging is refused when both have one, and
when only ``drop`` has one the manager is told to keep that customer instead. ``drop`` is
then deleted (its 企业号 is never given again); its audit rows show in ``keep``'s history;
``keep``'s service state is brought up to date from the contracts it now holds.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import registry
from apps.core.errors import Conflict, ErrorCode
from apps.core.permissions import require_perm
from apps.core.records import lock_pair

from .models import Customer
from .services import EDITABLE_FIELDS, _registry_view, registry_changed

PERM = "customers.merge_customer"


def _refuse(message: str) -> Conflict:
    return Conflict(message, code=ErrorCode.MERGE_REFUSED)


@transaction.atomic
def customer_merge(*, actor: Any, keep: Customer, drop: Customer) -> Customer:
    """Merge ``drop`` into ``keep`` (see the module); audited on both."""
    from .lifecycle import refresh

    require_perm(actor, PERM)
    if keep.pk == drop.pk:
        raise _refuse(_("不能把客户与它自己合并"))
    pair = lock_pair(Customer, keep, drop)
    if pair is None:
        raise _refuse(_("要合并的客户已不存在"))
    keep, drop = pair
    if drop.status == Customer.Status.OPEN:
        raise _refuse(
            _("「%(name)s」已开通，请以它为保留的客户") % {"name": drop.name or drop.enterprise_no}
        )
    before_view = _registry_view(keep)
    moved = [
        text for step in registry.customer_merge_steps() if (text := step.run(actor, keep, drop))
    ]
    audit.record_merged(
        actor=actor,
        merged=drop,
        into=keep,
        message=_("合并到 %(no)s %(name)s") % {"no": keep.enterprise_no, "name": keep.name},
    )
    message = _("合并 %(no)s %(name)s%(moved)s") % {
        "no": drop.enterprise_no,
        "name": drop.name,
        "moved": ("：" + "、".join(moved)) if moved else "",
    }
    license_no = drop.license_no
    with audit.tracked(keep, actor=actor, action="merge", message=message, always=True):
        try:
            drop.delete()
        except ProtectedError:
            raise _refuse(_("「%(name)s」还有其他记录，不能合并") % {"name": drop.name}) from None
        for name in EDITABLE_FIELDS:
            if name == "city" and keep.province and keep.province != drop.province:
                continue  # a city belongs with its own province
            if not getattr(keep, name) and getattr(drop, name):
                setattr(keep, name, license_no if name == "license_no" else getattr(drop, name))
        if keep.owner_id is None:
            keep.owner_id = drop.owner_id
        keep.save()
    refresh([keep.pk], actor=actor)
    if _registry_view(keep) != before_view:
        registry_changed([keep.pk])
    return keep
