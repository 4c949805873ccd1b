"""Two-factor login (二次验证): TOTP through django-otp, with ten recovery codes.

- Who must: holders of ``roles.SECOND_FACTOR_PERM`` (开发运维, 系统管理员), while
  ``TWO_FACTOR_ENFORCED`` is on (always in production). Anyone else may enrol.
- Enrolment: ``enrolment_start`` makes an unconfirmed TOTP device (a new secret each time,
  so a QR code shown earlier stops working); ``enrolment_confirm`` checks one code from the
  app, confirms the device and returns ten recovery codes — shown once, stored as
  HMAC-SHA256 digests only.
- Login: the password step signs the session in; until ``second_factor_verify`` succeeds
  the session reaches nothing but the second step (``middleware.SecondFactorMiddleware``).
  A TOTP code is accepted once (django-otp keeps the last time step used); failures are
  throttled per device (2^(n-1) s) and, after ``TWO_FACTOR_MAX_FAILURES`` in a session,
  the session is signed out. API tokens never meet the second step.
- Reset: ``second_factor_reset`` (系统管理员) removes a member's devices, audited.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit import services as audit
from apps.core.permissions import has_perm, require_perm

from .models import RecoveryCode, RecoveryCodeDevice, User
from .roles import SECOND_FACTOR_PERM

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
TOTP_NAME = "身份验证器"


def second_factor_required(user: User) -> bool:
    """Whether ``user`` must log in with a second factor."""
    if not settings.TWO_FACTOR_ENFORCED or not user.is_authenticated:
        return False
    # A permission, not a group look-up: the per-request permission cache answers it, the
    # one the views' own checks fill anyway.
    return has_perm(user, SECOND_FACTOR_PERM)


def has_second_factor(user: User) -> bool:
    return bool(getattr(user, "second_factor_enabled", False))


def recovery_digest(code: str) -> str:
    """The stored form of a recovery code ("" for what cannot be one)."""
    normalised = re.sub(r"[\s\-]", "", (code or "").lower())
    if not re.fullmatch(f"[{_RECOVERY_ALPHABET}]{{10}}", normalised):
        return ""
    key = hashlib.sha256(f"recovery-codes:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


@transaction.atomic
def enrolment_start(*, user: User) -> TOTPDevice:
    """A fresh unconfirmed authenticator for ``user`` (earlier unconfirmed ones removed)."""
    if has_second_factor(user):
        raise ValueError("already enrolled")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


@transaction.atomic
def enrolment_confirm(*, user: User, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm ``device`` with a code from the app; the ten recovery codes, or None when the
    code is wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(_digits(token)):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    User.objects.filter(pk=user.pk).update(second_factor_enabled=True)
    user.second_factor_enabled = True
    codes = _replace_recovery_codes(user)
    audit.record(
        actor=user,
        action="two_factor_enable",
        obj=user,
        changes={},
        message=_("启用二次验证（身份验证器），生成 %(n)d 个恢复码") % {"n": len(codes)},
    )
    return codes


def _replace_recovery_codes(user: User) -> list[str]:
    RecoveryCodeDevice.objects.filter(user=user).delete()
    device = RecoveryCodeDevice.objects.create(user=user, name=_("恢复码"), confirmed=True)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, digest=recovery_digest(code)) for code in codes
    )
    return codes


def _digits(token: str) -> str:
    from apps.core.inputs import ascii_digits

    return re.sub(r"\s", "", ascii_digits(token or ""))


def second_factor_verify(*, user: User, token: str):
    """The device that accepts ``token`` (an authenticator code or a recovery code), or
    None. Every failure is throttled by the device; a recovery code is spent."""
    token = (token or "").strip()
    digits = _digits(token)
    if re.fullmatch(r"\d{6}", digits):
        for device in devices_for_user(user, confirmed=True):
            if isinstance(device, TOTPDevice) and device.verify_token(digits):
                return device
        return None
    for device in devices_for_user(user, confirmed=True):
        if isinstance(device, RecoveryCodeDevice) and device.verify_token(token):
            audit.record(
                actor=user,
                action="recovery_code_used",
                obj=user,
                changes={},
                message=_("使用恢复码登录，剩余 %(n)d 个") % {"n": device.remaining()},
            )
            return device
    return None


@transaction.atomic
def second_factor_reset(*, actor: User, user: User) -> int:
    """重置二次验证: remove every device of ``user``; they enrol again at next login."""
    require_perm(actor, "accounts.manage_staff")
    removed = 0
    for model in (TOTPDevice, RecoveryCodeDevice):
        removed += model.objects.filter(user=user).delete()[0]
    User.objects.filter(pk=user.pk).update(second_factor_enabled=False)
    user.second_factor_enabled = False
    audit.record(
        actor=actor,
        action="two_factor_reset",
        obj=user,
        changes={},
        message=_("重置二次验证：该员工下次登录时需重新绑定身份验证器"),
    )
    return removed


def qr_data_uri(device: TOTPDevice) -> str:
    """The enrolment QR code (the otpauth:// URL) as an SVG ``data:`` URI for an ``<img>``;
    made here, fetched from nowhere, and never inserted into the page as markup."""
    import base64

    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def secret_base32(device: TOTPDevice) -> str:
    """The secret for typing into an app by hand, in groups of four."""
    from base64 import b32encode

    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
