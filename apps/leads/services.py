"""Writes on leads (客户申请). Every rule about leads lives here; the public page, the public
API, console views and commands call these functions."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.scope import check_owner, reassign
from apps.audit import services as audit
from apps.core import regions
from apps.core import validators as v
from apps.core.errors import Conflict, ErrorCode, ValidationFailed
from apps.core.forms import with_label
from apps.core.inputs import text_problem
from apps.core.permissions import has_perm, require_perm
from apps.core.records import UNSET, refuse_unknown
from apps.notifications import services as notifications
from apps.sms.services import sms_verify_code

from . import pool
from .models import SELF_APPLIED, Channel, FollowUp, Lead, QrChannel

log = logging.getLogger(__name__)

_REF_RE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class RegistrationResult:
    lead: Lead
    created: bool  # False: a repeat application recorded on the existing lead


def clean_applicant(*, name: str, phone: str, company: str = "") -> dict[str, str]:
    """Validate and normalise what an applicant (or staff entering one) typed."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("请填写姓名")]
    elif len(name) > 50:
        errors["name"] = [_("姓名最多 50 个字")]
    if not v.is_mobile(phone or ""):
        errors["phone"] = [_("请输入 11 位中国大陆手机号")]
    company = (company or "").strip()
    if len(company) > 100:
        errors["company"] = [_("公司名最多 100 个字")]
    for key, value in (("name", name), ("company", company)):
        problem = text_problem(value)
        if problem and key not in errors:
            errors[key] = [problem]
    if errors:
        labels = {"name": _("姓名"), "phone": _("电话"), "company": _("公司名")}
        message = "；".join(f"{labels[k]}：{m[0]}" for k, m in errors.items())
        raise ValidationFailed(message, fields=errors)
    return {"name": name, "phone": v.mobile_e164(phone), "company": company}


def clean_channel_ref(ref: str) -> str:
    return _REF_RE.sub("", ref or "")[:64]


@transaction.atomic
def lead_register(
    *,
    name: str,
    phone: str,
    company: str = "",
    channel: str = Channel.WEB,
    channel_ref: str = "",
    ip: str | None = None,
    user_agent: str = "",
    consented: bool = False,
) -> RegistrationResult:
    """A self-application from the public page or API (the SMS code is already verified;
    ``consented``: the applicant agreed to the privacy policy, recorded with the time).

    One lead per phone: a repeat is recorded on the existing lead (and a lead closed as
    无意向 is reopened, since the applicant has shown interest again)."""
    data = clean_applicant(name=name, phone=phone, company=company)
    if channel not in SELF_APPLIED:
        channel = Channel.WEB
    ref = clean_channel_ref(channel_ref)
    qr = None
    owner = None
    if channel == Channel.QR and ref:
        qr = QrChannel.objects.filter(code__iexact=ref, is_active=True).first()
        if qr is not None:
            owner = qr.owner
    now = timezone.now()
    try:
        with transaction.atomic():
            lead = Lead.objects.create(
                **data,
                channel=channel,
                channel_ref=ref,
                qr_channel=qr,
                owner=owner,
                owned_since=now if owner is not None else None,
                registered_at=now,
                last_applied_at=now,
                source_ip=ip,
                user_agent=(user_agent or "")[:200],
                consented_at=now if consented else None,
            )
    except IntegrityError:
        lead = _record_repeat(data, channel, ref, now, consented=consented)
        return RegistrationResult(lead, created=False)
    if owner is None:
        owner = pool.place(lead)
        if owner is not None:
            lead.owner, lead.owned_since = owner, now
            lead.save(update_fields=["owner", "owned_since"])
    audit.record(
        actor=None,
        action="apply",
        obj=lead,
        after=audit.snapshot(lead),
        message=_("公开报名（%(ch)s）") % {"ch": Channel(channel).label},
    )
    log.info("lead registered channel=%s phone=%s", channel, v.mask_phone(data["phone"]))
    notifications.announce(
        kind="lead_new",
        text=_("【绘管家】新的客户申请：%(who)s（%(ch)s），手机 %(p)s，请尽快回访。")
        % {
            "who": lead.company or lead.name,
            "ch": Channel(channel).label,
            "p": v.mask_phone(lead.phone),
        },
        user_ids=[owner.pk] if owner is not None else None,
        perm="leads.claim_lead",
    )
    return RegistrationResult(lead, created=True)


