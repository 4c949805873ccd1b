"""Writes on tenant data sources (DESIGN §3.4). Every rule lives here; the console, the
API and commands call these functions.

- ``datasource_check`` — 检测连接, before saving; changes nothing, audited.
- ``datasource_configure`` — the provisioning pipeline 检测连接 → 创建数据库 → 初始化表结构 →
  验证建表权限 → 保存配置, recorded step by step in a ``ProvisioningRun``. Any failure removes
  what this run created on the tenant server and saves no data source.
- ``datasource_advance`` — 实施状态 one step forward (未实施 → 实施中 → 已上线), under a row lock.
- ``datasource_delete`` — only 未实施, only with the name typed, only when the tenant
  database holds no rows; the names stay reserved in a tombstone.
- ``datasource_probe`` — 检测数据: which tenant tables hold rows, communities online.
- ``registry_read_recorded`` — counts one tenant-registry read (读取汇总; no secret).

This module holds the input rules, the generated names and 检测连接; the pipeline lives in
``provisioning``, the one-way lifecycle, delete and probe in ``lifecycle``, the registry's
read audit in ``registry_reads`` — all reachable as ``services.<name>``.

Passwords are write-only: they go in through ``data["password"]`` and are stored
encrypted; no message, audit row, log line or step record contains them.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.core.errors import Conflict, ErrorCode, ValidationFailed, summarise
from apps.core.models import Sequence, next_value
from apps.core.permissions import require_perm
from apps.customers.models import Customer

from . import tenantdb
from .models import DataSource, DataSourceTombstone, ProvisioningRun, RetiredDataSource
from .selectors import MANAGE
from .tenantdb import PreflightReport
from .validators import validate_password

logger = logging.getLogger(__name__)

INPUT_FIELDS = (
    "host",
    "port",
    "db_type",
    "username",
    "password",
    "max_connections",
    "min_connections",
    "remarks",
)
INT_FIELDS = ("port", "max_connections", "min_connections")

STEP_LABELS = {
    "check": gettext_lazy("检测连接"),
    "create_database": gettext_lazy("创建数据库"),
    "apply_schema": gettext_lazy("初始化表结构"),
    "verify": gettext_lazy("验证建表权限"),
    "save": gettext_lazy("保存配置"),
    "cleanup": gettext_lazy("清理本次创建的内容"),
}
STEP_ORDER = ("check", "create_database", "apply_schema", "verify", "save")

# Which form fields a failed check points at (for the console and the API's "fields").
FINDING_FIELDS = {
    "auth_failed": ("username", "password"),
    "hba_rejected": ("username",),
    "timeout": ("host", "port"),
    "refused": ("host", "port"),
    "dns": ("host",),
    "not_mysql": ("port", "db_type"),
    "not_postgresql": ("port", "db_type"),
    "global_privileges": ("username",),
    "grant_option": ("username",),
    "system_schema": ("username",),
    "superuser": ("username",),
    "createrole": ("username",),
    "replication": ("username",),
    "predefined_roles": ("username",),
    "database_privileges": ("username",),
    "account_connection_limit": ("max_connections",),
    "connection_budget": ("max_connections",),
}


def field_labels() -> dict[str, str]:
    labels = {f.name: str(f.verbose_name) for f in DataSource._meta.concrete_fields}
    labels.update(
        {"password": _("密码"), "confirm_name": _("确认名称"), "to_status": _("实施状态")}
    )
    return labels


class ProvisioningFailed(ValidationFailed):
    """A step of the configure pipeline failed; nothing was saved."""

    code = ErrorCode.PROVISIONING_FAILED

    def __init__(
        self,
        message: str,
        *,
        step: str,
        run: ProvisioningRun,
        report: PreflightReport | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message, fields=fields)
        self.step = step
        self.run = run
        self.report = report


# --- input --------------------------------------------------------------------------------


def clean_input(data: dict[str, Any]) -> tuple[DataSource, str]:
    """Validate what devops typed. Returns an unsaved DataSource (no names, no customer)
    and the password; raises ValidationFailed naming every wrong field."""
    unknown = sorted(set(data) - set(INPUT_FIELDS))
    if unknown:
        raise ValidationFailed(
            _("不可填写的字段：%(f)s（数据源名称和数据库名称由系统生成）")
            % {"f": "、".join(unknown)},
            fields={n: [_("不可填写")] for n in unknown},
        )
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in INPUT_FIELDS:
        value = data.get(name)
        if name in INT_FIELDS:
            if value in (None, ""):
                errors[name] = [_("此项为必填项")]
                continue
            if isinstance(value, bool):
                errors[name] = [_("请输入整数")]
                continue
            try:
                value = int(str(value).strip())
            except (TypeError, ValueError):
                errors[name] = [_("请输入整数")]
                continue
            if value < 0:
                errors[name] = [_("必须是大于 0 的整数")]
                continue
        elif name != "password":
            value = "" if value is None else str(value).strip()
        values[name] = value
    password = data.get("password") or ""
    if not isinstance(password, str):
        password = ""
    values.pop("password", None)
    if not values.get("db_type"):
        values["db_type"] = DataSource.DbType.MYSQL
    ds = DataSource(**{k: v for k, v in values.items() if k not in errors})
    exclude = [
        "customer",
        "name",
        "database",
        "password_encrypted",
        "configured_by",
        "configured_at",
        *errors,
    ]
    try:
        ds.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    try:
        validate_password(password)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        order = {name: i for i, name in enumerate(INPUT_FIELDS)}
        ordered = dict(sorted(errors.items(), key=lambda kv: order.get(kv[0], 99)))
        raise ValidationFailed(summarise(ordered, field_labels()), fields=ordered)
    return ds, password


# --- names --------------------------------------------------------------------------------


def _sequence_name(customer: Customer) -> str:
    return f"datasource:{customer.enterprise_no}"


def names_for(customer: Customer, n: int) -> tuple[str, str]:
    """(数据源名称, 数据库名称) number ``n`` of a customer: ``DS-HGJ100001-1`` and
    ``hgj100001_1`` (prefix ``TENANT_DB_PREFIX``, then the enterprise number without its
    letter prefix)."""
    enterprise = customer.enterprise_no
    core = enterprise.lower()
    prefix = settings.ENTERPRISE_NO_PREFIX.lower()
    if prefix and core.startswith(prefix):
        core = core[len(prefix) :]
    core = "".join(c for c in core if c.isascii() and (c.isalnum() or c == "_"))
    database = f"{settings.TENANT_DB_PREFIX}{core}_{n}"
    if len(database) > 63:
        raise ValidationFailed(_("生成的数据库名称过长，请缩短 TENANT_DB_PREFIX"))
    return f"DS-{enterprise}-{n}", database


def _taken(name: str, database: str) -> bool:
    return (
        DataSource.objects.filter(name=name).exists()
        or DataSource.objects.filter(database=database).exists()
        or DataSourceTombstone.objects.filter(name=name).exists()
        or DataSourceTombstone.objects.filter(database=database).exists()
        or RetiredDataSource.objects.filter(name=name).exists()
        or RetiredDataSource.objects.filter(database=database).exists()
    )


def peek_names(customer: Customer) -> tuple[str, str]:
    """The names the next configure would most likely get (for 检测连接; allocates nothing)."""
    current = (
        Sequence.objects.filter(name=_sequence_name(customer))
        .values_list("value", flat=True)
        .first()
        or 0
    )
    n = current + 1
    while _taken(*names_for(customer, n)):
        n += 1
    return names_for(customer, n)


def allocate_names(customer: Customer) -> tuple[str, str]:
    """Allocate fresh names from the customer's counter. The counter never goes back and
    is committed at once, so a name is used by one attempt only — even a failed one."""
    with transaction.atomic():
        while True:
            names = names_for(customer, next_value(_sequence_name(customer)))
            if not _taken(*names):
                return names


# --- 检测连接 ------------------------------------------------------------------------------


def _ensure_none_configured(customer: Customer) -> None:
    existing = DataSource.objects.filter(customer_id=customer.pk).values_list("name", flat=True)
    name = existing.first()
    if name:
        raise Conflict(
            _("该客户已配置数据源 %(n)s；数据源保存后不可修改，如需更换请先删除") % {"n": name},
            code=ErrorCode.DATASOURCE_EXISTS,
        )


def datasource_check(*, actor, customer: Customer, data: dict[str, Any]) -> PreflightReport:
    """检测连接: validate the input and run the pre-flight checks against the server for
    the database name the customer would get. Saves nothing but the audit row."""
    require_perm(actor, MANAGE)
    ds, password = clean_input(data)
    _ensure_none_configured(customer)
    return check_target(actor=actor, customer=customer, ds=ds, password=password)


def check_target(*, actor, customer: Customer, ds: DataSource, password: str) -> PreflightReport:
    """The pre-flight checks of a (checked, unsaved) target for the database name the
    customer's next data source would get, audited — for 检测连接 and 迁移数据源 alike."""
    _name, database = peek_names(customer)
    report = tenantdb.preflight(
        ds.host,
        ds.port,
        ds.db_type,
        ds.username,
        password,
        database,
        ds.max_connections,
    )
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="datasource_check",
            obj=customer,
            message=_("检测连接 %(t)s %(u)s@%(a)s，数据库 %(d)s：%(r)s")
            % {
                "t": ds.get_db_type_display(),
                "u": ds.username,
                "a": ds.address,
                "d": database,
                "r": report.summary(),
            },
        )
    return report


