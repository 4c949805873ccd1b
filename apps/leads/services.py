"""Writes on leads (客户申请). Every rule about leads lives here; the public page, the public
API, console views and commands call these functions."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import validators as v
from apps.core.errors import ValidationFailed
from apps.sms.services import sms_verify_code

from .models import SELF_APPLIED, Channel, Lead, QrChannel

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
) -> RegistrationResult:
    """A self-application from the public page or API (the SMS code is already verified).

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
                registered_at=now,
                last_applied_at=now,
                source_ip=ip,
                user_agent=(user_agent or "")[:200],
            )
    except IntegrityError:
        return RegistrationResult(_record_repeat(data, channel, ref, now), created=False)
    audit.record(
        actor=None,
        action="apply",
        obj=lead,
        after=audit.snapshot(lead),
        message=_("公开报名（%(ch)s）") % {"ch": Channel(channel).label},
    )
    log.info("lead registered channel=%s phone=%s", channel, v.mask_phone(data["phone"]))
    return RegistrationResult(lead, created=True)


def _record_repeat(data: dict[str, str], channel: str, ref: str, now) -> Lead:
    lead = Lead.objects.select_for_update().get(phone=data["phone"])
    before = audit.snapshot(lead)
    lead.repeat_count += 1
    lead.last_applied_at = now
    if not lead.company and data["company"]:
        lead.company = data["company"]
    message = _("重复申请（%(ch)s%(ref)s）") % {
        "ch": Channel(channel).label,
        "ref": f"，{ref}" if ref else "",
    }
    if lead.status == Lead.Status.NOT_INTERESTED:
        lead.status = Lead.Status.NEW
        lead.lost_reason = ""
        lead.lost_note = ""
        message += _("，已重新打开")
    lead.save()
    audit.record(
        actor=None,
        action="repeat_apply",
        obj=lead,
        changes=audit.diff(before, audit.snapshot(lead)),
        message=message,
    )
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
) -> RegistrationResult:
    """Self-registration from the public page or API: the fields first (so a typo does not
    burn the SMS code), then the code (consumed), then ``lead_register``.

    Callers answer new and repeat applications alike: the result's ``created`` is for
    logging and tests, never for the applicant."""
    fields: dict[str, list[str]] = {}
    try:
        clean_applicant(name=name, phone=phone, company=company)
    except ValidationFailed as exc:
        fields.update(exc.fields)
    if not (code or "").strip():
        fields["code"] = [_("请输入短信验证码")]
    if fields:
        labels = {
            "name": _("姓名"),
            "phone": _("电话"),
            "company": _("公司名"),
            "code": _("验证码"),
        }
        message = "；".join(f"{labels[k]}：{m[0]}" for k, m in fields.items())
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
    )
