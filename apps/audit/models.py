from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import fields


class AuditLog(models.Model):
    """One change to a record: who, when, from where, what, and the field-by-field diff."""

    input_guard = False  # written by the platform from trusted values

    at = fields.DateTimeField(_("时间"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    ip = models.GenericIPAddressField(_("来源 IP"), null=True, blank=True)
    request_id = models.CharField(_("请求号"), max_length=64, blank=True)
    action = models.CharField(_("操作"), max_length=40)
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    changes = models.JSONField(_("变更"), default=dict, blank=True)
    message = models.CharField(_("说明"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("操作日志")
        verbose_name_plural = _("操作日志")
        ordering = ["-at", "-id"]
        # The 操作日志's filters, each an index range read newest first at ten million rows:
        # by object, by actor, by action, by object type (the date bounds the same ranges).
        indexes = [
            models.Index(fields=["content_type", "object_id", "-at"]),
            models.Index(fields=["actor", "-at", "-id"], name="audit_actor_at"),
            models.Index(fields=["action", "-at", "-id"], name="audit_action_at"),
            models.Index(fields=["content_type", "-at", "-id"], name="audit_type_at"),
            models.Index(fields=["-at", "-id"], name="audit_at_id"),
        ]
        permissions = [("view_scoped_auditlog", _("可查看权限范围内的业务操作日志"))]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"


class ReadTally(models.Model):
    """Frequent machine reads counted rather than logged one by one (a registry read is on
    the business system's hot path): per action, reader and object, how many reads, how
    many were answered 未变化 or 未找到, and the first and the last. Written in batches by
    ``apps.audit.tally``."""

    input_guard = False  # written by the platform from cleaned values

    action = models.CharField(_("操作"), max_length=40)
    source = models.CharField(_("来源"), max_length=60)  # "token:12"
    source_label = models.CharField(_("来源名称"), max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("账号"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # a tally outlives nothing; accounts are never deleted
        related_name="+",
    )
    object_key = models.CharField(_("对象"), max_length=60)  # 企业号, or "*" for a list
    object_repr = models.CharField(_("对象名称"), max_length=200, blank=True)
    count = models.BigIntegerField(_("读取次数"), default=0)
    unchanged = models.BigIntegerField(_("未变化次数"), default=0)
    missing = models.BigIntegerField(_("未找到次数"), default=0)
    first_at = fields.DateTimeField(_("首次读取"))
    last_at = fields.DateTimeField(_("最近读取"), db_index=True)

    class Meta:
        verbose_name = _("读取汇总")
        verbose_name_plural = _("读取汇总")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["action", "source", "object_key"], name="audit_read_tally_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_label or self.source} → {self.object_key}: {self.count}"


class HistoryAlias(models.Model):
    """A record merged into another: the rows about it (``object_id``) show in the history
    of the one that absorbed it (``alias_of``). Audit rows are never rewritten."""

    input_guard = False  # written by the platform from primary keys

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    alias_of = models.CharField(max_length=64)
    at = fields.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["content_type", "alias_of"])]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="audit_history_alias_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_id} → {self.alias_of}"
