"""Input hygiene: the one set of rules every write passes, whatever its entry.

The API's request schemas (``apps.api.common.Input``), the console's forms
(``apps.core.forms``), the public page, imports and — as a backstop for any save that
slipped past them — the model layer (``check_instance``, run before every save of a
platform model) all call these functions, so a value refused in one place is refused in
all of them, with the same Chinese message.

- Text: C0/C1 control characters are refused (tab, CR and LF only in multi-line fields),
  and so are NUL and lone surrogates, which no database stores alike (PostgreSQL refuses
  NUL, every driver refuses a lone surrogate). Length is checked against the column before
  the database sees it.
- Digits: full-width and other Unicode decimal digits (``１３８``, ``١٣٨``) become ASCII in
  phones, licence numbers, accounts and counts, before validation, limits and uniqueness.
- Dates and datetimes: within ``DATE_MIN``–``DATE_MAX`` (2000–2100). Beyond, a value
  cannot be shown in Asia/Shanghai (year 9999 overflows) or is simply absurd.
- Integers: within their column's range; ids within a BIGINT, so a filter of 10^20 is
  "not found", never ``OverflowError``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

DATE_MIN = dt.date(2000, 1, 1)
DATE_MAX = dt.date(2100, 12, 31)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_CONTROL_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_ASCII_DIGIT = re.compile(r"[^\x00-\x7f]")


def ascii_digits(value: str) -> str:
    """Every Unicode decimal digit (full-width, Arabic-Indic, Devanagari …) as ASCII."""
    if not value or value.isascii():
        return value
    return _NON_ASCII_DIGIT.sub(_to_ascii_digit, value)


def _to_ascii_digit(match: re.Match[str]) -> str:
    char = match.group()
    digit = unicodedata.decimal(char, None)
    return str(digit) if digit is not None else char


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` may not be stored as text, in Chinese, or None."""
    if _SURROGATE.search(value):
        return _("含有无法识别的字符（不成对的代理码位）")
    if "\x00" in value:
        return _("含有空字符（NUL）")
    pattern = _CONTROL_MULTI_LINE if multiline else _CONTROL_SINGLE_LINE
    found = pattern.search(value)
    if found:
        if not multiline and found.group() in "\t\r\n":
            return _("不能包含换行或制表符")
        return _("含有不可见的控制字符（U+%(code)04X）") % {"code": ord(found.group())}
    return None


def check_text(value: str, *, multiline: bool = False, max_length: int | None = None) -> None:
    problem = text_problem(value, multiline=multiline)
    if problem:
        raise ValidationError(problem, code="bad_characters")
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            _("最多 %(n)d 个字（当前 %(m)d 个）") % {"n": max_length, "m": len(value)},
            code="max_length",
        )


def check_date(value: dt.date) -> None:
    day = value.date() if isinstance(value, dt.datetime) else value
    if not DATE_MIN <= day <= DATE_MAX:
        raise ValidationError(
            _("日期应在 %(lo)s 至 %(hi)s 之间") % {"lo": DATE_MIN, "hi": DATE_MAX},
            code="date_range",
        )


def check_int(value: int, bounds: tuple[int, int] = INT64) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValidationError(_("数值超出允许范围"), code="int_range")


def check_value(
    value: Any,
    *,
    multiline: bool = False,
    max_length: int | None = None,
    int_bounds: tuple[int, int] = INT64,
) -> None:
    """Check one parsed value of any type (text, date, datetime, integer, list of them)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        check_text(value, multiline=multiline, max_length=max_length)
    elif isinstance(value, dt.date):
        check_date(value)
    elif isinstance(value, int):
        check_int(value, int_bounds)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError(_("请输入有效的数字"), code="invalid")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_value(item, multiline=multiline, int_bounds=int_bounds)


def parse_id(value: Any) -> int | None:
    """A record id from a filter or path: a positive integer within a BIGINT, with Unicode
    digits accepted; anything else (``²``, ``10^20``, ``-1``, ``abc``) is None."""
    text = ascii_digits(str(value if value is not None else "")).strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= INT64[1] else None


# --- The model layer ---------------------------------------------------------------------

_INT32_FIELDS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.AutoField,
)
_INT64_FIELDS = (models.BigIntegerField, models.PositiveBigIntegerField, models.BigAutoField)


def _int_bounds(f: models.Field) -> tuple[int, int]:
    if isinstance(f, _INT64_FIELDS):
        return INT64
    return INT32 if isinstance(f, _INT32_FIELDS) else INT64


def field_problems(obj: models.Model, names: Iterable[str] | None = None) -> dict[str, str]:
    """{field: problem} for the values of ``obj`` that may not be stored."""
    problems: dict[str, str] = {}
    for f in obj._meta.concrete_fields:
        if names is not None and f.name not in names:
            continue
        if f.primary_key or f.is_relation or isinstance(f, models.FileField | models.JSONField):
            continue
        value = getattr(obj, f.attname, None)
        try:
            check_value(
                value,
                multiline=isinstance(f, models.TextField),
                max_length=getattr(f, "max_length", None) if isinstance(value, str) else None,
                int_bounds=_int_bounds(f),
            )
        except ValidationError as exc:
            problems[f.name] = exc.messages[0]
    return problems


def check_instance(obj: models.Model, names: Iterable[str] | None = None) -> None:
    """Refuse to store ``obj`` if any field holds what no page or export may meet; the
    error names each field by its label (``ValidationFailed``, a 422 in the API)."""
    from .errors import ValidationFailed

    problems = field_problems(obj, names)
    if problems:
        labels = {f.name: str(f.verbose_name) for f in obj._meta.concrete_fields}
        message = "；".join(f"{labels.get(k, k)}：{m}" for k, m in problems.items())
        raise ValidationFailed(message, fields={k: [m] for k, m in problems.items()})


def guard_model_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """``pre_save`` receiver (connected in ``CoreConfig.ready``): every platform model is
    checked before it is written, unless it sets ``input_guard = False`` (rows the platform
    writes itself from trusted values: audit rows, counters, provisioning logs)."""
    if raw or not sender.__module__.startswith("apps.") or not getattr(sender, "input_guard", True):
        return
    check_instance(instance, update_fields)


# --- Cleaning rows stored before these rules ------------------------------------------------


def cleaned_text(value: str, *, multiline: bool) -> str:
    """``value`` as the rules would have taken it: line breaks and tabs in a single-line
    field become spaces, other control characters and NUL are dropped."""
    if not multiline:
        value = re.sub("[\t\r\n]+", " ", value)
    return (_CONTROL_MULTI_LINE if multiline else _CONTROL_SINGLE_LINE).sub("", value)


def clean_stored_rows(model: type[models.Model], *, batch: int = 2000) -> int:
    """Bring rows stored before the input rules within them (for data migrations; works on
    historical models): control characters dropped from text, dates and datetimes outside
    2000–2100 moved to the nearest bound. Returns the number of rows changed."""
    changed = 0
    low = dt.datetime.combine(DATE_MIN, dt.time.min, tzinfo=dt.UTC)
    high = dt.datetime.combine(DATE_MAX, dt.time(23, 59, 59), tzinfo=dt.UTC)
    for f in model._meta.concrete_fields:
        if isinstance(f, models.DateTimeField):
            bounds = (low, high)
        elif isinstance(f, models.DateField):
            bounds = (DATE_MIN, DATE_MAX)
        else:
            continue
        changed += model._default_manager.filter(**{f"{f.name}__lt": bounds[0]}).update(
            **{f.name: bounds[0]}
        )
        changed += model._default_manager.filter(**{f"{f.name}__gt": bounds[1]}).update(
            **{f.name: bounds[1]}
        )
    text_fields = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField) and not f.primary_key
    ]
    if not text_fields:
        return changed
    names = [f.name for f in text_fields]
    pending: list[models.Model] = []
    for row in model._default_manager.only("pk", *names).iterator(chunk_size=batch):
        dirty = False
        for f in text_fields:
            value = getattr(row, f.name)
            if isinstance(value, str):
                clean = cleaned_text(value, multiline=isinstance(f, models.TextField))
                if clean != value:
                    setattr(row, f.name, clean)
                    dirty = True
        if dirty:
            pending.append(row)
        if len(pending) >= batch:
            model._default_manager.bulk_update(pending, names)
            changed += len(pending)
            pending = []
    if pending:
        model._default_manager.bulk_update(pending, names)
        changed += len(pending)
    return changed
