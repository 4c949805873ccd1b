"""The public registration page (/apply/): the platform's only face to the internet.

Mobile-first, Simplified Chinese, works in WeChat's browser and on a desktop, and without
JavaScript: the 获取验证码 button then submits the form to this view, which sends the code and
shows the page again; with JavaScript (static/js/apply.js) it calls the public API and counts
down. New and repeat applicants get the same answer; nothing here tells whether a phone is
known. Limits against SMS-bombing and code guessing live in apps.sms.services."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from apps.core.errors import RateLimited, ValidationFailed
from apps.core.middleware import client_ip
from apps.sms.gateways import SmsSendFailed
from apps.sms.services import sms_cooldown_left, sms_send_code

from .models import Channel
from .services import REGISTER_PURPOSE, clean_channel_ref, lead_apply

APPLIED_MESSAGE = _("申请已提交，我们会尽快与您联系")
CODE_SENT_MESSAGE = _("验证码已发送，请注意查收短信")
FIELDS = ("name", "phone", "code", "company")
_MAX_INPUT = 200


def detect_channel(ch: str, user_agent: str) -> str:
    """The channel of a self-application: ``qr`` when the link says so (a scanned poster,
    whatever the browser), ``wechat`` inside WeChat's browser (MicroMessenger in the
    User-Agent) or when the link says so, else ``web``."""
    ch = (ch or "").strip().lower()
    if ch == Channel.QR:
        return Channel.QR
    if ch == Channel.WECHAT or "micromessenger" in (user_agent or "").lower():
        return Channel.WECHAT
    return Channel.WEB


def user_agent_of(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


@login_not_required
@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    ch = (source.get("ch") or "")[:16]
    ref = clean_channel_ref(source.get("ref") or "")
    data = {name: (request.POST.get(name) or "")[:_MAX_INPUT] for name in FIELDS}
    context = {
        "data": data,
        "ch": ch,
        "ref": ref,
        "errors": {},
        "general_error": "",
        "notice": "",
        "cooldown": 0,
        "purpose": REGISTER_PURPOSE,
        "consent": request.POST.get("consent") == "1",
    }
    if request.method == "POST":
        if "send_code" in request.POST:
            _send_code(request, data, context)
        else:
            try:
                lead_apply(
                    name=data["name"],
                    phone=data["phone"],
                    code=data["code"],
                    company=data["company"],
                    channel=detect_channel(ch, user_agent_of(request)),
                    channel_ref=ref,
                    ip=client_ip(request),
                    user_agent=user_agent_of(request),
                    consent=request.POST.get("consent") == "1",
                )
            except ValidationFailed as exc:
                context["errors"] = dict(exc.fields)
                context["general_error"] = "；".join(context["errors"].pop("__all__", []))
                if not context["errors"] and not context["general_error"]:
                    context["general_error"] = exc.message
            else:
                return redirect("public:apply_done")
            context["cooldown"] = sms_cooldown_left(phone=data["phone"])
    return render(request, "public/apply.html", context)


def _send_code(request: HttpRequest, data: dict[str, str], context: dict) -> None:
    """The no-JavaScript path of 获取验证码."""
    try:
        result = sms_send_code(phone=data["phone"], purpose=REGISTER_PURPOSE, ip=client_ip(request))
    except ValidationFailed as exc:
        context["errors"] = exc.fields
    except RateLimited as exc:
        context["errors"] = {"code": [exc.message]}
        context["cooldown"] = exc.retry_after or 0
    except SmsSendFailed as exc:
        context["errors"] = {"code": [exc.message]}
    else:
        context["notice"] = CODE_SENT_MESSAGE
        context["cooldown"] = result.cooldown
    # The code field starts empty after a send.
    data["code"] = ""


@login_not_required
@require_http_methods(["GET"])
def privacy(request: HttpRequest) -> HttpResponse:
    """《隐私政策》: what the application collects, why, for how long, and the applicant's
    rights — linked from the consent box on the application page."""
    context = {"operator": settings.PRIVACY_OPERATOR, "contact": settings.PRIVACY_CONTACT}
    return render(request, "public/privacy.html", context)


@login_not_required
@require_http_methods(["GET"])
def apply_done(request: HttpRequest) -> HttpResponse:
    return render(request, "public/done.html", {"message": APPLIED_MESSAGE})
