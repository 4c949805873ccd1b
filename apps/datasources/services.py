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
- ``registry_read_recorded`` — the audit row of one tenant-registry read (no secret).

Passwords are write-only: they go in through ``data["password"]`` and are stored
encrypted; no message, audit row, log line or step record contains them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.core.errors import Conflict, DomainError, NotFound, ValidationFailed, summarise
from apps.core.models import Sequence, next_value
from apps.core.permissions import require_perm
from apps.customers.models import Customer
from apps.customers.services import Blocker

from . import tenantdb
from .models import DataSource, DataSourceTombstone, ProvisioningRun
from .selectors import MANAGE, normalise_host, pools_configured_on
from .tenantdb import PreflightReport, ProbeResult, TenantDBError
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
    "createdb": ("username",),
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

    code = "provisioning_failed"

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
            code="datasource_exists",
        )


def datasource_check(*, actor, customer: Customer, data: dict[str, Any]) -> PreflightReport:
    """检测连接: validate the input and run the pre-flight checks against the server for
    the database name the customer would get. Saves nothing but the audit row."""
    require_perm(actor, MANAGE)
    ds, password = clean_input(data)
    _ensure_none_configured(customer)
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


# --- 配置（provisioning） --------------------------------------------------------------------


class _StepFailed(Exception):
    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


@dataclass
class _Pipeline:
    run: ProvisioningRun
    current: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, code: str) -> Iterator[dict[str, Any]]:
        """Record one step; the body may set ``entry["message"]`` or
        ``entry["status"] = "skipped"``."""
        self.current = code
        entry: dict[str, Any] = {
            "code": code,
            "label": str(STEP_LABELS[code]),
            "status": "ok",
            "message": "",
        }
        started = time.monotonic()
        try:
            yield entry
        except BaseException as exc:
            entry["status"] = "failed"
            entry["message"] = _failure_message(exc)
            raise
        finally:
            entry["ms"] = int((time.monotonic() - started) * 1000)
            self.steps.append(entry)
            self.run.steps = self.steps
            ProvisioningRun.objects.filter(pk=self.run.pk).update(steps=self.steps)


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, _StepFailed | TenantDBError):
        return exc.message
    if isinstance(exc, DomainError):
        return exc.message
    return _("内部错误（%(e)s），请联系管理员") % {"e": type(exc).__name__}


def _statements(db_type: str) -> list[tuple[str, int, str]]:
    statements = []
    for path in tenantdb.baseline_files(db_type):
        for number, sql in enumerate(tenantdb.split_sql(path.read_text(encoding="utf-8")), 1):
            statements.append((path.name, number, sql))
    return statements


def _host_lock(host: str, port: int) -> None:
    """Serialise saves on one database server (the connection budget is a per-server
    sum): bump a per-server counter row, which holds its row lock until commit."""
    digest = hashlib.sha1(f"{normalise_host(host)}:{port}".encode(), usedforsecurity=False)
    next_value(f"pool:{digest.hexdigest()}")


