from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import fields, regions
from apps.core import validators as v


class Channel(models.TextChoices):
    WEB = "web", _("网页")
    WECHAT = "wechat", _("微信")
    QR = "qr", _("二维码")
    OFFLINE = "offline", _("线下")


SELF_APPLIED = (Channel.WEB, Channel.WECHAT, Channel.QR)


def new_qr_code() -> str:
    return secrets.token_hex(4).upper()


class QrChannel(models.Model):
    """A QR code printed on posters: leads it brings carry its code and go to its owner."""

    code = models.CharField(_("渠道码"), max_length=32, unique=True, default=new_qr_code)
    name = models.CharField(_("名称"), max_length=100)
    campaign = models.CharField(_("活动"), max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("负责人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="qr_channels",
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("二维码渠道")
        verbose_name_plural = _("二维码渠道")
        ordering = ["-created_at", "-id"]
        permissions = [("manage_qrchannel", _("管理二维码渠道"))]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class Lead(models.Model):
    """客户申请 (spec table 1): one per phone, ever — a repeat application is recorded on
    the existing lead, so a phone can never have two open leads."""

    class Status(models.TextChoices):
        NEW = "new", _("待回访")
        FOLLOWING = "following", _("跟进中")
        INTERESTED = "interested", _("有意向")
        NOT_INTERESTED = "not_interested", _("无意向")
        CONVERTED = "converted", _("已转化")

    class LostReason(models.TextChoices):
        TOO_EXPENSIVE = "too_expensive", _("价格太高")
        HAS_SYSTEM = "has_system", _("已有系统")
        NOT_PROPERTY = "not_property", _("非物业公司")
        NO_NEED = "no_need", _("暂无需求")
        UNREACHABLE = "unreachable", _("多次联系不上")
        OTHER = "other", _("其他")

    OPEN_STATUSES = (Status.NEW, Status.FOLLOWING, Status.INTERESTED)

    name = models.CharField(_("姓名"), max_length=50)
    phone = models.CharField(
        _("电话"), max_length=20, unique=True, error_messages={"unique": _("该手机号已有申请")}
    )
    company = models.CharField(_("公司名"), max_length=100, blank=True, db_index=True)
    province = models.CharField(_("所在省份"), max_length=6, blank=True)
    registered_at = fields.DateTimeField(_("注册时间"), default=timezone.now, db_index=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices, db_index=True)
    channel_ref = models.CharField(_("渠道来源"), max_length=64, blank=True)
    qr_channel = models.ForeignKey(
        QrChannel,
        verbose_name=_("二维码渠道"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.NEW, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("负责人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
    )
    # Since when the current owner holds it (a lead not followed up for 公海规则's N days
    # since then, or since its last call-back, returns to the pool).
    owned_since = fields.DateTimeField(_("领取/分配时间"), null=True, blank=True)
    # Who last held it before it went back to the pool, and when (they wait D days before
    # claiming it again).
    released_from = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("原负责人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    released_at = fields.DateTimeField(_("退回公海时间"), null=True, blank=True)
    lost_reason = models.CharField(
        _("无意向原因"), max_length=20, choices=LostReason.choices, blank=True
    )
    lost_note = models.CharField(_("原因说明"), max_length=200, blank=True)
    next_follow_up_at = fields.DateTimeField(_("下次回访时间"), null=True, blank=True)
    last_follow_up_at = fields.DateTimeField(_("最近回访时间"), null=True, blank=True)
    follow_up_count = models.PositiveIntegerField(_("回访次数"), default=0)
    # When the owner (or the pool's managers) were last told it is overdue: a lead is
    # announced once per due moment (a later next_follow_up_at makes it due again).
    overdue_notified_at = fields.DateTimeField(_("逾期提醒时间"), null=True, blank=True)
    repeat_count = models.PositiveIntegerField(_("重复申请次数"), default=0)
    last_applied_at = fields.DateTimeField(_("最近申请时间"), null=True, blank=True)
    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("转化的客户"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead",
    )
    converted_at = fields.DateTimeField(_("转化时间"), null=True, blank=True)
    notes = models.TextField(_("备注"), blank=True, max_length=2000)
    source_ip = models.GenericIPAddressField(_("来源 IP"), null=True, blank=True)
    user_agent = models.CharField(_("浏览器"), max_length=200, blank=True)
    consented_at = fields.DateTimeField(
        _("同意隐私政策时间"),
        null=True,
        blank=True,
        help_text=_("申请人在报名页勾选同意《隐私政策》的时间（最近一次申请）"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("录入人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    AUDIT_EXCLUDE = ("user_agent", "overdue_notified_at", "owned_since")

    class Meta:
        verbose_name = _("客户申请")
        verbose_name_plural = _("客户申请")
        ordering = ["-registered_at", "-id"]
        permissions = [
            ("claim_lead", _("从公海领取线索")),
            ("assign_lead", _("分配线索")),
            ("convert_lead", _("线索转为客户")),
            ("export_lead", _("导出客户申请")),
            ("import_lead", _("导入客户申请")),
            ("merge_lead", _("合并重复的客户申请")),
        ]
        indexes = [
            models.Index(fields=["owner", "-registered_at"]),
            models.Index(fields=["status", "-registered_at"]),
            models.Index(fields=["status", "next_follow_up_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.masked_phone}"

    @property
    def masked_phone(self) -> str:
        return v.mask_phone(self.phone)

    @property
    def display_phone(self) -> str:
        return v.normalize_mobile(self.phone)

    @property
    def province_name(self) -> str:
        return regions.name(self.province)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_self_applied(self) -> bool:
        return self.channel in SELF_APPLIED


class FollowUp(models.Model):
    """回访: who, when, how, the result, notes and the next follow-up time."""

    class Method(models.TextChoices):
        PHONE = "phone", _("电话")
        WECHAT = "wechat", _("微信")
        VISIT = "visit", _("上门拜访")

    class Result(models.TextChoices):
        INTERESTED = "interested", _("有意向")
        CONSIDERING = "considering", _("考虑中")
        NOT_INTERESTED = "not_interested", _("无意向")
        NO_ANSWER = "no_answer", _("未接通")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="follow_ups")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("回访人"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    at = fields.DateTimeField(_("回访时间"), default=timezone.now)
    method = models.CharField(_("回访方式"), max_length=10, choices=Method.choices)
    result = models.CharField(_("回访结果"), max_length=16, choices=Result.choices)
    notes = models.TextField(_("回访记录"), blank=True, max_length=2000)
    next_follow_up_at = fields.DateTimeField(_("下次回访时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("回访记录")
        verbose_name_plural = _("回访记录")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.lead} {self.get_result_display()}"


class LeadClaim(models.Model):
    """One 领取 from the pool: counts a specialist's claims of the day (公海规则's J)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = fields.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "at"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.lead_id} {self.at:%Y-%m-%d %H:%M}"


class PoolPolicy(models.Model):
    """公海规则 (one row, edited by a manager): 0 switches a limit off."""

    recycle_days = models.PositiveSmallIntegerField(
        _("未回访自动退回公海（天）"),
        default=0,
        help_text=_("负责人领取或最近一次回访后超过这么多天未回访，退回公海；0 表示不退回"),
    )
    warn_days = models.PositiveSmallIntegerField(
        _("提前提醒（天）"),
        default=3,
        help_text=_("退回前这么多天起，在待办和客户申请页提醒负责人"),
    )
    hold_limit = models.PositiveIntegerField(
        _("每人最多持有（条）"),
        default=0,
        help_text=_("一名专员名下未结束的客户申请上限；0 表示不限"),
    )
    daily_claim_limit = models.PositiveIntegerField(
        _("每人每天最多领取（条）"), default=0, help_text=_("0 表示不限")
    )
    reclaim_wait_days = models.PositiveSmallIntegerField(
        _("原负责人再次领取需等待（天）"),
        default=0,
        help_text=_("退回公海后，原负责人这么多天内不能再领取；0 表示不限"),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("公海规则")
        verbose_name_plural = _("公海规则")
        permissions = [("manage_pool_rules", _("管理公海与分配规则"))]

    def __str__(self) -> str:
        return str(_("公海规则"))


class PlacementRule(models.Model):
    """分配规则: a new lead nobody owns, from this province and/or channel, goes to the next
    of the named specialists in turn (round-robin, skipping whoever is at the holding cap).
    Rules are tried in ``position`` order; the first that matches places the lead."""

    name = models.CharField(_("规则名称"), max_length=50)
    position = models.PositiveIntegerField(_("顺序"), default=0)
    province = models.CharField(
        _("省份"), max_length=6, blank=True, help_text=_("留空表示任何省份")
    )
    channel = models.CharField(
        _("渠道"),
        max_length=10,
        choices=Channel.choices,
        blank=True,
        help_text=_("留空表示任何渠道"),
    )
    specialists = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("轮流分配给"), related_name="+"
    )
    # The specialist who got the last lead: the next goes to the one after.
    last_placed = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("分配规则")
        verbose_name_plural = _("分配规则")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def province_name(self) -> str:
        return regions.name(self.province)