def _record_repeat(
    data: dict[str, str], channel: str, ref: str, now, *, consented: bool = False
) -> Lead:
    lead = Lead.objects.select_for_update().get(phone=data["phone"])
    message = _("重复申请（%(ch)s%(ref)s）") % {
        "ch": Channel(channel).label,
        "ref": f"，{ref}" if ref else "",
    }
    with audit.tracked(lead, actor=None, action="repeat_apply", always=True) as change:
        lead.repeat_count += 1
        lead.last_applied_at = now
        if consented:
            lead.consented_at = now
        if not lead.company and data["company"]:
            lead.company = data["company"]
        if lead.status == Lead.Status.NOT_INTERESTED:
            lead.status = Lead.Status.NEW
            lead.lost_reason = ""
            lead.lost_note = ""
            if lead.owner_id is not None:
                lead.owned_since = now
            message += _("，已重新打开")
        change.message = message
        lead.save()
    log.info("repeat application phone=%s", v.mask_phone(data["phone"]))
    return lead


REGISTER_PURPOSE = "register"


def lead_apply(
    *,
    name: str,
    phone: str,
    code: str,
    company: str = "",
    channel: str = Channel.WEB,
    channel_ref: str = "",
    ip: str | None = None,
    user_agent: str = "",
    consent: bool = False,
) -> RegistrationResult:
    """Self-registration from the public page or API: the fields and the applicant's consent
    to the privacy policy first (so a typo does not burn the SMS code), then the code
    (consumed), then ``lead_register``.

    Callers answer new and repeat applications alike: the result's ``created`` is for
    logging and tests, never for the applicant."""
    fields: dict[str, list[str]] = {}
    try:
        clean_applicant(name=name, phone=phone, company=company)
    except ValidationFailed as exc:
        fields.update(exc.fields)
    if not (code or "").strip():
        fields["code"] = [_("请输入短信验证码")]
    if consent is not True:
        fields["consent"] = [_("请阅读并勾选同意《隐私政策》")]
    if fields:
        labels = {
            "name": _("姓名"),
            "phone": _("电话"),
            "company": _("公司名"),
            "code": _("验证码"),
            "consent": "",  # the message names the policy itself
        }
        message = "；".join(with_label(labels[k], m[0]) for k, m in fields.items())
        raise ValidationFailed(message, fields=fields)
    sms_verify_code(phone=phone, purpose=REGISTER_PURPOSE, code=code)
    return lead_register(
        name=name,
        phone=phone,
        company=company,
        channel=channel,
        channel_ref=channel_ref,
        ip=ip,
        user_agent=user_agent,
        consented=True,
    )


# --- Console and API: staff working on leads ---------------------------------------------

# Who may own leads: staff who work on them (运营专员, 运营主管, 系统管理员).
OWNER_PERM = "leads.change_lead"
# A next call-back is planned within this horizon; later is a typo, not a plan.
NEXT_FOLLOW_UP_HORIZON = dt.timedelta(days=2 * 365)
NO_ANSWER_RETRY = dt.timedelta(days=1)
EDITABLE_FIELDS = ("name", "phone", "company", "notes", "province")


def clean_province(value: str) -> str:
    """所在省份 by code or name ("" for none), or a 422 naming the field."""
    code = regions.province_code(str(value or ""))
    if code is None:
        message = _("请选择有效的省份")
        raise ValidationFailed(_("所在省份：") + message, fields={"province": [message]})
    return code


def _owner_name(user) -> str:
    return user.display_name if user is not None else _("公海（未分配）")


def _check_owner(owner) -> None:
    """Only an active member of staff who works on leads can own one (None: the pool)."""
    check_owner(owner, perm=OWNER_PERM, what=_("客户申请"))


def _clean_notes(notes: str, field: str = "notes", limit: int = 2000) -> str:
    notes = (notes or "").strip()
    if len(notes) > limit:
        label = _("备注") if field == "notes" else _("回访记录")
        raise ValidationFailed(
            _("%(label)s：最多 %(n)d 字") % {"label": label, "n": limit},
            fields={field: [_("最多 %(n)d 字") % {"n": limit}]},
        )
    return notes