def datasource_configure(*, actor, customer: Customer, data: dict[str, Any]) -> DataSource:
    """Provision and save the customer's data source, or fail leaving nothing behind.

    Raises ValidationFailed (input), Conflict (already configured; 409) or
    ProvisioningFailed (a step failed; ``.step``, ``.run`` and ``.report`` tell which and
    why)."""
    require_perm(actor, MANAGE)
    ds, password = clean_input(data)
    _ensure_none_configured(customer)
    name, database = allocate_names(customer)
    run = ProvisioningRun.objects.create(
        customer=customer,
        name=name,
        database=database,
        db_type=ds.db_type,
        host=ds.host,
        port=ds.port,
        username=ds.username,
        started_by=actor,
    )
    pipeline = _Pipeline(run)
    target = tenantdb.Target(ds.db_type, ds.host, ds.port, ds.username, password, database)
    report: PreflightReport | None = None
    created_database = False
    created_objects_before: list[tuple[str, str]] | None = None
    with tenantdb.connector_for(target) as connector:
        try:
            with pipeline.step("check") as entry:
                report = tenantdb.check_with(connector, max_pool=ds.max_connections)
                entry["message"] = report.summary()
                if not report.ok:
                    raise _StepFailed(report.summary(), _fields_for(report))

            with pipeline.step("create_database") as entry:
                if report.database_exists:
                    entry["status"] = "skipped"
                    entry["message"] = _("数据库 %(d)s 已存在且为空，直接使用") % {"d": database}
                else:
                    if isinstance(connector, tenantdb.PostgresConnector):
                        utf8 = report.charset.upper().replace("-", "") == "UTF8"
                        connector.create_database(database, template0=not utf8)
                    else:
                        connector.create_database(database)
                    created_database = True
                    entry["message"] = _("已创建数据库 %(d)s（%(c)s）") % {
                        "d": database,
                        "c": "utf8mb4" if ds.db_type == tenantdb.MYSQL else "UTF8",
                    }

            with pipeline.step("apply_schema") as entry:
                statements = _statements(ds.db_type)
                if not statements:
                    entry["status"] = "skipped"
                    entry["message"] = _("未配置基线表结构")
                else:
                    if not created_database:
                        created_objects_before = connector.objects(database)
                    connector.run_script(database, statements)
                    files = len({f for f, _n, _s in statements})
                    entry["message"] = _("已执行 %(f)d 个文件、%(s)d 条语句") % {
                        "f": files,
                        "s": len(statements),
                    }

            with pipeline.step("verify") as entry:
                connector.verify(database)
                entry["message"] = _("账号可以在 %(d)s 中建表、写入和删除表") % {"d": database}

            with pipeline.step("save") as entry:
                datasource = _save(
                    actor=actor,
                    customer=customer,
                    ds=ds,
                    password=password,
                    name=name,
                    database=database,
                    report=report,
                    created_database=created_database,
                )
                entry["message"] = _("已保存数据源 %(n)s") % {"n": name}
        except BaseException as exc:
            # A fresh connection: the failed one may be broken, and PostgreSQL cannot drop
            # a database while it is connected to it.
            connector.close()
            _cleanup(
                pipeline,
                target,
                database=database,
                created_database=created_database,
                objects_before=created_objects_before,
            )
            _finish_failed(pipeline, actor=actor, customer=customer, exc=exc)
            if isinstance(exc, _StepFailed | TenantDBError):
                raise _as_provisioning_failed(pipeline, exc, report) from None
            raise

    ProvisioningRun.objects.filter(pk=run.pk).update(
        status=ProvisioningRun.Status.SUCCEEDED,
        finished_at=timezone.now(),
        message=_("配置完成"),
        datasource=datasource,
        steps=pipeline.steps,
    )
    logger.info("数据源 %s 已配置（%s %s）", name, ds.get_db_type_display(), ds.address)
    return datasource


def _fields_for(report: PreflightReport) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for finding in report.errors:
        for name in FINDING_FIELDS.get(finding.code, ("__all__",)):
            fields.setdefault(name, []).append(finding.message)
    return fields


def _save(
    *,
    actor,
    customer: Customer,
    ds: DataSource,
    password: str,
    name: str,
    database: str,
    report: PreflightReport,
    created_database: bool,
) -> DataSource:
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        _ensure_none_configured(customer)
        _host_lock(ds.host, ds.port)
        used = pools_configured_on(ds.host, ds.port)
        budget = report.server_max_connections or 0
        if used + ds.max_connections > budget:
            raise _StepFailed(
                _("连接数超出预算：服务器可用 %(s)d，已配置 %(c)d，加上本数据源 %(m)d 共 %(t)d")
                % {"s": budget, "c": used, "m": ds.max_connections, "t": used + ds.max_connections},
                {"max_connections": [_("超出该服务器的连接数预算")]},
            )
        ds.customer = customer
        ds.name = name
        ds.database = database
        ds.set_password(password)
        ds.database_created = created_database
        ds.server_version = report.server_version[:100]
        ds.configured_by = actor
        ds.configured_at = timezone.now()
        ds.save()
        audit.record(
            actor=actor,
            action="datasource_configure",
            obj=ds,
            after=audit.snapshot(ds),
            message=_("配置数据源 %(n)s：%(t)s %(a)s，数据库 %(d)s")
            % {"n": name, "t": ds.get_db_type_display(), "a": ds.address, "d": database},
        )
    return ds


def _cleanup(
    pipeline: _Pipeline,
    target: tenantdb.Target,
    *,
    database: str,
    created_database: bool,
    objects_before: list[tuple[str, str]] | None,
) -> None:
    """Remove what this run created on the tenant server, and only that."""
    if not created_database and objects_before is None:
        return
    try:
        with pipeline.step("cleanup") as entry, tenantdb.connector_for(target) as connector:
            if created_database:
                connector.drop_database(database)
                entry["message"] = _("已删除本次创建的数据库 %(d)s") % {"d": database}
            else:
                before = set(objects_before or [])
                new = [o for o in connector.objects(database) if o not in before]
                connector.drop_objects(database, new)
                entry["message"] = _("已删除本次创建的 %(n)d 张表/视图") % {"n": len(new)}
    except Exception as exc:
        logger.warning("数据源配置失败后清理 %s 未完成：%s", database, _failure_message(exc))


