from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import fields, regions
from apps.core import validators as v
from apps.core.files import PrivateUploadTo


class ServiceState(models.TextChoices):
    TRIAL = "trial", _("试用中")
    ACTIVE = "active", _("服务中")
    GRACE = "grace", _("宽限期")
    SUSPENDED = "suspended", _("已停用")
    CLOSED = "closed", _("已关闭")


class Customer(models.Model):
    """客户详细信息 (spec table 2). May be saved incomplete; the completeness gate in
    ``services.missing_profile_fields`` guards activation and contracts."""

    class Status(models.IntegerChoices):
        # The spec's 0 = 关闭 and 1 = 开通; 2 = 未开通 tells a customer never switched on
        # from one closed after being open.
        CLOSED = 0, _("关闭")
        OPEN = 1, _("开通")
        NOT_OPENED = 2, _("未开通")

    enterprise_no = models.CharField(_("企业号"), max_length=20, unique=True, editable=False)
    license_no = models.CharField(
        _("营业执照号"),
        max_length=18,
        unique=True,
        null=True,
        blank=True,
        validators=[v.validate_license_no],
        error_messages={"unique": _("该营业执照号已被其他客户使用")},
    )
    name = models.CharField(_("企业名称"), max_length=100, blank=True, db_index=True)
    province = models.CharField(_("所属省份"), max_length=6, blank=True, db_index=True)
    city = models.CharField(_("所属城市"), max_length=6, blank=True)
    address = models.CharField(_("企业详细地址"), max_length=200, blank=True)
    office_phone = models.CharField(
        _("办公电话"), max_length=40, blank=True, validators=[v.validate_landline]
    )
    email = models.EmailField(_("邮箱"), max_length=254, blank=True)
    license_scan = models.FileField(
        _("营业执照扫描件"), upload_to=PrivateUploadTo("licenses"), blank=True, max_length=200
    )
    intro = models.TextField(_("企业简介"), blank=True, max_length=2000)
    remarks = models.TextField(_("备注"), blank=True, max_length=2000)
    status = models.SmallIntegerField(
        _("状态"), choices=Status.choices, default=Status.NOT_OPENED, db_index=True
    )
    contact_name = models.CharField(_("联系人"), max_length=50, blank=True)
    contact_phone = models.CharField(
        _("联系电话"),
        max_length=40,
        blank=True,
        db_index=True,
        validators=[v.validate_contact_phone],
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("负责人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    modules = models.JSONField(_("开通模块"), default=list, blank=True)
    # The service lifecycle (``lifecycle.py``): where the customer stands today, kept by
    # every change of its contracts or trial and by the daily sweep.
    service_state = models.CharField(
        _("服务状态"), max_length=16, choices=ServiceState.choices, blank=True, db_index=True
    )
    service_ends_on = models.DateField(_("服务截止日"), null=True, blank=True)
    trial_ends_on = models.DateField(_("试用截止日"), null=True, blank=True)
    trial_extensions = models.PositiveSmallIntegerField(_("试用延期次数"), default=0)
    # The largest 授权小区数 of the contracts serving today (None: none): it raises the
    # package's community limit where larger.
    licensed_communities = models.PositiveIntegerField(_("合同授权小区数"), null=True, blank=True)
    # Set by 开通 with a package (its modules become the customer's); None: opened by
    # modules alone, before packages existed.
    package = models.ForeignKey(
        "customers.Package",
        verbose_name=_("套餐"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    activated_at = fields.DateTimeField(_("开通时间"), null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("开通人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    closed_at = fields.DateTimeField(_("关闭时间"), null=True, blank=True)
    close_reason = models.CharField(_("关闭原因"), max_length=200, blank=True)
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
    # The customer's place in the tenant registry feed: NULL until it is listed there (its
    # first data source), then moved to the head — a new value of the "registry" sequence —
    # by every change the business system sees (``services.registry_changed``).
    registry_seq = models.BigIntegerField(
        _("注册表变更序号"), null=True, blank=True, db_index=True, editable=False
    )
    registry_changed_at = fields.DateTimeField(
        _("注册表变更时间"), null=True, blank=True, editable=False
    )

    # What the tenant registry publishes of the customer; a change moves it in the feed.
    REGISTRY_FIELDS = ("name", "status", "modules")
    REGISTRY_POSITION = ("registry_seq", "registry_changed_at")
    AUDIT_EXCLUDE = REGISTRY_POSITION

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("activate_customer", _("开通客户")),
            ("close_customer", _("关闭客户")),
            ("assign_customer", _("分配客户负责人")),
            ("extend_trial", _("延长试用期")),
            ("view_customer_file", _("下载营业执照扫描件")),
            ("export_customer", _("导出客户")),
            ("import_customer", _("导入客户")),
            ("merge_customer", _("合并重复的客户")),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["province", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name or _('未命名客户')}（{self.enterprise_no}）"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The feed position is written only by ``services.registry_changed``: saving an
        # instance read before it moved must not move it back.
        if not (self._state.adding or kwargs.get("force_insert")) and (
            kwargs.get("update_fields") is None
        ):
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.REGISTRY_POSITION
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Normalise what staff type, and check the province → city pair."""
        self.license_no = v.normalize_license_no(self.license_no or "") or None
        for field in ("name", "address", "contact_name", "email"):
            setattr(self, field, (getattr(self, field) or "").strip())
        self.office_phone = v.normalize_phone_text(self.office_phone or "")
        if self.contact_phone and v.is_mobile(self.contact_phone):
            self.contact_phone = v.normalize_mobile(self.contact_phone)
        else:
            self.contact_phone = v.normalize_phone_text(self.contact_phone)
        errors: dict[str, str] = {}
        if self.province and not regions.is_province(self.province):
            errors["province"] = _("请选择有效的省份")
        if self.city:
            if not self.province:
                errors["province"] = _("请先选择省份")
            elif not regions.city_in_province(self.city, self.province):
                errors["city"] = _("所选城市不属于该省份")
        if errors:
            raise ValidationError(errors)

    @property
    def never_opened(self) -> bool:
        """未开通: never switched on (as opposed to 关闭 after being open)."""
        return self.status == self.Status.NOT_OPENED

    @property
    def province_name(self) -> str:
        return regions.name(self.province)

    @property
    def city_name(self) -> str:
        return regions.name(self.city)

    @property
    def full_address(self) -> str:
        return "".join(
            part
            for part in (
                self.province_name,
                self.city_name if self.city_name != self.province_name else "",
                self.address,
            )
            if part
        )

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Package(models.Model):
    """套餐: the modules and limits a customer is entitled to. Activation and the free trial
    pick one; the registry publishes it so the business system enforces it. ``None`` limits
    mean 不限. A contract's 授权小区数 raises the community limit where it is larger."""

    name = models.CharField(
        _("套餐名称"),
        max_length=40,
        unique=True,
        error_messages={"unique": _("已有同名套餐")},
    )
    modules = models.JSONField(_("包含模块"), default=list)
    max_accounts = models.PositiveIntegerField(
        _("账号数上限"), null=True, blank=True, help_text=_("留空表示不限")
    )
    max_communities = models.PositiveIntegerField(
        _("小区数上限"),
        null=True,
        blank=True,
        help_text=_("留空表示不限；合同的授权小区数更大时以合同为准"),
    )
    is_active = models.BooleanField(
        _("可选用"), default=True, help_text=_("停用后不能再选用，已用此套餐的客户不受影响")
    )
    remarks = models.CharField(_("备注"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now)
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("套餐")
        verbose_name_plural = _("套餐")
        ordering = ["-is_active", "name"]
        default_permissions = ("view",)
        permissions = [("manage_package", _("管理套餐"))]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = (self.name or "").strip()
        self.remarks = (self.remarks or "").strip()


class ServiceReminder(models.Model):
    """到期提醒: one per customer, state, end date and threshold (days before the end), so a
    sweep run twice — or an end date that stays put — never warns twice. ``channels`` says
    how it reached the 负责人 (短信 …; empty: no channel applies), ``error`` why it did not;
    a failed reminder is tried again on the next sweeps, ``SERVICE_REMINDER_ATTEMPTS`` times
    in all."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("客户"), on_delete=models.CASCADE, related_name="reminders"
    )
    state = models.CharField(_("服务状态"), max_length=10, choices=ServiceState.choices)
    ends_on = models.DateField(_("截止日"))
    days_before = models.PositiveSmallIntegerField(_("提前天数"))
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("提醒对象"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    channels = models.CharField(_("送达方式"), max_length=100, blank=True)
    error = models.CharField(_("失败原因"), max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = fields.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("到期提醒")
        verbose_name_plural = _("到期提醒")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "state", "ends_on", "days_before"],
                name="service_reminder_once",
            )
        ]
        indexes = [models.Index(fields=["recipient", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.state} {self.ends_on} -{self.days_before}d"