def _duplicate_phone(phone: str, exclude_pk: int | None = None) -> Conflict | None:
    """The 409 naming the lead that already holds ``phone`` (E.164), if there is one."""
    qs = Lead.objects.select_related("owner").filter(phone=phone)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    existing = qs.first()
    if existing is None:
        return None
    message = _(
        "该手机号已有客户申请：#%(id)d %(name)s（%(date)s 登记，%(status)s，负责人 %(owner)s）"
    ) % {
        "id": existing.pk,
        "name": existing.name,
        "date": timezone.localtime(existing.registered_at).strftime("%Y-%m-%d"),
        "status": existing.get_status_display(),
        "owner": _owner_name(existing.owner),
    }
    error = Conflict(message, code=ErrorCode.DUPLICATE_LEAD, fields={"phone": [message]})
    error.existing_id = existing.pk
    return error


def _lock(lead: Lead) -> Lead:
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_create_offline(
    *, actor, name: str, phone: str, company: str = "", notes: str = "", province: str = ""
) -> Lead:
    """线下录入: staff enter an applicant they met or who called (no SMS). Channel 线下,
    owned by the member of staff who entered it. A phone already on a lead is refused,
    naming that lead."""
    require_perm(actor, "leads.add_lead")
    data = clean_applicant(name=name, phone=phone, company=company)
    data["province"] = clean_province(province)
    notes = _clean_notes(notes)
    duplicate = _duplicate_phone(data["phone"])
    if duplicate is not None:
        raise duplicate
    now = timezone.now()
    try:
        with transaction.atomic():
            lead = Lead.objects.create(
                **data,
                notes=notes,
                channel=Channel.OFFLINE,
                channel_ref=clean_channel_ref(actor.username),
                owner=actor,
                owned_since=now,
                created_by=actor,
                registered_at=now,
                last_applied_at=now,
            )
    except IntegrityError:  # the same phone entered concurrently
        raise _duplicate_phone(data["phone"]) or Conflict() from None
    audit.record(actor=actor, action="create", obj=lead, after=audit.snapshot(lead))
    return lead


@transaction.atomic
def lead_update(*, actor, lead: Lead, data: dict[str, Any]) -> Lead:
    """Correct a lead's name, phone, company or notes."""
    require_perm(actor, "leads.change_lead")
    refuse_unknown(data, EDITABLE_FIELDS)
    lead = _lock(lead)
    cleaned = clean_applicant(
        name=data.get("name", lead.name),
        phone=data.get("phone", lead.phone),
        company=data.get("company", lead.company),
    )
    if cleaned["phone"] != lead.phone:
        duplicate = _duplicate_phone(cleaned["phone"], exclude_pk=lead.pk)
        if duplicate is not None:
            raise duplicate
    province = clean_province(data["province"]) if "province" in data else lead.province
    with audit.tracked(lead, actor=actor):
        if "notes" in data:
            lead.notes = _clean_notes(data["notes"] or "")
        lead.province = province
        for name, value in cleaned.items():
            setattr(lead, name, value)
        try:
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            raise _duplicate_phone(cleaned["phone"], exclude_pk=lead.pk) or Conflict() from None
    return lead


@transaction.atomic
def lead_claim(*, actor, lead: Lead) -> Lead:
    """领取: a specialist takes a lead from the pool (公海). The row is locked, so of two
    concurrent claims one wins and the other gets 409."""
    require_perm(actor, "leads.claim_lead")
    lead = _lock(lead)
    if lead.owner_id is not None:
        if lead.owner_id == actor.pk:
            raise Conflict(_("你已领取该客户申请"), code=ErrorCode.ALREADY_CLAIMED)
        raise Conflict(
            _("该客户申请已被 %(who)s 领取") % {"who": lead.owner.display_name},
            code=ErrorCode.ALREADY_CLAIMED,
        )
    if lead.status == Lead.Status.CONVERTED:
        raise Conflict(_("该客户申请已转化，无需领取"), code=ErrorCode.ALREADY_CONVERTED)
    _check_owner(actor)
    with audit.tracked(lead, actor=actor, action="claim", always=True):
        _take(actor, lead)
        lead.save()
    return lead


def _take(actor, lead: Lead) -> None:
    """A specialist takes a pool lead (the row locked): the 公海规则 checked, the claim
    counted, the clock started."""
    now = timezone.now()
    pool.check_claim(actor, lead, now=now)
    pool.record_claim(actor, lead, now)
    lead.owner = actor
    lead.owned_since = now