def _finish_failed(pipeline: _Pipeline, *, actor, customer: Customer, exc: BaseException) -> None:
    failed = next(
        (s for s in pipeline.steps if s["status"] == "failed" and s["code"] != "cleanup"), None
    )
    step = failed["code"] if failed else pipeline.current
    cause = failed["message"] if failed else _failure_message(exc)
    cleanup = next((s for s in pipeline.steps if s["code"] == "cleanup"), None)
    message = _("第 %(i)d 步「%(s)s」失败：%(c)s") % {
        "i": STEP_ORDER.index(step) + 1 if step in STEP_ORDER else 0,
        "s": str(STEP_LABELS.get(step, step)),
        "c": cause,
    }
    if cleanup and cleanup["status"] == "failed":
        message += _("。清理本次创建的内容未完成：%(m)s，请 DBA 手工处理") % {
            "m": cleanup["message"]
        }
    elif cleanup:
        message += _("。%(m)s，未保存任何配置") % {"m": cleanup["message"]}
    else:
        message += _("。未保存任何配置")
    run = pipeline.run
    run.status = ProvisioningRun.Status.FAILED
    run.failed_step = step
    run.message = message[:1000]
    run.finished_at = timezone.now()
    with transaction.atomic():
        ProvisioningRun.objects.filter(pk=run.pk).update(
            status=run.status,
            failed_step=run.failed_step,
            message=run.message,
            finished_at=run.finished_at,
            steps=pipeline.steps,
        )
        audit.record(
            actor=actor,
            action="datasource_configure_failed",
            obj=customer,
            message=_("配置数据源 %(n)s 失败：%(m)s") % {"n": run.name, "m": message},
        )
    logger.warning("配置数据源 %s 失败：%s", run.name, message)


def _as_provisioning_failed(
    pipeline: _Pipeline, exc: BaseException, report: PreflightReport | None
) -> ProvisioningFailed:
    run = pipeline.run
    fields = getattr(exc, "fields", None) or {}
    return ProvisioningFailed(
        run.message, step=run.failed_step, run=run, report=report, fields=fields
    )


# --- 实施状态 -------------------------------------------------------------------------------


def datasource_advance(*, actor, datasource: DataSource, to_status: int | str) -> DataSource:
    """Move 实施状态 exactly one step forward. Concurrent requests are serialised by a row
    lock; only the first of several identical requests changes anything (the others get
    409), so there is one audit row per real change."""
    require_perm(actor, MANAGE)
    Status = DataSource.ImplStatus
    try:
        wanted = Status(int(to_status))
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("实施状态：未知的状态"), fields={"impl_status": [_("未知的状态")]}
        ) from None
    with transaction.atomic():
        try:
            ds = DataSource.objects.select_for_update().get(pk=datasource.pk)
        except DataSource.DoesNotExist:
            raise NotFound() from None
        current = Status(ds.impl_status)
        if current == Status.ONLINE:
            raise Conflict(_("数据源已上线，实施状态不能再变更"), code="invalid_transition")
        if wanted == current:
            raise Conflict(
                _("实施状态已是「%(s)s」") % {"s": current.label}, code="invalid_transition"
            )
        if wanted < current:
            raise Conflict(
                _("实施状态不能回退（当前为「%(c)s」）") % {"c": current.label},
                code="invalid_transition",
            )
        if wanted != current + 1:
            raise Conflict(
                _("实施状态只能逐级推进：当前为「%(c)s」，下一步是「%(n)s」")
                % {"c": current.label, "n": Status(current + 1).label},
                code="invalid_transition",
            )
        ds.impl_status = wanted
        ds.save(update_fields=["impl_status", "updated_at"])
        audit.record(
            actor=actor,
            action="datasource_status",
            obj=ds,
            changes={"impl_status": [int(current), int(wanted)]},
            message=_("实施状态：%(a)s → %(b)s") % {"a": current.label, "b": wanted.label},
        )
    return ds


def datasource_update(*, actor, datasource: DataSource, data: dict[str, Any]) -> DataSource:
    """There is no editing: a saved configuration is read-only forever (409). Only
    实施状态 moves, through ``datasource_advance``."""
    require_perm(actor, MANAGE)
    raise Conflict(
        _("数据源保存后不可修改；如需更换，请在「未实施」状态下删除后重新配置"),
        code="datasource_immutable",
        fields={n: [_("保存后不可修改")] for n in data if n in INPUT_FIELDS},
    )


# --- 删除 ----------------------------------------------------------------------------------


