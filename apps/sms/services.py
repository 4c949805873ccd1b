"""SMS verification codes: send one, verify one (DESIGN §3.1).

- 6 digits from ``secrets``, valid ``SMS_CODE_TTL`` (300 s), single use, bound to phone and
  purpose; only an HMAC-SHA256 of it (keyed with ``SECRET_KEY``, over purpose, phone and code)
  is stored, in the cache, never the code itself.
- Sends per phone: one per ``SMS_COOLDOWN`` (60 s), ``SMS_PHONE_PER_HOUR`` (5) per sliding
  hour, ``SMS_PHONE_PER_DAY`` (10) per sliding 24 h; per IP and globally, hourly and daily caps.
- ``SMS_MAX_ATTEMPTS`` (5) entries per code: after the 5th wrong one the code is void, and a
  6th entry fails even with the right code.
- Nothing here looks at leads or customers: whether a phone is known cannot change an answer.

State lives in the Django cache (Redis when ``REDIS_URL`` is set), so all app processes share
it; every check that must hold under concurrency is an atomic ``cache.add`` / ``cache.incr``
(see ``limits``). Cache keys name phones and IPs only by an HMAC digest.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from apps.core import validators as v
from apps.core.errors import RateLimited, ValidationFailed

from . import clock, gateways, limits

log = logging.getLogger(__name__)

PURPOSES = {"register": "公开报名"}
CODE_LENGTH = 6
_CODE_RE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class SendResult:
    cooldown: int  # seconds until the same phone may ask again


def _digest(*parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _ref(kind: str, value: str) -> str:
    """A cache-key-safe, non-reversible name for a phone or an IP."""
    return _digest(kind, value)[:24]


def code_hash(*, phone: str, purpose: str, code: str) -> str:
    return _digest("sms-code", purpose, phone, code)


def code_key(*, phone: str, purpose: str) -> str:
    return f"{limits.PREFIX}:code:{purpose}:{_ref('phone', phone)}"


def _wait_text(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 120:
        return _("%(n)d 秒") % {"n": seconds}
    if seconds < 2 * 3600:
        return _("%(n)d 分钟") % {"n": math.ceil(seconds / 60)}
    return _("%(n)d 小时") % {"n": math.ceil(seconds / 3600)}


def _refuse(message: str, wait: float) -> RateLimited:
    seconds = max(1, math.ceil(wait))
    return RateLimited(message % {"wait": _wait_text(seconds)}, retry_after=seconds)


def _clean_phone(phone: str) -> str:
    if not v.is_mobile(phone or ""):
        raise ValidationFailed(
            _("电话：请输入 11 位中国大陆手机号"),
            fields={"phone": [_("请输入 11 位中国大陆手机号")]},
        )
    return v.mobile_e164(phone)


def _clean_purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            _("用途：取值不在允许范围内"), fields={"purpose": [_("取值不在允许范围内")]}
        )
    return purpose


def _phone_limits(phone: str) -> str:
    return f"{limits.PREFIX}:lim:phone:{_ref('phone', phone)}"


def sms_cooldown_left(*, phone: str) -> int:
    """Seconds before ``phone`` may ask for another code (0: now; 0 for a number that is not
    a mobile). A page shown again — after a wrong code, say — keeps counting down from here
    instead of offering a button the limits would refuse."""
    try:
        phone = _clean_phone(phone)
    except ValidationFailed:
        return 0
    return math.ceil(limits.slot_wait(f"{_phone_limits(phone)}:cd", 1))


def _acquire(*, phone: str, ip: str | None) -> limits.Taken:
    """Take the phone's, the IP's and the global allowance for one send, or refuse (429)
    giving back what was taken."""
    taken = limits.Taken()
    p = _phone_limits(phone)
    i = f"{limits.PREFIX}:lim:ip:{_ref('ip', ip or 'unknown')}"
    g = f"{limits.PREFIX}:lim:all"
    checks = (
        (
            limits.take_slot,
            f"{p}:cd",
            1,
            settings.SMS_COOLDOWN,
            _("发送过于频繁，请 %(wait)s后再试"),
        ),
        (
            limits.take_slot,
            f"{p}:h",
            settings.SMS_PHONE_PER_HOUR,
            3600,
            _("该手机号 1 小时内获取验证码次数已达上限，请 %(wait)s后再试"),
        ),
        (
            limits.take_slot,
            f"{p}:d",
            settings.SMS_PHONE_PER_DAY,
            86400,
            _("该手机号 24 小时内获取验证码次数已达上限，请 %(wait)s后再试"),
        ),
        (
            limits.take_count,
            f"{i}:h",
            settings.SMS_IP_PER_HOUR,
            3600,
            _("当前网络获取验证码过于频繁，请 %(wait)s后再试"),
        ),
        (
            limits.take_count,
            f"{i}:d",
            settings.SMS_IP_PER_DAY,
            86400,
            _("当前网络获取验证码过于频繁，请 %(wait)s后再试"),
        ),
        (
            limits.take_count,
            f"{g}:h",
            settings.SMS_GLOBAL_PER_HOUR,
            3600,
            _("短信服务繁忙，请 %(wait)s后再试"),
        ),
        (
            limits.take_count,
            f"{g}:d",
            settings.SMS_GLOBAL_PER_DAY,
            86400,
            _("短信服务繁忙，请 %(wait)s后再试"),
        ),
    )
    for take, base, limit, window, message in checks:
        wait = take(base, limit, window, taken)
        if wait:
            taken.give_back()
            raise _refuse(message, wait)
    return taken


def sms_send_code(*, phone: str, purpose: str, ip: str | None) -> SendResult:
    """Send a fresh code to ``phone`` for ``purpose`` (it replaces any earlier one).

    Raises ValidationFailed (422) for a bad phone or purpose, RateLimited (429, with
    ``retry_after``) when a limit refuses, gateways.SmsSendFailed (503) when the provider does.
    The answer is the same whether or not the phone is known anywhere."""
    purpose = _clean_purpose(purpose)
    phone = _clean_phone(phone)
    _acquire(phone=phone, ip=ip)
    code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
    ttl = settings.SMS_CODE_TTL
    key = code_key(phone=phone, purpose=purpose)
    record = {
        "hash": code_hash(phone=phone, purpose=purpose, code=code),
        "expires": clock.now() + ttl,
        "id": secrets.token_hex(8),
    }
    cache.set(key, record, ttl + 1)
    try:
        gateways.get_gateway().send_code(phone=phone, code=code, minutes=max(1, ttl // 60))
    except gateways.SmsSendFailed:
        # The limits stay taken: a failing provider must not be hammered through us.
        cache.delete(key)
        raise
    log.info("sms code sent purpose=%s phone=%s", purpose, v.mask_phone(phone))
    return SendResult(cooldown=settings.SMS_COOLDOWN)


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(_("验证码：%(m)s") % {"m": message}, fields={"code": [message]})


def sms_verify_code(*, phone: str, purpose: str, code: str) -> None:
    """Check and consume the code sent to ``phone`` for ``purpose``.

    Raises ValidationFailed (422, field ``code``) when it is missing, wrong, used, expired or
    void. Every entry counts against the code's ``SMS_MAX_ATTEMPTS``, counted before the
    comparison, so parallel guesses cannot get more tries than sequential ones."""
    purpose = _clean_purpose(purpose)
    phone = _clean_phone(phone)
    code = (code or "").strip()
    if not _CODE_RE.match(code):
        raise _invalid(_("请输入 6 位数字验证码"))
    key = code_key(phone=phone, purpose=purpose)
    record = cache.get(key)
    t = clock.now()
    expired = _("验证码已失效，请重新获取")
    if not record or record["expires"] <= t:
        raise _invalid(expired)
    used_key = f"{limits.PREFIX}:used:{record['id']}"
    if cache.get(used_key):
        raise _invalid(expired)
    tries_key = f"{limits.PREFIX}:tries:{record['id']}"
    ttl = max(1, math.ceil(record["expires"] - t) + 1)
    cache.add(tries_key, 0, ttl)
    try:
        tries = cache.incr(tries_key)
    except ValueError:  # the code expired this very moment
        raise _invalid(expired) from None
    max_attempts = settings.SMS_MAX_ATTEMPTS
    too_many = _("验证码错误次数过多，已失效，请重新获取")
    if tries > max_attempts:
        raise _invalid(too_many)
    if hmac.compare_digest(record["hash"], code_hash(phone=phone, purpose=purpose, code=code)):
        # Single use: of two simultaneous correct entries only one creates the marker.
        if not cache.add(used_key, 1, ttl):
            raise _invalid(expired)
        _forget(key, record["id"])
        return
    if tries >= max_attempts:
        cache.add(used_key, 1, ttl)
        _forget(key, record["id"])
        log.info("sms code voided after %d wrong entries phone=%s", tries, v.mask_phone(phone))
        raise _invalid(too_many)
    left = max_attempts - tries
    raise _invalid(_("验证码错误，还可输入 %(n)d 次") % {"n": left})


def _forget(key: str, record_id: str) -> None:
    # Drop the stored code unless a newer one replaced it meanwhile.
    current = cache.get(key)
    if current and current.get("id") == record_id:
        cache.delete(key)
