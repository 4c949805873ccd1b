"""Writes on customers. Every rule about customers lives here; views, API endpoints and
commands call these functions. Each one checks the actor's permission, runs in one
transaction and leaves its audit row in that transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.scope import check_owner, reassign
from apps.audit import services as audit
from apps.core import records, registry
from apps.core.errors import Conflict, ErrorCode, ProfileIncomplete, ValidationFailed
from apps.core.inputs import parse_id
from apps.core.models import next_value, next_values
from apps.core.permissions import require_perm
from apps.core.records import UNSET, apply_fields, attach_scan, update_each, validated_save

from .models import Customer, Package

EDITABLE_FIELDS = (
    "license_no",
    "name",
    "province",
    "city",
    "address",
    "office_phone",
    "email",
    "intro",
    "remarks",
    "contact_name",
    "contact_phone",
)

# The completeness gate (spec: 营业执照号、企业名称、地址、联系人、联系电话).
PROFILE_REQUIRED_FIELDS = (
    "license_no",
    "name",
    "province",
    "city",
    "address",
    "contact_name",
    "contact_phone",
)


def field_label(name: str) -> str:
    return str(Customer._meta.get_field(name).verbose_name)


def field_labels() -> dict[str, str]:
    return records.field_labels(Customer)


def missing_profile_fields(customer: Customer) -> list[str]:
    """The gate's fields still empty on ``customer``, in form order."""
    return [name for name in PROFILE_REQUIRED_FIELDS if not getattr(customer, name)]


def ensure_profile_complete(customer: Customer, action: str) -> None:
    missing = missing_profile_fields(customer)
    if missing:
        labels = "、".join(field_label(n) for n in missing)
        raise ProfileIncomplete(
            _("资料不全，%(action)s前请先补全：%(fields)s") % {"action": action, "fields": labels},
            fields={n: [_("请补全此项")] for n in missing},
        )


def enterprise_number() -> str:
    """Allocate a new 企业号 such as HGJ100001: unique, never reused, race-free."""
    value = next_value("enterprise_no", start=100001)
    return f"{settings.ENTERPRISE_NO_PREFIX}{value:06d}"


# Who may own customers: staff who work on them (运营专员, 运营主管, 系统管理员).
OWNER_PERM = "customers.add_customer"


# --- The tenant registry feed's order ----------------------------------------------------

REGISTRY_SEQUENCE = "registry"


def registry_changed(customer_ids: Iterable[int], *, listing: bool = False) -> int:
    """Move customers to the head of the tenant registry feed: each gets a new value of the
    "registry" sequence and the time. Only customers already listed move — those that had
    a data source — unless ``listing`` (a data source was just created for them). Returns
    how many moved.

    The sequence's row stays locked until the transaction commits, so values are given in
    commit order and a reader's cursor never passes a change still uncommitted. Call this
    last in the transaction that made the change (nothing but inserts after it): whoever
    holds the sequence must wait for no other lock. The customers' rows are locked first,
    in id order, the order every caller takes them in."""
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return 0
    with transaction.atomic(savepoint=False):
        rows = Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        if not listing:
            rows = rows.filter(registry_seq__isnull=False)
        moved = [Customer(pk=pk) for pk in rows.values_list("pk", flat=True)]
        if not moved:
            return 0
        seqs = next_values(REGISTRY_SEQUENCE, len(moved))
        now = timezone.now()
        for customer, seq in zip(moved, seqs, strict=True):
            customer.registry_seq, customer.registry_changed_at = seq, now
        update_each(moved, ["registry_seq", "registry_changed_at"])
    return len(moved)


def _registry_view(customer: Customer) -> tuple:
    return tuple(getattr(customer, name) for name in Customer.REGISTRY_FIELDS)


def _check_owner(owner) -> None:
    """Only an active member of staff who works on customers can own one (None: the pool)."""
    check_owner(owner, perm=OWNER_PERM, what=_("客户"))