def datasource_delete(*, actor, datasource: DataSource, confirm_name: str) -> DataSourceTombstone:
    """Delete a data source still in 未实施, after the user typed its name and a probe
    found no rows in any tenant table. Drops the tenant database only if this platform
    created it. The names are kept in a tombstone and never reused."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        try:
            ds = DataSource.objects.select_for_update().get(pk=datasource.pk)
        except DataSource.DoesNotExist:
            raise NotFound() from None
        if not ds.deletable:
            raise Conflict(
                _("只有「未实施」的数据源可以删除，当前为「%(s)s」")
                % {"s": ds.get_impl_status_display()},
                code="datasource_in_use",
            )
        if (confirm_name or "").strip() != ds.name:
            raise ValidationFailed(
                _("确认名称：请输入数据源名称 %(n)s 以确认删除") % {"n": ds.name},
                fields={"confirm_name": [_("请输入数据源名称 %(n)s 以确认删除") % {"n": ds.name}]},
            )
        target = tenantdb.Target.of(ds)
        dropped = False
        with tenantdb.connector_for(target) as connector:
            try:
                result = connector.probe(ds.database)
            except TenantDBError as exc:
                raise Conflict(
                    _("无法确认租户数据库为空，未删除：%(m)s") % {"m": exc.message},
                    code="probe_failed",
                ) from None
            if result.has_data:
                raise Conflict(
                    _("租户数据库 %(d)s 中以下表有数据，不能删除：%(t)s")
                    % {"d": ds.database, "t": "、".join(result.tables_with_rows)},
                    code="datasource_has_data",
                )
            if ds.database_created and result.database_exists:
                try:
                    connector.drop_database(ds.database)
                except TenantDBError as exc:
                    raise Conflict(
                        _("删除租户数据库失败，数据源未删除：%(m)s") % {"m": exc.message},
                        code="drop_failed",
                    ) from None
                dropped = True
        tombstone = DataSourceTombstone.objects.create(
            name=ds.name,
            database=ds.database,
            customer_id=ds.customer_id,
            datasource_id=ds.pk,
            db_type=ds.db_type,
            host=ds.host,
            port=ds.port,
            username=ds.username,
            configured_by_id=ds.configured_by_id,
            configured_at=ds.configured_at,
            database_dropped=dropped,
            deleted_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        if dropped:
            note = _("租户数据库 %(d)s 已删除") % {"d": ds.database}
        elif ds.database_created:
            note = _("租户数据库 %(d)s 已不存在") % {"d": ds.database}
        else:
            note = _("租户数据库 %(d)s 不是本平台创建的，已保留") % {"d": ds.database}
        audit.record(
            actor=actor,
            action="datasource_delete",
            obj=ds,
            before=audit.snapshot(ds),
            after={},
            message=_("删除数据源 %(n)s；%(note)s") % {"n": ds.name, "note": note},
        )
        ds.delete()
    logger.info("数据源 %s 已删除；%s", tombstone.name, note)
    return tombstone


# --- 检测数据 -------------------------------------------------------------------------------


def datasource_probe(*, actor, datasource: DataSource) -> ProbeResult:
    """检测数据: which tables of the tenant database hold rows and how many communities
    are online (informs 推进实施状态 and delete; gates nothing). Conflict when the server
    cannot be asked."""
    require_perm(actor, MANAGE)
    try:
        return tenantdb.probe(datasource)
    except TenantDBError as exc:
        raise Conflict(
            _("无法检测租户数据库：%(m)s") % {"m": exc.message}, code="probe_failed"
        ) from None


# --- 租户注册表 -----------------------------------------------------------------------------


def registry_read_recorded(
    *,
    actor,
    datasource: DataSource | None,
    enterprise_no: str,
    token_name: str,
    outcome: str,
) -> None:
    """Audit one read of the tenant registry: who (the token's account), which data
    source, which token and what was answered (``ok``, ``not_modified``, ``not_found``).
    One INSERT in autocommit — the registry is on the business system's hot path. The
    row never holds the password (nor anything derived from it)."""
    outcomes = {
        "ok": _("已返回连接信息"),
        "not_modified": _("未变化（304）"),
        "not_found": _("未找到租户或未配置数据源（404）"),
    }
    audit.record(
        actor=actor,
        action="registry_read",
        obj=datasource,
        object_repr=None if datasource is not None else enterprise_no[:200],
        message=_("令牌「%(t)s」读取租户 %(e)s：%(o)s")
        % {"t": token_name, "e": enterprise_no, "o": outcomes.get(outcome, outcome)},
    )


# --- activation prerequisite ----------------------------------------------------------------


def datasource_blocker(customer: Customer) -> Blocker | None:
    """开通 needs a configured data source (spec: set up before the customer is opened)."""
    if DataSource.objects.filter(customer_id=customer.pk).exists():
        return None
    return Blocker("datasource_missing", _("尚未配置数据源"), _("开发运维配置数据源"))