# --- Moved by concern: provisioning, lifecycle, registry reads --------------------------------
# Callers keep using ``services.<name>``; the functions live in their own modules, loaded
# on first use (they import from this module, so they cannot be imported at its top).
_MOVED = {
    "datasource_configure": "provisioning",
    "datasource_queue": "provisioning",
    "datasource_retry": "provisioning",
    "datasource_cleanup": "provisioning",
    "datasource_advance": "lifecycle",
    "datasource_update": "lifecycle",
    "datasource_delete": "lifecycle",
    "datasource_probe": "lifecycle",
    "datasource_blocker": "lifecycle",
    "registry_read_recorded": "registry_reads",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def refuse_customer_merge(keep: Customer, drop: Customer) -> None:
    """A tenant database belongs to its 企业号: the customer merged away (``drop``) may have
    no data source and no data-source history (runs, clearings, moves, old databases)."""
    from .models import CredentialRotation, Relocation, TableClearing

    def has_any(customer: Customer) -> bool:
        return any(
            model.objects.filter(customer=customer).exists()
            for model in (
                DataSource,
                ProvisioningRun,
                DataSourceTombstone,
                TableClearing,
                RetiredDataSource,
                Relocation,
                CredentialRotation,
            )
        )

    if not has_any(drop):
        return
    if DataSource.objects.filter(customer=keep).exists():
        message = _("两个客户都已配置数据源，不能合并")
    else:
        message = _("「%(name)s」已配置数据源或有配置记录，请以它为保留的客户") % {
            "name": drop.name or drop.enterprise_no
        }
    raise Conflict(message, code=ErrorCode.MERGE_REFUSED)
