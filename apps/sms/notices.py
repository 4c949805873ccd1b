"""The SMS channel for notices to staff (到期提醒 …), registered with the kernel's
``notify`` in ``SmsConfig.ready``.

It applies when the recipient has a mainland mobile number and SMS is set up for notices:
the console and capture backends (development) log the text; Aliyun and Tencent need the
notice template ``SMS_NOTICE_TEMPLATE_ID`` — without it the channel stays silent rather
than send the verification-code template. A provider failure becomes ``NoticeFailed``
with a Chinese reason; the log line (phone masked) is the gateway's.

Templates to register with the provider, parameters in this order:
- Aliyun: ``您负责的客户${customer}的${what}将于${date}结束（剩${days}天），请及时跟进。``
- Tencent: ``您负责的客户{1}的{2}将于{3}结束（剩{4}天），请及时跟进。``
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core import validators as v
from apps.core.registry import Notice, NoticeFailed

from .gateways import SmsSendFailed, get_gateway

# Providers cap a template variable's length (Aliyun: 35 characters for notices).
PARAM_MAX = 35


# The kinds the notice template is written for (its parameters: customer, what, date, days).
SMS_KINDS = frozenset({"service_reminder"})


def send(notice: Notice) -> str | None:
    if notice.kind not in SMS_KINDS:
        return None
    phone = getattr(notice.recipient, "phone", "") or ""
    if not v.is_mobile(phone):
        return None
    if settings.SMS_BACKEND not in {"console", "capture"} and not settings.SMS_NOTICE_TEMPLATE_ID:
        return None
    params = tuple((name, str(value)[:PARAM_MAX]) for name, value in notice.params)
    try:
        get_gateway().send_notice(phone=v.mobile_e164(phone), text=notice.text, params=params)
    except SmsSendFailed:
        raise NoticeFailed(_("短信发送失败（%(p)s）") % {"p": v.mask_phone(phone)}) from None
    return _("短信")