@transaction.atomic
def lead_assign(*, actor, leads: Iterable[Lead], owner) -> int:
    """Managers (re)assign one or many leads to a specialist, or back to the pool (None).
    Returns how many changed owner; audit rows are written in one statement."""
    require_perm(actor, "leads.assign_lead")
    _check_owner(owner)
    leads = list(leads)
    if owner is not None:
        adding = sum(1 for lead in leads if lead.owner_id != owner.pk and lead.is_open)
        pool.check_hold(owner, adding)
    changed = reassign(
        Lead, leads, owner, actor=actor, stamp=pool.stamp_owner, stamp_fields=pool.STAMP_FIELDS
    )
    if changed and owner is not None and owner.pk != getattr(actor, "pk", None):
        names = "、".join((lead.company or lead.name) for lead in leads[:5])
        more = _(" 等 %(n)d 条") % {"n": len(leads)} if len(leads) > 5 else ""
        notifications.announce(
            kind="lead_assigned",
            text=_("【绘管家】%(a)s 把客户申请分配给你：%(l)s%(m)s。")
            % {"a": actor.display_name, "l": names, "m": more},
            user_ids=[owner.pk],
        )
    return changed


def _choice(value: str, choices, field: str, label: str) -> str:
    if value not in {c for c, _label in choices}:
        message = _("请选择%(label)s") % {"label": label} if not value else _("无效的选项")
        raise ValidationFailed(f"{label}：{message}", fields={field: [message]})
    return value


def clean_lost_reason(reason: str, note: str) -> tuple[str, str]:
    """无意向 takes a reason; 其他 also takes a note (at most 200 characters)."""
    reason = _choice(reason or "", Lead.LostReason.choices, "lost_reason", _("无意向原因"))
    note = (note or "").strip()
    if reason == Lead.LostReason.OTHER and not note:
        raise ValidationFailed(
            _("原因说明：原因为“其他”时请说明"), fields={"lost_note": [_("原因为“其他”时请说明")]}
        )
    if len(note) > 200:
        raise ValidationFailed(_("原因说明：最多 200 字"), fields={"lost_note": [_("最多 200 字")]})
    return reason, note


def _refuse_unless_open(lead: Lead, doing: str) -> None:
    if lead.status == Lead.Status.CONVERTED:
        raise Conflict(
            _("该客户申请已转化为客户，不能%(doing)s") % {"doing": doing},
            code=ErrorCode.ALREADY_CONVERTED,
        )
    if lead.status == Lead.Status.NOT_INTERESTED:
        raise Conflict(
            _("该客户申请已关闭（无意向），请先重新打开再%(doing)s") % {"doing": doing},
            code=ErrorCode.LEAD_CLOSED,
        )


RESULT_STATUS = {
    FollowUp.Result.INTERESTED: Lead.Status.INTERESTED,
    FollowUp.Result.CONSIDERING: Lead.Status.FOLLOWING,
    FollowUp.Result.NOT_INTERESTED: Lead.Status.NOT_INTERESTED,
    # 未接通 keeps the status: an attempt, not a conversation.
}