@transaction.atomic
def customer_create(
    *,
    actor,
    data: dict[str, Any],
    owner=UNSET,
    license_scan: UploadedFile | None = None,
) -> Customer:
    """Create a customer, possibly incomplete. The creator owns it unless someone allowed
    to assign names another owner, or ``None`` for the unassigned pool."""
    require_perm(actor, "customers.add_customer")
    customer = Customer(created_by=actor)
    apply_fields(customer, data, EDITABLE_FIELDS)
    if owner is UNSET:
        owner = actor
    else:
        if owner != actor:
            require_perm(actor, "customers.assign_customer")
        _check_owner(owner)
    customer.owner = owner
    attach_scan(customer, "license_scan", license_scan)
    customer.enterprise_no = enterprise_number()
    validated_save(customer)
    audit.record(actor=actor, action="create", obj=customer, after=audit.snapshot(customer))
    return customer


@transaction.atomic
def customer_update(
    *,
    actor,
    customer: Customer,
    data: dict[str, Any],
    license_scan: UploadedFile | None = None,
) -> Customer:
    require_perm(actor, "customers.change_customer")
    before = _registry_view(Customer.objects.select_for_update().get(pk=customer.pk))
    customer = audit.update_record(
        customer,
        actor=actor,
        data=data,
        editable=EDITABLE_FIELDS,
        files={"license_scan": license_scan},
    )
    if _registry_view(customer) != before:
        registry_changed([customer.pk])
    return customer


@transaction.atomic
def customer_complete_profile(*, actor, customer: Customer, data: dict[str, Any]) -> Customer:
    """Fill the gate's missing fields (the modal). Every missing field must now be given."""
    require_perm(actor, "customers.change_customer")
    missing = missing_profile_fields(customer)
    still = {n: [_("请补全此项")] for n in missing if not str(data.get(n) or "").strip()}
    if still:
        labels = "、".join(field_label(n) for n in still)
        raise ProfileIncomplete(_("请补全：%(f)s") % {"f": labels}, fields=still)
    allowed = {n: data[n] for n in data if n in PROFILE_REQUIRED_FIELDS}
    return customer_update(actor=actor, customer=customer, data=allowed)


# --- Activation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Blocker:
    """One unmet prerequisite of activation: what is missing and who can fix it."""

    code: ErrorCode
    message: str
    fix_by: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)


def check_profile(customer: Customer) -> Blocker | None:
    missing = missing_profile_fields(customer)
    if not missing:
        return None
    return Blocker(
        ErrorCode.PROFILE_INCOMPLETE,
        _("资料不全：%(f)s") % {"f": "、".join(field_label(n) for n in missing)},
        _("运营专员补全资料"),
        {n: [_("请补全此项")] for n in missing},
    )


def activation_blockers(customer: Customer) -> list[Blocker]:
    """Every unmet prerequisite of 开通, in order: the profile (this app) and whatever the
    other apps registered (the data source …), all at once, never only the first."""
    checks = registry.activation_checks()
    return [b for c in checks if (b := c.check(customer)) is not None]


def valid_modules(modules: Iterable[str], *, label: str | None = None) -> list[str]:
    """The chosen module codes in the platform's order, or a 422 naming ``modules`` (an
    unknown code, none chosen, or not a list of codes at all)."""
    label = label or _("开通模块")
    known = [code for code, _label in settings.CUSTOMER_MODULES]
    if isinstance(modules, str | bytes | dict) or not isinstance(modules, Iterable):
        modules = [None]
    modules = list(modules)
    if not all(isinstance(m, str) for m in modules):
        raise ValidationFailed(
            _("%(l)s：请从列表中选择模块") % {"l": label},
            fields={"modules": [_("请从列表中选择模块")]},
        )
    chosen = list(dict.fromkeys(modules))
    unknown = [m for m in chosen if m not in known]
    if unknown:
        names = "、".join(m[:20] for m in unknown[:5])
        raise ValidationFailed(
            _("%(l)s：未知模块 %(m)s") % {"l": label, "m": names},
            fields={"modules": [_("未知模块：%(m)s") % {"m": names}]},
        )
    if not chosen:
        raise ValidationFailed(
            _("%(l)s：请至少选择一个模块") % {"l": label},
            fields={"modules": [_("请至少选择一个模块")]},
        )
    return [m for m in known if m in chosen]


def _activation_package(package: Any) -> Package:
    """The package 开通 picked: an active one, or a 422 naming ``package``."""
    pk = package.pk if isinstance(package, Package) else parse_id(package)
    found = Package.objects.filter(pk=pk).first() if pk else None
    if found is None:
        raise ValidationFailed(_("套餐：套餐不存在"), fields={"package": [_("套餐不存在")]})
    if not found.is_active:
        message = _("套餐「%(n)s」已停用，请选择其他套餐") % {"n": found.name}
        raise ValidationFailed(_("套餐：%(m)s") % {"m": message}, fields={"package": [message]})
    return found


