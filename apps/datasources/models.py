"""数据源 (spec table 4): one tenant database per customer, immutable once saved.

Only the implementation status (实施状态) moves after saving, one way:
未实施 → 实施中 → 已上线. The model itself refuses any other change — ``save()`` compares
with the stored row, and the queryset refuses ``update()`` / ``bulk_update()`` of other
fields — so no path (service, API, admin, shell) can edit a configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core import crypto, fields
from apps.core.errors import Conflict, ErrorCode

from .validators import USERNAME_MAX, validate_host, validate_username

# The only fields that may change after a data source is saved.
MUTABLE_FIELDS = frozenset({"impl_status", "updated_at"})
MAX_POOL = 10000

_positive = MinValueValidator(1, message=_("必须是大于 0 的整数"))
_pool_cap = MaxValueValidator(MAX_POOL, message=_("不能超过 %(limit_value)s"))


class ImmutableDataSource(Conflict):
    code = ErrorCode.DATASOURCE_IMMUTABLE
    default_message = "数据源保存后不可修改"


class DataSourceQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        _refuse_immutable(kwargs)
        return super().update(**kwargs)

    def bulk_update(self, objs: Iterable[models.Model], fields: Iterable[str], **kwargs: Any):
        fields = list(fields)
        _refuse_immutable(fields)
        return super().bulk_update(objs, fields, **kwargs)

    def delete(self):
        if self.exclude(impl_status=DataSource.ImplStatus.NOT_STARTED).exists():
            raise Conflict(
                gettext("只有「未实施」的数据源可以删除"), code=ErrorCode.DATASOURCE_IN_USE
            )
        return super().delete()

    def reencrypt(self, pk: int, token: str) -> int:
        """Store the same password encrypted under another key (key rotation only: the
        secret does not change, only its ciphertext)."""
        return models.QuerySet.update(self.filter(pk=pk), password_encrypted=token)


def _field_labels(names: Iterable[str]) -> str:
    labels = []
    for name in names:
        try:
            labels.append(str(DataSource._meta.get_field(name).verbose_name))
        except Exception:
            labels.append(name)
    return "、".join(labels)


def _refuse_immutable(names: Iterable[str]) -> None:
    bad = [n for n in names if n not in MUTABLE_FIELDS]
    if bad:
        raise ImmutableDataSource(
            gettext("数据源保存后不可修改：%(f)s") % {"f": _field_labels(bad)},
            fields={n: [gettext("保存后不可修改")] for n in bad},
        )


class DataSource(models.Model):
    class DbType(models.TextChoices):
        MYSQL = "mysql", _("MySQL（含 MariaDB）")
        POSTGRESQL = "postgresql", _("PostgreSQL")

    class ImplStatus(models.IntegerChoices):
        NOT_STARTED = 0, _("未实施")
        IN_PROGRESS = 1, _("实施中")
        ONLINE = 2, _("已上线")

    AUDIT_REDACT = ("password_encrypted",)

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="datasource",
    )
    name = models.CharField(_("数据源名称"), max_length=64, unique=True)
    database = models.CharField(_("数据库名称"), max_length=63, unique=True)
    db_type = models.CharField(
        _("数据源类型"), max_length=16, choices=DbType.choices, default=DbType.MYSQL
    )
    host = models.CharField(_("数据库地址"), max_length=253, validators=[validate_host])
    port = models.PositiveIntegerField(
        _("端口"),
        validators=[
            MinValueValidator(1, message=_("端口应在 1–65535 之间")),
            MaxValueValidator(65535, message=_("端口应在 1–65535 之间")),
        ],
    )
    username = models.CharField(_("账号"), max_length=USERNAME_MAX, validators=[validate_username])
    password_encrypted = models.TextField(_("密码"), editable=False)
    max_connections = models.PositiveIntegerField(
        _("最大连接数"), validators=[_positive, _pool_cap]
    )
    min_connections = models.PositiveIntegerField(
        _("最小连接数"), validators=[_positive, _pool_cap]
    )
    remarks = models.TextField(_("备注"), blank=True, max_length=500)
    impl_status = models.SmallIntegerField(
        _("实施状态"), choices=ImplStatus.choices, default=ImplStatus.NOT_STARTED, db_index=True
    )
    database_created = models.BooleanField(_("数据库由平台创建"), default=False)
    # 代次: 1 when first configured; a relocation or credential rotation replaces the row
    # with the next generation (the old one is kept as a RetiredDataSource).
    generation = models.PositiveSmallIntegerField(_("代次"), default=1)
    server_version = models.CharField(_("服务器版本"), max_length=100, blank=True)
    configured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("配置人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    configured_at = fields.DateTimeField(_("配置时间"), default=timezone.now)
    updated_at = fields.DateTimeField(_("更新时间"), auto_now=True)

    objects = DataSourceQuerySet.as_manager()

    class Meta:
        verbose_name = _("数据源")
        verbose_name_plural = _("数据源")
        ordering = ["-configured_at", "-id"]
        default_permissions = ()
        permissions = [
            ("manage_datasource", _("配置与管理数据源")),
            ("view_datasource", _("查看数据源状态")),
        ]
        indexes = [models.Index(fields=["host", "port"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            self._refuse_changes(kwargs.get("update_fields"))
        super().save(*args, **kwargs)

    def _refuse_changes(self, update_fields: Iterable[str] | None) -> None:
        if update_fields is not None:
            _refuse_immutable(update_fields)
            return
        fixed = [f for f in self._meta.concrete_fields if f.name not in MUTABLE_FIELDS]
        stored = (
            type(self)._base_manager.filter(pk=self.pk).values(*[f.attname for f in fixed]).first()
        )
        if stored is None:  # not saved yet (explicit pk): an insert
            return
        changed = [
            f.name
            for f in fixed
            if f.to_python(getattr(self, f.attname)) != f.to_python(stored[f.attname])
        ]
        _refuse_immutable(changed)

    def delete(self, *args: Any, **kwargs: Any):
        if not self.deletable:
            raise Conflict(
                gettext("只有「未实施」的数据源可以删除"), code=ErrorCode.DATASOURCE_IN_USE
            )
        return super().delete(*args, **kwargs)

    # --- secret -------------------------------------------------------------------------
    def set_password(self, raw: str) -> None:
        self.password_encrypted = crypto.encrypt(raw)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)

    # --- rules --------------------------------------------------------------------------
    def clean(self) -> None:
        self.host = (self.host or "").strip().lower()
        self.username = (self.username or "").strip()
        self.remarks = (self.remarks or "").strip()
        if (
            self.min_connections is not None
            and self.max_connections is not None
            and self.min_connections > self.max_connections
        ):
            raise ValidationError(
                {"min_connections": gettext("最小连接数不能大于最大连接数")}, code="min_gt_max"
            )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def deletable(self) -> bool:
        return self.impl_status == self.ImplStatus.NOT_STARTED


class ProvisioningRun(models.Model):
    """One attempt to configure a data source: the recorded pipeline steps
    (检测连接 → 创建数据库 → 初始化表结构 → 验证建表权限 → 保存配置), who ran it, and
    why it failed. Kept for failures too (nothing else is saved then)."""

    input_guard = False  # written by the platform from trusted values

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("成功")
        FAILED = "failed", _("失败")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="datasource_runs",
    )
    datasource = models.ForeignKey(
        DataSource,
        verbose_name=_("数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    name = models.CharField(_("数据源名称"), max_length=64)
    database = models.CharField(_("数据库名称"), max_length=63)
    db_type = models.CharField(_("数据源类型"), max_length=16, choices=DataSource.DbType.choices)
    host = models.CharField(_("数据库地址"), max_length=253)
    port = models.PositiveIntegerField(_("端口"))
    username = models.CharField(_("账号"), max_length=USERNAME_MAX)
    status = models.CharField(
        _("结果"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    failed_step = models.CharField(_("失败步骤"), max_length=32, blank=True)
    message = models.CharField(_("说明"), max_length=1000, blank=True)
    # [{"code", "label", "status": ok|failed|skipped, "message", "ms"}]
    steps = models.JSONField(_("步骤"), default=list, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = fields.DateTimeField(_("开始时间"), default=timezone.now)
    finished_at = fields.DateTimeField(_("结束时间"), null=True, blank=True)
    # What a worker needs to run a queued run without the request: the rest of the input,
    # and the password encrypted like a data source's — never in the task's arguments.
    # The secret is erased when the run succeeds or its leftovers are cleaned up.
    max_connections = models.PositiveIntegerField(_("最大连接数"), null=True, blank=True)
    min_connections = models.PositiveIntegerField(_("最小连接数"), null=True, blank=True)
    remarks = models.TextField(_("备注"), max_length=500, blank=True)
    secret_encrypted = models.TextField(_("密码"), blank=True, editable=False)
    progress_at = fields.DateTimeField(_("最近进展"), null=True, blank=True)
    # What this run has created on the tenant server and not yet removed, written before
    # the step that creates it: {"database": true} (it created the database) or
    # {"objects_before": [[name, kind], ...]} (it is creating tables in an existing empty
    # database that held these). Empty when nothing of the run is left there. 重试 resumes
    # from it; 清理 removes it.
    footprint = models.JSONField(_("遗留内容"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("执行次数"), default=1)
    cleaned_at = fields.DateTimeField(_("清理时间"), null=True, blank=True)

    AUDIT_REDACT = ("secret_encrypted",)

    class Meta:
        verbose_name = _("数据源配置记录")
        verbose_name_plural = _("数据源配置记录")
        ordering = ["-started_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.name} {self.get_status_display()}"

    @property
    def duration_ms(self) -> int | None:
        if not self.finished_at:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def holds_secret(self) -> bool:
        """Whether the run still keeps the password (lists annotate ``has_secret`` and
        never load the secret itself)."""
        annotated = self.__dict__.get("has_secret")
        return bool(self.secret_encrypted) if annotated is None else bool(annotated)

    @property
    def retryable(self) -> bool:
        """A failed run that kept its input (the password) can run again."""
        return self.status == self.Status.FAILED and self.holds_secret

    @property
    def cleanable(self) -> bool:
        """A failed run that still holds a secret or left something on the server."""
        return self.status == self.Status.FAILED and (self.holds_secret or bool(self.footprint))


class TenantSchema(models.Model):
    """What the platform last saw of a tenant database's schema: the version it records,
    any drift, and when it was read. Observed state, refreshed by a probe task and by every
    migration, so kept beside the immutable data source rather than on it."""

    input_guard = False  # written by the platform from what it read

    datasource = models.OneToOneField(
        DataSource,
        verbose_name=_("数据源"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="schema",
    )
    version = models.CharField(_("表结构版本"), max_length=32, blank=True)
    # One message per line; empty when the tenant's checksums match the files.
    drift = models.TextField(_("版本漂移"), blank=True)
    adopted = models.BooleanField(_("已纳入版本管理"), default=True)
    error = models.CharField(_("最近一次检查的错误"), max_length=500, blank=True)
    checked_at = fields.DateTimeField(_("检查时间"), null=True, blank=True)
    changed_at = fields.DateTimeField(_("版本变化时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("租户库表结构")
        verbose_name_plural = _("租户库表结构")
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.datasource_id} {self.version}"

    @property
    def drift_lines(self) -> list[str]:
        return [line for line in self.drift.splitlines() if line]


class DataSourceTombstone(models.Model):
    """What remains of a deleted data source: its names (never reused) and who deleted it."""

    input_guard = False  # written by the platform from trusted values

    name = models.CharField(_("数据源名称"), max_length=64, unique=True)
    database = models.CharField(_("数据库名称"), max_length=63, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="datasource_tombstones",
    )
    datasource_id = models.BigIntegerField(_("原数据源编号"))
    db_type = models.CharField(_("数据源类型"), max_length=16, choices=DataSource.DbType.choices)
    host = models.CharField(_("数据库地址"), max_length=253)
    port = models.PositiveIntegerField(_("端口"))
    username = models.CharField(_("账号"), max_length=USERNAME_MAX)
    configured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("配置人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    configured_at = fields.DateTimeField(_("配置时间"))
    database_dropped = models.BooleanField(_("已删除租户数据库"), default=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("删除人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    deleted_at = fields.DateTimeField(_("删除时间"), default=timezone.now)

    class Meta:
        verbose_name = _("已删除的数据源")
        verbose_name_plural = _("已删除的数据源")
        ordering = ["-deleted_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return self.name


class Rollout(models.Model):
    """租户库升级: bringing tenant databases to ``target_version`` — a canary set first
    (wave 0), then waves, per-server parallelism capped by each server's connection
    budget. The tenants and what happened to each are its ``tenants``."""

    input_guard = False  # written by the platform

    class Status(models.TextChoices):
        RUNNING = "running", _("进行中")
        PAUSED = "paused", _("已暂停")
        FINISHED = "finished", _("已结束")

    target_version = models.CharField(_("目标版本"), max_length=32)
    include_online = models.BooleanField(_("包含已上线租户"), default=False)
    canary_size = models.PositiveIntegerField(_("金丝雀数量"), default=2)
    wave_size = models.PositiveIntegerField(_("每批数量"), default=50)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    message = models.CharField(_("说明"), max_length=500, blank=True)
    # A failed canary pauses the rollout; a person who resumes it anyway accepts it.
    canary_accepted = models.BooleanField(_("确认金丝雀失败后继续"), default=False)
    # {"host:port": cap} — how many tenants of each server may migrate at once.
    server_caps = models.JSONField(_("每台服务器并发上限"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发起人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = fields.DateTimeField(_("发起时间"), default=timezone.now)
    finished_at = fields.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("租户库升级")
        verbose_name_plural = _("租户库升级")
        ordering = ["-created_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"→ {self.target_version} {self.get_status_display()}"


class RolloutTenant(models.Model):
    """One tenant database in a rollout: its wave (0 = canary), the versions it went
    from and to, each migration applied with its time, and why it failed or was skipped."""

    input_guard = False  # written by the platform

    class Status(models.TextChoices):
        PENDING = "pending", _("等待")
        QUEUED = "queued", _("已领取")  # taken by a worker, next in its line
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("成功")
        FAILED = "failed", _("失败")
        SKIPPED = "skipped", _("跳过")

    DONE = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

    rollout = models.ForeignKey(
        Rollout, verbose_name=_("升级"), on_delete=models.CASCADE, related_name="tenants"
    )
    datasource = models.ForeignKey(
        DataSource,
        verbose_name=_("数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField(_("数据源名称"), max_length=64)
    db_type = models.CharField(_("数据源类型"), max_length=16, choices=DataSource.DbType.choices)
    server = models.CharField(_("数据库服务器"), max_length=270)  # host:port, normalised
    online = models.BooleanField(_("已上线"), default=False)
    wave = models.PositiveIntegerField(_("批次"), default=1)  # 0: the canary
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    from_version = models.CharField(_("原版本"), max_length=32, blank=True)
    to_version = models.CharField(_("升级后版本"), max_length=32, blank=True)
    # [{"version", "name", "status": ok|failed, "ms", "message"}]
    steps = models.JSONField(_("步骤"), default=list, blank=True)
    message = models.CharField(_("说明"), max_length=1000, blank=True)
    attempts = models.PositiveSmallIntegerField(_("执行次数"), default=0)
    started_at = fields.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = fields.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("租户库升级明细")
        verbose_name_plural = _("租户库升级明细")
        ordering = ["wave", "id"]
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["rollout", "datasource"], name="rollout_tenant_once")
        ]
        indexes = [models.Index(fields=["rollout", "status", "wave"])]

    def __str__(self) -> str:
        return f"{self.name} {self.get_status_display()}"

    @property
    def duration_ms(self) -> int | None:
        if not (self.started_at and self.finished_at):
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class TableClearing(models.Model):
    """清空数据表: business tables of a tenant in 实施中 emptied on request, their rows kept
    in backup tables on the tenant's server until ``expires_at`` (恢复 puts them back).
    ``tables``: [{"table", "rows" (when requested), "backup", "cleared"}]."""

    input_guard = False  # written by the platform from checked input

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("清空中")
        CLEARED = "cleared", _("已清空")
        FAILED = "failed", _("失败")
        RESTORE_QUEUED = "restore_queued", _("等待恢复")
        RESTORING = "restoring", _("恢复中")
        RESTORED = "restored", _("已恢复")
        EXPIRED = "expired", _("备份已过期删除")

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.RESTORE_QUEUED, Status.RESTORING)

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="table_clearings",
    )
    datasource = models.ForeignKey(
        DataSource,
        verbose_name=_("数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clearings",
    )
    name = models.CharField(_("数据源名称"), max_length=64)
    tables = models.JSONField(_("数据表"), default=list)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    message = models.CharField(_("说明"), max_length=1000, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = fields.DateTimeField(_("申请时间"), default=timezone.now)
    progress_at = fields.DateTimeField(_("最近进展"), null=True, blank=True)
    cleared_at = fields.DateTimeField(_("清空时间"), null=True, blank=True)
    expires_at = fields.DateTimeField(_("备份保留至"), null=True, blank=True)
    restored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("恢复人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    restored_at = fields.DateTimeField(_("恢复时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("清空数据表记录")
        verbose_name_plural = _("清空数据表记录")
        ordering = ["-started_at", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.name} {self.get_status_display()}"

    @property
    def labels(self) -> list[str]:
        return [t["table"] for t in self.tables]

    @property
    def backups(self) -> dict[str, str]:
        return {t["table"]: t["backup"] for t in self.tables}

    @property
    def total_rows(self) -> int:
        return sum(int(t.get("cleared", t.get("rows", 0)) or 0) for t in self.tables)

    def restorable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.CLEARED and bool(
            self.expires_at and now < self.expires_at
        )


class RetiredDataSource(models.Model):
    """An earlier generation of a tenant's data source, replaced by a relocation (迁移) or
    a credential rotation: what it was, why and when it was replaced, and whether its
    database (or account) has been removed. Its password is kept, encrypted, until then —
    to probe the old database before removal — and erased after."""

    input_guard = False  # written by the platform from the row it replaces

    class Reason(models.TextChoices):
        RELOCATION = "relocation", _("迁移数据源")
        ROTATION = "rotation", _("轮换账号")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="retired_datasources",
    )
    datasource_id = models.BigIntegerField(_("原数据源编号"))
    generation = models.PositiveSmallIntegerField(_("代次"))
    name = models.CharField(_("数据源名称"), max_length=64, unique=True)
    database = models.CharField(_("数据库名称"), max_length=63)
    db_type = models.CharField(_("数据源类型"), max_length=16, choices=DataSource.DbType.choices)
    host = models.CharField(_("数据库地址"), max_length=253)
    port = models.PositiveIntegerField(_("端口"))
    username = models.CharField(_("账号"), max_length=USERNAME_MAX)
    password_encrypted = models.TextField(_("密码"), blank=True, editable=False)
    max_connections = models.PositiveIntegerField(_("最大连接数"))
    min_connections = models.PositiveIntegerField(_("最小连接数"))
    impl_status = models.SmallIntegerField(_("实施状态"), choices=DataSource.ImplStatus.choices)
    database_created = models.BooleanField(_("数据库由平台创建"), default=False)
    configured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("配置人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    configured_at = fields.DateTimeField(_("配置时间"))
    reason = models.CharField(_("替换原因"), max_length=16, choices=Reason.choices)
    replaced_by = models.ForeignKey(
        DataSource,
        verbose_name=_("替换为"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    replaced_by_name = models.CharField(_("新数据源名称"), max_length=64)
    retired_at = fields.DateTimeField(_("替换时间"), default=timezone.now)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # {table: "count:digest"} of the old database when it was replaced: removal probes it
    # again and refuses if anything was written since.
    checksums = models.JSONField(_("替换时的校验和"), default=dict, blank=True)
    read_only = models.BooleanField(_("已设为只读"), default=False)
    removed_at = fields.DateTimeField(_("删除时间"), null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("删除人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    removal_note = models.CharField(_("删除说明"), max_length=500, blank=True)

    AUDIT_REDACT = ("password_encrypted",)

    class Meta:
        verbose_name = _("历代数据源")
        verbose_name_plural = _("历代数据源")
        ordering = ["-retired_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def removable(self) -> bool:
        return self.removed_at is None


class Relocation(models.Model):
    """迁移数据源: moving a tenant to another server — checked, provisioned at the tenant's
    schema version, copied table by table, verified, switched in one step. Until the
    switch the tenant is served from its current database, unchanged.
    ``tables``: [{"table", "rows", "copied", "checksum"}]."""

    input_guard = False  # written by the platform from checked input

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SUCCEEDED = "succeeded", _("已切换")
        FAILED = "failed", _("失败")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="relocations",
    )
    source = models.ForeignKey(
        DataSource,
        verbose_name=_("原数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source_name = models.CharField(_("原数据源名称"), max_length=64)
    name = models.CharField(_("新数据源名称"), max_length=64)
    database = models.CharField(_("新数据库名称"), max_length=63)
    db_type = models.CharField(_("数据源类型"), max_length=16, choices=DataSource.DbType.choices)
    host = models.CharField(_("数据库地址"), max_length=253)
    port = models.PositiveIntegerField(_("端口"))
    username = models.CharField(_("账号"), max_length=USERNAME_MAX)
    max_connections = models.PositiveIntegerField(_("最大连接数"))
    min_connections = models.PositiveIntegerField(_("最小连接数"))
    remarks = models.TextField(_("备注"), max_length=500, blank=True)
    secret_encrypted = models.TextField(_("密码"), blank=True, editable=False)
    version = models.CharField(_("表结构版本"), max_length=32, blank=True)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # [{"code", "label", "status", "message", "ms"}], as a provisioning run's
    steps = models.JSONField(_("步骤"), default=list, blank=True)
    tables = models.JSONField(_("数据表"), default=list, blank=True)
    failed_step = models.CharField(_("失败步骤"), max_length=32, blank=True)
    message = models.CharField(_("说明"), max_length=1000, blank=True)
    datasource = models.ForeignKey(
        DataSource,
        verbose_name=_("新数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = fields.DateTimeField(_("开始时间"), default=timezone.now)
    progress_at = fields.DateTimeField(_("最近进展"), null=True, blank=True)
    finished_at = fields.DateTimeField(_("结束时间"), null=True, blank=True)
    copied_rows = models.BigIntegerField(_("已复制行数"), default=0)
    copy_ms = models.PositiveIntegerField(_("复制耗时（毫秒）"), null=True, blank=True)

    AUDIT_REDACT = ("secret_encrypted",)

    class Meta:
        verbose_name = _("迁移数据源记录")
        verbose_name_plural = _("迁移数据源记录")
        ordering = ["-started_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.source_name} → {self.name} {self.get_status_display()}"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def total_rows(self) -> int:
        return sum(int(t.get("rows") or 0) for t in self.tables)

    @property
    def percent(self) -> int:
        total = self.total_rows
        if not total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, int(self.copied_rows * 100 / total))


class CredentialRotation(models.Model):
    """轮换账号: a tenant's database account replaced without downtime — a new account
    (same grants, a generated password) created with a DBA's account, verified, served by
    the registry as the next generation; the old account keeps working until
    ``grace_until`` (the business system's cached copies expire), then is retired. The
    DBA's password is kept, encrypted, only until then."""

    input_guard = False  # written by the platform from checked input

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        SWITCHED = "switched", _("已切换，旧账号保留中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("客户"),
        on_delete=models.PROTECT,
        related_name="credential_rotations",
    )
    source = models.ForeignKey(
        DataSource,
        verbose_name=_("原数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source_name = models.CharField(_("原数据源名称"), max_length=64)
    name = models.CharField(_("新数据源名称"), max_length=64)
    old_username = models.CharField(_("旧账号"), max_length=USERNAME_MAX)
    new_username = models.CharField(_("新账号"), max_length=USERNAME_MAX)
    admin_username = models.CharField(_("管理账号"), max_length=USERNAME_MAX)
    admin_secret_encrypted = models.TextField(_("管理账号密码"), blank=True, editable=False)
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    steps = models.JSONField(_("步骤"), default=list, blank=True)
    failed_step = models.CharField(_("失败步骤"), max_length=32, blank=True)
    message = models.CharField(_("说明"), max_length=1000, blank=True)
    datasource = models.ForeignKey(
        DataSource,
        verbose_name=_("新数据源"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    grace_until = fields.DateTimeField(_("旧账号保留至"), null=True, blank=True)
    retired_note = models.CharField(_("旧账号处理"), max_length=500, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = fields.DateTimeField(_("开始时间"), default=timezone.now)
    progress_at = fields.DateTimeField(_("最近进展"), null=True, blank=True)
    finished_at = fields.DateTimeField(_("结束时间"), null=True, blank=True)

    AUDIT_REDACT = ("admin_secret_encrypted",)

    class Meta:
        verbose_name = _("轮换账号记录")
        verbose_name_plural = _("轮换账号记录")
        ordering = ["-started_at", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["status", "grace_until"])]

    def __str__(self) -> str:
        return f"{self.old_username} → {self.new_username} {self.get_status_display()}"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE
