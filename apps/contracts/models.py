from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from apps.core import fields
from apps.core import validators as v
from apps.core.files import PrivateUploadTo
from apps.core.inputs import ascii_digits

ACCOUNT_NO_RE = re.compile(r"^\d{8,30}$")
# A sanity bound, the same on every database (the largest operators run a few thousand).
MAX_COMMUNITIES = 100_000


def validate_account_no(value: str) -> None:
    """Corporate bank accounts: 8–30 digits. No Luhn check (they do not follow it)."""
    if not ACCOUNT_NO_RE.match(value or ""):
        raise ValidationError(_("账号应为 8–30 位数字"), code="account_no")


def _two_places(value):
    """``150000`` and ``1.230`` → ``150000.00`` and ``1.23``, so that stored and audited
    amounts read alike; anything with more than two places left as is for the validator."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return value
    if not amount.is_finite() or amount.normalize().as_tuple().exponent < -2:
        return value
    try:
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        return value


class Contract(models.Model):
    """合同 (spec table 3). A customer may have several (renewals)."""

    class Status(models.TextChoices):
        OPEN = "open", _("开通")
        CLOSED = "closed", _("关闭")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="contracts",
    )
    bank_name = models.CharField(_("开户行"), max_length=100)
    legal_representative = models.CharField(_("法人代表"), max_length=50)
    account_no = models.CharField(_("账号"), max_length=30, validators=[validate_account_no])
    start_date = models.DateField(_("合作开始时间"))
    end_date = models.DateField(_("合作截止时间"), db_index=True)
    communities = models.PositiveIntegerField(
        _("授权小区数"),
        validators=[
            MinValueValidator(1, _("授权小区数须为大于 0 的整数")),
            MaxValueValidator(MAX_COMMUNITIES, _("授权小区数不能超过 %(limit_value)s")),
        ],
    )
    amount = models.DecimalField(
        _("合作金额"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"), _("合作金额不能为负数"))],
    )
    scan = models.FileField(
        _("合同扫描件"), upload_to=PrivateUploadTo("contracts"), blank=True, max_length=200
    )
    party_a_contact = models.CharField(_("甲方对接人"), max_length=50)
    party_a_phone = models.CharField(
        _("甲方电话"), max_length=40, validators=[v.validate_contact_phone]
    )
    party_b_contact = models.CharField(_("乙方对接人"), max_length=50)
    party_b_phone = models.CharField(
        _("乙方电话"), max_length=40, validators=[v.validate_contact_phone]
    )
    # The spec's 企业简介 of a contract: what this contract covers, in its own words.
    intro = models.TextField(_("合同说明"), blank=True, max_length=2000)
    remarks = models.TextField(_("备注"), blank=True, max_length=2000)
    status = models.CharField(
        _("状态"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("合同")
        verbose_name_plural = _("合同")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("view_contract_file", _("下载合同扫描件")),
            ("export_contract", _("导出合同")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="contract_end_after_start",
                violation_error_message=_("合作截止时间不能早于合作开始时间"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.name if self.customer_id else ''} 合同 #{self.pk}"

    def normalize(self) -> None:
        """Tidy what staff type before any validator sees it: trim names, drop spaces and
        dashes from the account number, store mobiles as 11 digits."""
        for name in ("bank_name", "legal_representative", "party_a_contact", "party_b_contact"):
            setattr(self, name, (getattr(self, name) or "").strip())
        self.account_no = re.sub(r"[\s\-‐－—]", "", ascii_digits(str(self.account_no or "")))
        for name in ("party_a_phone", "party_b_phone"):
            value = getattr(self, name) or ""
            if v.is_mobile(value):
                setattr(self, name, v.normalize_mobile(value))
            else:
                setattr(self, name, v.normalize_phone_text(value))
        self.amount = _two_places(self.amount)

    def clean_fields(self, exclude=None) -> None:
        # Normalise first, so that "6222 0212 3456 7890" passes the digits-only validator.
        self.normalize()
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        self.normalize()
        errors: dict[str, str] = {}
        start, end = self.start_date, self.end_date
        # Compare only parsed dates: a value clean_fields refused is still the raw input.
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            errors["end_date"] = _("合作截止时间不能早于合作开始时间")
        for name in ("intro", "remarks"):
            limit = self._meta.get_field(name).max_length
            if limit and len(getattr(self, name) or "") > limit:
                errors[name] = _("最多 %(n)d 字") % {"n": limit}
        if errors:
            raise ValidationError(errors)

    def days_left(self, today: dt.date | None = None) -> int:
        today = today or timezone.localdate()
        return (self.end_date - today).days

    @property
    def is_expiring(self) -> bool:
        """Open and ending within the warning window (default 30 days), not yet ended."""
        if self.status != self.Status.OPEN:
            return False
        return 0 <= self.days_left() <= settings.CONTRACT_EXPIRY_WARNING_DAYS

    @property
    def is_expired(self) -> bool:
        return self.days_left() < 0

    @cached_property
    def expiry(self) -> Expiry | None:
        """The flag lists show for an open contract: 「N 天后到期」 within the warning window
        (the same window as the list's 「30 天内到期」 filter), 「已到期」 past its end date.
        Closed contracts carry no flag: their status badge says enough."""
        if self.status != self.Status.OPEN or not self.end_date:
            return None
        days = self.days_left()
        if days < 0:
            return Expiry("expired", str(_("已到期")), days)
        if days == 0:
            return Expiry("expiring", str(_("今天到期")), days)
        if days <= settings.CONTRACT_EXPIRY_WARNING_DAYS:
            return Expiry("expiring", str(_("%(n)d 天后到期") % {"n": days}), days)
        return None


class Expiry(NamedTuple):
    state: str  # "expiring" or "expired"
    label: str
    days_left: int