@transaction.atomic
def customer_activate(
    *,
    actor,
    customer: Customer,
    modules: Iterable[str] | None = None,
    package: Any = None,
    profile: dict[str, Any] | None = None,
    trial_days: Any = None,
) -> Customer:
    """开通: complete the profile if ``profile`` is given, check every prerequisite, and
    switch the customer on — all in one transaction. With ``package`` (a 可选用 package or
    its id) the customer gets the package and its modules; without, the chosen
    ``modules``. With ``trial_days`` it is 开通试用: a package is required, no contract,
    and the trial ends that many days from today."""
    from .lifecycle import refresh, trial_length

    require_perm(actor, "customers.activate_customer")
    trial = trial_length(trial_days) if trial_days is not None else None
    if trial is not None and package in (None, ""):
        message = _("试用须选择套餐")
        raise ValidationFailed(_("套餐：%(m)s") % {"m": message}, fields={"package": [message]})
    chosen_package = _activation_package(package) if package not in (None, "") else None
    chosen = (
        list(chosen_package.modules) if chosen_package is not None else valid_modules(modules or [])
    )
    if profile:
        customer = customer_complete_profile(actor=actor, customer=customer, data=profile)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.is_open:
        raise Conflict(_("该客户已是开通状态"), code=ErrorCode.ALREADY_OPEN)
    blockers = activation_blockers(customer)
    if blockers:
        fields: dict[str, list[str]] = {}
        for b in blockers:
            fields.update(b.fields)
        message = _("暂不能开通：%(r)s") % {"r": "；".join(b.message for b in blockers)}
        if blockers[0].code == ErrorCode.PROFILE_INCOMPLETE:
            raise ProfileIncomplete(message, fields=fields)
        raise Conflict(message, code=blockers[0].code, fields=fields)
    action = "trial_start" if trial is not None else "activate"
    with audit.tracked(customer, actor=actor, action=action, always=True):
        customer.status = Customer.Status.OPEN
        customer.modules = chosen
        customer.package = chosen_package
        # A trial starts afresh; 开通 without one leaves an earlier trial behind (a customer
        # closed after its trial and opened again is not in a lapsed trial).
        customer.trial_ends_on = (
            timezone.localdate() + dt.timedelta(days=trial) if trial is not None else None
        )
        customer.trial_extensions = 0
        customer.activated_at = timezone.now()
        customer.activated_by = actor
        customer.closed_at = None
        customer.close_reason = ""
        customer.save()
    refresh([customer.pk], actor=actor, stamp=False)
    registry_changed([customer.pk])
    customer.refresh_from_db()
    return customer


@transaction.atomic
def customer_close(*, actor, customer: Customer, reason: str) -> Customer:
    """关闭: switch the customer off with a reason. Nothing is deleted."""
    require_perm(actor, "customers.close_customer")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("关闭原因：请填写关闭原因"), fields={"reason": [_("请填写关闭原因")]}
        )
    if len(reason) > 200:
        raise ValidationFailed(_("关闭原因：最多 200 字"), fields={"reason": [_("最多 200 字")]})
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.status == Customer.Status.NOT_OPENED:
        raise Conflict(_("该客户尚未开通，无需关闭"), code=ErrorCode.NOT_OPENED)
    if not customer.is_open:
        raise Conflict(_("该客户已是关闭状态"), code=ErrorCode.ALREADY_CLOSED)
    with audit.tracked(customer, actor=actor, action="close", message=reason, always=True):
        customer.status = Customer.Status.CLOSED
        customer.closed_at = timezone.now()
        customer.close_reason = reason
        customer.save()
    from .lifecycle import refresh

    refresh([customer.pk], actor=actor, stamp=False)
    registry_changed([customer.pk])
    customer.refresh_from_db()
    return customer


@transaction.atomic
def customer_assign(*, actor, customers: Iterable[Customer], owner) -> int:
    """Managers (re)assign customers to a specialist, or to nobody (the pool)."""
    require_perm(actor, "customers.assign_customer")
    _check_owner(owner)
    return reassign(Customer, customers, owner, actor=actor)
