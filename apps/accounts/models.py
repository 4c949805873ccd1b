from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device

from apps.core import fields


class User(AbstractUser):
    """A member of staff. Roles are groups (see ``roles.py``); scope follows permissions."""

    name = models.CharField(_("姓名"), max_length=50, blank=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    # Kept by apps/accounts/twofactor.py beside the devices, so that the login gate knows
    # without a query whether this member has a second factor.
    second_factor_enabled = models.BooleanField(_("已启用二次验证"), default=False)

    # first_name/last_name and is_staff are unused here (姓名 is ``name``; no Django admin).
    AUDIT_EXCLUDE = (
        "password",
        "last_login",
        "first_name",
        "last_name",
        "is_staff",
        "second_factor_enabled",  # its own audit rows say when it changes
    )

    class Meta:
        verbose_name = _("员工")
        verbose_name_plural = _("员工")
        permissions = [
            ("data_scope_all", _("查看全部负责人的数据")),
            ("manage_staff", _("管理员工账号与角色")),
            ("manage_api_tokens", _("签发与吊销 API 令牌")),
            ("requires_second_factor", _("须使用二次验证登录")),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.username

    @property
    def role_labels(self) -> list[str]:
        """The user's roles in Chinese for the top bar — leaving out a role the name already
        shows (「运营专员 王磊」 is not followed by 运营专员 again)."""
        from .roles import ROLES

        labels = [str(ROLES[g.name].label) for g in self.groups.all() if g.name in ROLES]
        return [label for label in labels if label not in self.display_name]


class ApiToken(models.Model):
    """A bearer token for machines. Only a SHA-256 of the secret is stored."""

    SCOPE_API = "api"
    SCOPE_REGISTRY = "registry"
    SCOPE_CHOICES = [
        (SCOPE_API, _("控制台 API（按所属账号的权限）")),
        (SCOPE_REGISTRY, _("租户注册表只读")),
    ]

    name = models.CharField(_("名称"), max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("所属账号"),
        on_delete=models.PROTECT,
        related_name="api_tokens",
    )
    prefix = models.CharField(_("前缀"), max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("权限范围"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = fields.DateTimeField(_("签发时间"), default=timezone.now)
    expires_at = fields.DateTimeField(_("过期时间"), null=True, blank=True)
    revoked_at = fields.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = fields.DateTimeField(_("最近使用"), null=True, blank=True)

    AUDIT_EXCLUDE = ("key_hash", "last_used_at")

    class Meta:
        verbose_name = _("API 令牌")
        verbose_name_plural = _("API 令牌")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def scope_labels(self) -> list[str]:
        labels = dict(self.SCOPE_CHOICES)
        return [str(labels.get(s, s)) for s in self.scopes or []]

    @property
    def is_active(self) -> bool:
        if self.revoked_at:
            return False
        return not (self.expires_at and self.expires_at <= timezone.now())


class RecoveryCodeDevice(Device):
    """A member's ten single-use recovery codes, as one django-otp device (so a recovery code
    verifies a session like an authenticator code). Only HMAC-SHA256 digests are stored."""

    input_guard = False  # written by the platform from trusted values

    class Meta(Device.Meta):
        verbose_name = _("恢复码")
        verbose_name_plural = _("恢复码")

    def verify_token(self, token: str) -> bool:
        from .twofactor import recovery_digest

        digest = recovery_digest(token)
        if not digest:
            return False
        # One UPDATE: a code is spent once, even by two requests at the same instant.
        spent = RecoveryCode.objects.filter(
            device=self, digest=digest, used_at__isnull=True
        ).update(used_at=timezone.now())
        return spent == 1

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()


class RecoveryCode(models.Model):
    input_guard = False  # written by the platform from trusted values

    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)
    used_at = fields.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("恢复码")
        verbose_name_plural = _("恢复码")
        indexes = [models.Index(fields=["device", "digest"])]

    def __str__(self) -> str:
        return f"恢复码 #{self.pk}"
