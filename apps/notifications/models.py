"""Notifications where the team already works: 企业微信 and 钉钉 group robots.

A ``Robot`` is a group's webhook — a person's own, or a team's (its members). Every notice
the platform sends (``core.registry.notify``) to a person who has not turned that kind off
(``Preference``) becomes one ``Delivery`` per robot that person is on, sent by a worker with
retries; the action that caused it never waits for it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import crypto, fields


class Robot(models.Model):
    class Kind(models.TextChoices):
        WECOM = "wecom", _("企业微信群机器人")
        DINGTALK = "dingtalk", _("钉钉群机器人")

    AUDIT_REDACT = ("webhook_encrypted", "secret_encrypted")

    name = models.CharField(_("名称"), max_length=50)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    webhook_encrypted = models.TextField(_("Webhook 地址"), editable=False)
    secret_encrypted = models.TextField(_("加签密钥"), blank=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("个人机器人的主人"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("留空表示团队机器人，发给下面的成员"),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("成员"), blank=True, related_name="robots"
    )
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("群机器人")
        verbose_name_plural = _("群机器人")
        ordering = ["name", "id"]
        default_permissions = ()
        permissions = [("manage_robot", _("配置群机器人"))]

    def __str__(self) -> str:
        return self.name

    def set_webhook(self, url: str) -> None:
        self.webhook_encrypted = crypto.encrypt(url)

    def webhook(self) -> str:
        return crypto.decrypt(self.webhook_encrypted)

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret) if secret else ""

    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""


class Preference(models.Model):
    """A kind of notice a person turned off (every kind is on until turned off)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preferences"
    )
    kind = models.CharField(_("通知类型"), max_length=40)
    enabled = models.BooleanField(_("接收"), default=True)

    class Meta:
        verbose_name = _("通知设置")
        verbose_name_plural = _("通知设置")
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="preference_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.enabled}"


class Delivery(models.Model):
    """One message to one robot; retried with backoff until sent or out of attempts."""

    input_guard = False  # written by the platform

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("失败")

    robot = models.ForeignKey(Robot, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(_("通知类型"), max_length=40)
    text = models.TextField(_("内容"))
    status = models.CharField(
        _("状态"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    error = models.CharField(_("失败原因"), max_length=300, blank=True)
    next_attempt_at = fields.DateTimeField(_("下次尝试"), default=timezone.now)
    progress_at = fields.DateTimeField(_("最近进展"), null=True, blank=True)
    created_at = fields.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = fields.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知发送记录")
        verbose_name_plural = _("通知发送记录")
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.robot_id} {self.kind} {self.status}"
