"""Public registration over the API: /api/v1/public/sms-codes and /api/v1/public/registrations.

No authentication (and so no CSRF: nothing here acts on a session); abuse is held off by the
SMS limits (per phone, per IP, global) and the code's attempt limit. Answers never reveal
whether a phone is already known: the same 202 for any phone, the same 201 for a new and a
repeat application."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from apps.api.common import Input, errors
from apps.api.errors import register_labels
from apps.core.middleware import client_ip
from apps.sms.services import sms_send_code

from .public import APPLIED_MESSAGE, detect_channel, user_agent_of
from .services import REGISTER_PURPOSE, lead_apply

router = Router(tags=["公开报名"], auth=None)

register_labels(
    {
        "phone": "电话",
        "code": "验证码",
        "company": "公司名",
        "purpose": "用途",
        "channel": "渠道",
        "ref": "渠道来源",
    }
)

_LIMITS_DOC = (
    "同一手机号 60 秒内 1 次、1 小时内 5 次、24 小时内 10 次，另有按 IP 与全局的上限；"
    "超出时返回 429，响应头 `Retry-After` 为需等待的秒数。"
)


class SmsCodeIn(Input):
    phone: str = Field(
        ..., description="中国大陆手机号，如 `13800138000`", examples=["13800138000"]
    )
    purpose: Literal["register"] = Field(REGISTER_PURPOSE, description="用途：`register` 公开报名")


class SmsCodeOut(Schema):
    cooldown: int = Field(..., description="多少秒后可再次获取", examples=[60])


class RegistrationIn(Input):
    name: str = Field("", description="姓名（1–50 字）", examples=["王经理"])
    phone: str = Field("", description="手机号", examples=["13800138000"])
    code: str = Field("", description="6 位短信验证码", examples=["123456"])
    company: str = Field("", description="公司名（选填，最多 100 字）", examples=["万家物业"])
    channel: Literal["web", "wechat", "qr"] | None = Field(
        None,
        description="渠道：`web` 网页、`wechat` 微信、`qr` 二维码；"
        "不填时按浏览器判断（User-Agent 含 MicroMessenger 为微信）",
    )
    ref: str = Field("", description="二维码 / 活动编号（`?ref=`）", examples=["A1B2C3D4"])
    consent: bool = Field(
        False,
        description="申请人已阅读并同意《隐私政策》（`/apply/privacy/`）；须为 `true`，否则 422",
        examples=[True],
    )


class MessageOut(Schema):
    message: str = Field(..., examples=[str(APPLIED_MESSAGE)])


@router.post(
    "public/sms-codes",
    response={202: SmsCodeOut, **errors(422, 429, 503)},
    summary="发送短信验证码（公开）",
    description="向手机号发送 6 位验证码，5 分钟内有效，只能使用一次。"
    + _LIMITS_DOC
    + "无论手机号是否已申请过，成功时的回答都相同。短信服务商失败时返回 503。",
)
def send_sms_code(request: HttpRequest, payload: SmsCodeIn):
    result = sms_send_code(phone=payload.phone, purpose=payload.purpose, ip=client_ip(request))
    return Status(202, {"cooldown": result.cooldown})


@router.post(
    "public/registrations",
    response={201: MessageOut, **errors(422)},
    summary="提交入驻申请（公开）",
    description="校验短信验证码（输错 5 次即失效）后登记申请。同一手机号重复申请时记录在原申请上，"
    "回答与首次申请完全相同。",
)
def create_registration(request: HttpRequest, payload: RegistrationIn):
    user_agent = user_agent_of(request)
    lead_apply(
        name=payload.name,
        phone=payload.phone,
        code=payload.code,
        company=payload.company,
        channel=detect_channel(payload.channel or "", user_agent),
        channel_ref=payload.ref,
        ip=client_ip(request),
        user_agent=user_agent,
        consent=payload.consent,
    )
    return Status(201, {"message": str(APPLIED_MESSAGE)})
