"""Validators for Chinese identifiers and phone numbers, tested on real formats.

- USCC (统一社会信用代码, GB 32100-2015): 18 characters from ``0-9ABCDEFGHJKLMNPQRTUWXY``,
  positions 3–8 a region code, last one a MOD-31 check character. ``stdnum.cn.uscc``
  computes the check character but rejects letter registration authorities (A, N, Y …),
  so the format is checked here.
- Legacy 15-digit 注册号: ISO 7064 MOD 11,10.
- Mainland mobile numbers: 11 digits starting 1[3-9], optional +86 / 86 prefix.
- Landlines: area code + local number, optional extension (``-123``, ``转123``, ``ext 12``);
  400/800 service numbers. Area codes are 3 digits (010, 02X) with an 8-digit local
  number, or 4 digits (03XX–09XX) with a 7- or 8-digit one, so ``0571-888888`` is not
  read as 057 + 1888888. ``+86``/``0086`` stands for the leading 0 (``+86 755 12345678``).
  ``phonenumbers`` rejects some real local numbers, so these are matched by pattern.
"""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_10

from .inputs import ascii_digits

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_SEPARATORS = re.compile(r"[\s\-‐－—]")


def normalize_license_no(value: str) -> str:
    return _SEPARATORS.sub("", ascii_digits(value or "")).upper()


def validate_license_no(value: str) -> None:
    """营业执照号: an 18-character USCC or a legacy 15-digit registration number."""
    number = normalize_license_no(value)
    if len(number) == 15 and number.isdigit():
        if not mod_11_10.is_valid(number):
            raise ValidationError(_("15 位注册号校验位不正确"), code="checksum")
        return
    if len(number) != 18:
        raise ValidationError(
            _("应为 18 位统一社会信用代码或 15 位注册号，当前 %(n)d 位") % {"n": len(number)},
            code="length",
        )
    bad = sorted({c for c in number if c not in USCC_ALPHABET})
    if bad:
        raise ValidationError(
            _("含有不允许的字符：%(chars)s（不使用 I、O、Z、S、V）") % {"chars": "".join(bad)},
            code="format",
        )
    if not number[2:8].isdigit():
        raise ValidationError(_("第 3–8 位应为行政区划码（数字）"), code="format")
    if uscc.calc_check_digit(number[:17]) != number[17]:
        raise ValidationError(_("校验位不正确，请核对营业执照"), code="checksum")


_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_mobile(value: str) -> str:
    """Digits only, without the +86/86/0086 prefix: ``13800138000``."""
    digits = re.sub(r"[\s\-()（）]", "", ascii_digits(value or ""))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix) :]
            break
    return digits


def is_mobile(value: str) -> bool:
    number = normalize_mobile(value)
    if not _MOBILE_RE.match(number):
        return False
    parsed = phonenumbers.parse(number, "CN")
    return phonenumbers.is_possible_number(parsed)


def validate_mobile(value: str) -> None:
    if not is_mobile(value):
        raise ValidationError(_("请输入 11 位中国大陆手机号"), code="mobile")


def mobile_e164(value: str) -> str:
    return "+86" + normalize_mobile(value)


def mask_phone(value: str) -> str:
    """``138****8000`` — for logs and anywhere a phone must not appear in full."""
    number = normalize_mobile(value)
    if len(number) < 7:
        return "****"
    return f"{number[:3]}****{number[-4:]}"


_EXTENSION_RE = re.compile(r"(?:-|转|ext\.?|x|#|,)\s?(\d{1,6})$", re.IGNORECASE)
_LANDLINE_RE = re.compile(r"^(?:0(?:10|2\d)[1-9]\d{7}|0[3-9]\d{2}[1-9]\d{6,7})$")
_SERVICE_RE = re.compile(r"^[48]00\d{7}$")
_AREA_CODE_RE = re.compile(r"^[(（](0\d{2,3})[)）]")
_COUNTRY_CODE_RE = re.compile(r"^(?:\+|00)86[\s\-]*(?=[1-9])")


def normalize_phone_text(value: str) -> str:
    return re.sub(r"\s+", " ", ascii_digits(value or "").strip())


def is_landline(value: str) -> bool:
    text = normalize_phone_text(value)
    text = _COUNTRY_CODE_RE.sub("0", text)
    text = _AREA_CODE_RE.sub(r"\1-", text)
    main = text
    ext = _EXTENSION_RE.search(text)
    if ext and len(re.sub(r"\D", "", text[: ext.start()])) >= 10:
        main = text[: ext.start()]
    digits = re.sub(r"[\s\-‐－—]", "", main)
    if not digits.isdigit():
        return False
    return bool(_LANDLINE_RE.match(digits) or _SERVICE_RE.match(digits))


def validate_landline(value: str) -> None:
    """办公电话: landline with area code (optional extension), 400/800, or a mobile."""
    if is_landline(value) or is_mobile(value):
        return
    raise ValidationError(
        _("请输入带区号的固定电话（如 0755-12345678 或 010-12345678-123）、400/800 电话或手机号"),
        code="landline",
    )


def validate_contact_phone(value: str) -> None:
    """联系电话 / 甲方电话 / 乙方电话: a mobile or a landline."""
    validate_landline(value)
