from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import validators as v
from apps.core.files import PrivateUploadTo

ACCOUNT_NO_RE = re.compile(r"^\d{8,30}$")


def validate_account_no(value: str) -> None:
    """Corporate bank accounts: 8–30 digits. No Luhn check (they do not follow it)."""
    if not ACCOUNT_NO_RE.match(value or ""):
        raise ValidationError(_("账号应为 8–30 位数字"), code="account_no")


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
        _("授权小区数"), validators=[MinValueValidator(1, _("授权小区数须为大于 0 的整数"))]
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
    intro = models.TextField(_("企业简介"), blank=True, max_length=2000)
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
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("合同")
        verbose_name_plural = _("合同")
        ordering = ["-created_at", "-id"]
        permissions = [("view_contract_file", _("下载合同扫描件"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="contract_end_after_start",
                violation_error_message=_("合作截止时间不能早于合作开始时间"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer.name if self.customer_id else ''} 合同 #{self.pk}"

    def clean(self) -> None:
        for name in ("bank_name", "legal_representative", "party_a_contact", "party_b_contact"):
            setattr(self, name, (getattr(self, name) or "").strip())
        self.account_no = re.sub(r"[\s-]", "", self.account_no or "")
        for name in ("party_a_phone", "party_b_phone"):
            value = getattr(self, name) or ""
            if v.is_mobile(value):
                setattr(self, name, v.normalize_mobile(value))
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("合作截止时间不能早于合作开始时间")})

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