@transaction.atomic
def lead_follow_up(
    *,
    actor,
    lead: Lead,
    method: str,
    result: str,
    notes: str = "",
    next_follow_up_at: dt.datetime | None = None,
    lost_reason: str = "",
    lost_note: str = "",
) -> FollowUp:
    """回访: record a call-back and move the lead's status by its result.

    有意向 → 有意向; 考虑中 → 跟进中; 未接通 keeps the status (an attempt; next try in a
    day unless given); 无意向 closes the lead and takes a reason. A follow-up on a pool
    lead hands it to the caller. Closed and converted leads refuse follow-ups (409)."""
    require_perm(actor, "leads.change_lead")
    method = _choice(method or "", FollowUp.Method.choices, "method", _("回访方式"))
    result = _choice(result or "", FollowUp.Result.choices, "result", _("回访结果"))
    notes = _clean_notes(notes, field="notes")
    now = timezone.now()
    if next_follow_up_at is not None and timezone.is_naive(next_follow_up_at):
        next_follow_up_at = timezone.make_aware(next_follow_up_at)
    if next_follow_up_at is not None and next_follow_up_at <= now:
        raise ValidationFailed(
            _("下次回访时间：应晚于现在"), fields={"next_follow_up_at": [_("应晚于现在")]}
        )
    if next_follow_up_at is not None and next_follow_up_at > now + NEXT_FOLLOW_UP_HORIZON:
        message = _("最晚为 %(n)d 年以内") % {"n": NEXT_FOLLOW_UP_HORIZON.days // 365}
        raise ValidationFailed(
            _("下次回访时间：%(m)s") % {"m": message}, fields={"next_follow_up_at": [message]}
        )
    if result == FollowUp.Result.NOT_INTERESTED:
        lost_reason, lost_note = clean_lost_reason(lost_reason, lost_note)
        next_follow_up_at = None
    elif result == FollowUp.Result.NO_ANSWER and next_follow_up_at is None:
        next_follow_up_at = now + NO_ANSWER_RETRY
    lead = _lock(lead)
    _refuse_unless_open(lead, _("回访"))
    follow_up = FollowUp(
        lead=lead,
        actor=actor,
        at=now,
        method=method,
        result=result,
        notes=notes,
        next_follow_up_at=next_follow_up_at,
    )
    message = f"{follow_up.get_method_display()}：{follow_up.get_result_display()}"
    if notes:
        message += f"。{notes}"
    with audit.tracked(lead, actor=actor, action="follow_up", message=message, always=True):
        follow_up.save()
        if lead.owner_id is None and has_perm(actor, "leads.claim_lead"):
            _take(actor, lead)
        lead.last_follow_up_at = now
        lead.follow_up_count += 1
        lead.next_follow_up_at = next_follow_up_at
        lead.status = RESULT_STATUS.get(result, lead.status)
        if result == FollowUp.Result.NOT_INTERESTED:
            lead.lost_reason, lead.lost_note = lost_reason, lost_note
        lead.save()
    return follow_up


@transaction.atomic
def lead_close(*, actor, lead: Lead, reason: str, note: str = "") -> Lead:
    """无意向: close an open lead with a reason (and a note when the reason is 其他)."""
    require_perm(actor, "leads.change_lead")
    reason, note = clean_lost_reason(reason, note)
    lead = _lock(lead)
    _refuse_unless_open(lead, _("关闭"))
    label = Lead.LostReason(reason).label
    message = f"{label}：{note}" if note else str(label)
    with audit.tracked(lead, actor=actor, action="close", message=message, always=True):
        lead.status = Lead.Status.NOT_INTERESTED
        lead.lost_reason, lead.lost_note = reason, note
        lead.next_follow_up_at = None
        lead.save()
    return lead


@transaction.atomic
def lead_reopen(*, actor, lead: Lead) -> Lead:
    """重新打开 a lead closed as 无意向: back to 待回访, due for a call now."""
    require_perm(actor, "leads.change_lead")
    lead = _lock(lead)
    if lead.status != Lead.Status.NOT_INTERESTED:
        raise Conflict(_("只有已关闭（无意向）的客户申请可以重新打开"), code=ErrorCode.NOT_CLOSED)
    with audit.tracked(lead, actor=actor, action="reopen", always=True):
        lead.status = Lead.Status.NEW
        lead.lost_reason = ""
        lead.lost_note = ""
        lead.next_follow_up_at = timezone.now()
        if lead.owner_id is not None:
            lead.owned_since = lead.next_follow_up_at  # the recycling clock starts again
        lead.save()
    return lead


def conversion_initial(lead: Lead) -> dict[str, str]:
    """What the customer form starts with: the applicant as contact, the company's name."""
    return {"contact_name": lead.name, "contact_phone": lead.display_phone, "name": lead.company}


@transaction.atomic
def lead_convert(
    *,
    actor,
    lead: Lead,
    data: dict[str, Any] | None = None,
    owner=UNSET,
    license_scan: UploadedFile | None = None,
):
    """转为客户: create the customer from the lead (contact name and phone, company name;
    ``data`` overrides or adds profile fields), link the two and mark the lead 已转化 —
    in one transaction. A lead converts once (409 afterwards)."""
    from apps.customers import services as customers

    require_perm(actor, "leads.convert_lead", "customers.add_customer")
    lead = _lock(lead)
    if lead.status == Lead.Status.CONVERTED or lead.customer_id:
        raise Conflict(_("该客户申请已转化为客户"), code=ErrorCode.ALREADY_CONVERTED)
    _refuse_unless_open(lead, _("转为客户"))
    payload: dict[str, Any] = conversion_initial(lead)
    payload.update({k: v for k, v in (data or {}).items() if v is not None or k not in payload})
    if owner is UNSET:
        owner = lead.owner if lead.owner_id else actor
        if owner != actor and not has_perm(actor, "customers.assign_customer"):
            owner = actor
    customer = customers.customer_create(
        actor=actor, data=payload, owner=owner, license_scan=license_scan
    )
    message = _("转为客户 %(no)s") % {"no": customer.enterprise_no}
    with audit.tracked(lead, actor=actor, action="convert", message=message, always=True):
        lead.customer = customer
        lead.status = Lead.Status.CONVERTED
        lead.converted_at = timezone.now()
        lead.next_follow_up_at = None
        if lead.owner_id is None:
            lead.owner = actor
        lead.save()
    return customer


# --- QR channels -----------------------------------------------------------------------

QR_FIELDS = ("name", "campaign", "owner", "is_active")


def apply_url(code: str) -> str:
    """The public registration address a QR channel's code points at (DESIGN §4a)."""
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/apply/?ch={Channel.QR}&ref={code}"


def _validated_qr_save(channel: QrChannel) -> None:
    channel.name = (channel.name or "").strip()
    channel.campaign = (channel.campaign or "").strip()
    try:
        channel.full_clean()
    except ValidationError as exc:
        labels = {f.name: str(f.verbose_name) for f in QrChannel._meta.concrete_fields}
        raise ValidationFailed.from_django(exc, labels) from exc
    channel.save()


@transaction.atomic
def qr_channel_create(*, actor, name: str, campaign: str = "", owner=None) -> QrChannel:
    """A new QR code for posters: leads it brings carry its code and go to its owner."""
    require_perm(actor, "leads.manage_qrchannel")
    _check_owner(owner)
    channel = QrChannel(name=name, campaign=campaign, owner=owner, created_by=actor)
    _validated_qr_save(channel)
    audit.record(actor=actor, action="create", obj=channel, after=audit.snapshot(channel))
    return channel


@transaction.atomic
def qr_channel_update(*, actor, channel: QrChannel, data: dict[str, Any]) -> QrChannel:
    """Rename, re-own, or switch a QR channel on or off. The code never changes (it is
    printed on posters)."""
    require_perm(actor, "leads.manage_qrchannel")
    refuse_unknown(data, QR_FIELDS)
    channel = QrChannel.objects.select_for_update().get(pk=channel.pk)
    if "owner" in data:
        _check_owner(data["owner"])
    with audit.tracked(channel, actor=actor):
        for name, value in data.items():
            setattr(channel, name, "" if value is None and name != "owner" else value)
        _validated_qr_save(channel)
    return channel


# --- 回访逾期 notices ---------------------------------------------------------------------------

OVERDUE_BATCH = 500


def announce_overdue(*, now: dt.datetime | None = None) -> int:
    """Beat: tell each owner which of their leads fell overdue for a call-back since they
    were last told (the pool's leads go to those who assign them) — one message per person,
    each lead once per due moment. Returns how many leads were announced."""
    from .selectors import overdue_condition

    now = now or timezone.now()
    due = (
        Lead.objects.filter(overdue_condition(now))
        .filter(
            Q(overdue_notified_at__isnull=True) | Q(overdue_notified_at__lt=F("next_follow_up_at"))
        )
        .order_by("pk")
        .values_list("pk", "owner_id", "company", "name")[:OVERDUE_BATCH]
    )
    rows = list(due)
    if not rows:
        return 0
    by_owner: dict[int | None, list[str]] = {}
    for _pk, owner_id, company, name in rows:
        by_owner.setdefault(owner_id, []).append(company or name)
    with transaction.atomic():
        Lead.objects.filter(pk__in=[r[0] for r in rows]).update(overdue_notified_at=now)
        for owner_id, names in by_owner.items():
            text = _("【绘管家】%(n)d 条客户申请回访已逾期：%(l)s%(m)s，请尽快回访。") % {
                "n": len(names),
                "l": "、".join(names[:5]),
                "m": _(" 等") if len(names) > 5 else "",
            }
            notifications.announce(
                kind="callback_overdue",
                text=text if owner_id else _("（公海）") + text,
                user_ids=[owner_id] if owner_id else None,
                perm="" if owner_id else "leads.assign_lead",
            )
    return len(rows)
