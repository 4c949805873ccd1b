"""Writes on contracts. Adding one passes the customer completeness gate first."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import records
from apps.core.errors import Conflict, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import apply_fields, attach_scan, validated_save
from apps.customers.lifecycle import refresh as service_refresh
from apps.customers.models import Customer
from apps.customers.services import ensure_profile_complete

from .models import Contract

EDITABLE_FIELDS = (
    "bank_name",
    "legal_representative",
    "account_no",
    "start_date",
    "end_date",
    "communities",
    "amount",
    "party_a_contact",
    "party_a_phone",
    "party_b_contact",
    "party_b_phone",
    "intro",
    "remarks",
    "status",
)


def field_labels() -> dict[str, str]:
    return records.field_labels(Contract)


@transaction.atomic
def contract_create(
    *,
    actor,
    customer: Customer,
    data: dict[str, Any],
    scan: UploadedFile | None = None,
) -> Contract:
    require_perm(actor, "contracts.add_contract")
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    ensure_profile_complete(customer, _("添加合同"))
    contract = Contract(customer=customer, created_by=actor)
    apply_fields(contract, data, EDITABLE_FIELDS)
    attach_scan(contract, "scan", scan)
    validated_save(contract, exclude=["customer"])
    audit.record(actor=actor, action="create", obj=contract, after=audit.snapshot(contract))
    service_refresh([customer.pk], actor=actor)  # last: it may move the tenant in the feed
    return contract


@transaction.atomic
def contract_update(
    *,
    actor,
    contract: Contract,
    data: dict[str, Any],
    scan: UploadedFile | None = None,
) -> Contract:
    require_perm(actor, "contracts.change_contract")
    contract = audit.update_record(
        contract,
        actor=actor,
        data=data,
        editable=EDITABLE_FIELDS,
        files={"scan": scan},
        exclude=["customer"],
    )
    service_refresh([contract.customer_id], actor=actor)
    return contract


@transaction.atomic
def contract_set_status(*, actor, contract: Contract, status: str, reason: str = "") -> Contract:
    """开通 / 关闭 a contract. ``status`` is the state wanted, so a repeated or stale request
    (someone else already switched it) is refused instead of toggling it back."""
    require_perm(actor, "contracts.change_contract")
    if status not in Contract.Status.values:
        raise ValidationFailed(_("状态：无效的状态"), fields={"status": [_("无效的状态")]})
    reason = (reason or "").strip()
    if len(reason) > 200:
        raise ValidationFailed(_("说明：最多 200 字"), fields={"reason": [_("最多 200 字")]})
    contract = Contract.objects.select_for_update().get(pk=contract.pk)
    if contract.status == status:
        label = Contract.Status(status).label
        raise Conflict(_("该合同已是%(s)s状态") % {"s": label}, code=f"already_{status}")
    action = "activate" if status == Contract.Status.OPEN else "close"
    with audit.tracked(contract, actor=actor, action=action, message=reason, always=True):
        contract.status = status
        contract.save(update_fields=["status", "updated_at"])
    service_refresh([contract.customer_id], actor=actor)
    return contract


def contracts_follow_merge(*, actor, keep, drop) -> str:
    """A customer merge's part for contracts: ``drop``'s contracts become ``keep``'s, each
    audited (「客户」 from one to the other)."""
    rows = list(Contract.objects.select_for_update().filter(customer=drop).order_by("pk"))
    if not rows:
        return ""
    Contract.objects.filter(pk__in=[c.pk for c in rows]).update(customer=keep)
    audit.record_many(
        actor=actor,
        action="update",
        entries=[(c, {"customer": [drop.pk, keep.pk]}) for c in rows],
        message=_("随客户合并转到 %(no)s") % {"no": keep.enterprise_no},
    )
    return _("合同 %(n)d 份") % {"n": len(rows)}
