"""配置 (provisioning): the pipeline 检测连接 → 创建数据库 → 初始化表结构 → 验证建表权限 →
保存配置, recorded step by step in a ``ProvisioningRun``. Any failure removes what this run
created on the tenant server and saves no data source; a retry starts clean."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core import crypto
from apps.core.errors import Conflict, DomainError, ErrorCode, NotFound
from apps.core.models import next_value
from apps.core.permissions import require_perm
from apps.customers.models import Customer
from apps.customers.services import registry_changed
from apps.notifications import services as notifications

from . import schemas, tenantdb
from .models import DataSource, ProvisioningRun
from .selectors import MANAGE, normalise_host, pools_configured_on
from .services import (
    FINDING_FIELDS,
    STEP_LABELS,
    STEP_ORDER,
    ProvisioningFailed,
    _ensure_none_configured,
    allocate_names,
    clean_input,
)
from .tenantdb import PreflightReport, TenantDBError

logger = logging.getLogger(__name__)

# --- 配置（provisioning） --------------------------------------------------------------------


class _StepFailed(Exception):
    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


@dataclass
class _Pipeline:
    """Recorded steps of a run — a provisioning run, or any model with ``steps`` and
    ``progress_at`` (a relocation) — each saved on the row as it ends."""

    run: Any
    current: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    labels: Any = None  # {code: label}; the provisioning steps' by default

    @contextlib.contextmanager
    def step(self, code: str) -> Iterator[dict[str, Any]]:
        """Record one step; the body may set ``entry["message"]`` or
        ``entry["status"] = "skipped"``."""
        self.current = code
        entry: dict[str, Any] = {
            "code": code,
            "label": str((self.labels or STEP_LABELS)[code]),
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
            type(self.run).objects.filter(pk=self.run.pk).update(
                steps=self.steps, progress_at=timezone.now()
            )


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, _StepFailed | TenantDBError):
        return exc.message
    if isinstance(exc, DomainError):
        return exc.message
    return _("内部错误（%(e)s），请联系管理员") % {"e": type(exc).__name__}


def _statements(db_type: str) -> list[tuple[str, int, str]]:
    """Every statement of ``db_type``'s migration files, in order."""
    return [s for migration in tenantdb.migrations(db_type) for s in migration.statements]


def _host_lock(host: str, port: int) -> None:
    """Serialise saves on one database server (the connection budget is a per-server
    sum): bump a per-server counter row, which holds its row lock until commit."""
    digest = hashlib.sha1(f"{normalise_host(host)}:{port}".encode(), usedforsecurity=False)
    next_value(f"pool:{digest.hexdigest()}")


def datasource_configure(*, actor, customer: Customer, data: dict[str, Any]) -> DataSource:
    """Provision and save the customer's data source in this request, or fail leaving
    nothing behind.

    Raises ValidationFailed (input), Conflict (already configured; 409) or
    ProvisioningFailed (a step failed; ``.step``, ``.run`` and ``.report`` tell which and
    why)."""
    require_perm(actor, MANAGE)
    ds, password = clean_input(data)
    run = _new_run(actor=actor, customer=customer, ds=ds, status=ProvisioningRun.Status.RUNNING)
    return _execute(run, ds=ds, password=password, actor=actor, customer=customer)


def datasource_queue(*, actor, customer: Customer, data: dict[str, Any]) -> ProvisioningRun:
    """Queue the provisioning of the customer's data source for a worker: the input is
    checked now (422 naming every wrong field), the run is recorded as 排队中 with the
    password encrypted on it, and the task carries the run's id only. One run at a time
    per customer (409 while one is queued or running)."""
    require_perm(actor, MANAGE)
    ds, password = clean_input(data)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        _ensure_no_active_run(customer)
        run = _new_run(actor=actor, customer=customer, ds=ds, status=ProvisioningRun.Status.QUEUED)
        run.secret_encrypted = crypto.encrypt(password)
        run.save(update_fields=["secret_encrypted"])
        transaction.on_commit(lambda: enqueue(run))
    logger.info("数据源 %s 已排队配置", run.name)
    run.refresh_from_db()
    return run


def enqueue(run: ProvisioningRun) -> None:
    """Send the run to the workers (after the transaction that recorded it has committed).
    When the broker cannot take it, the run is failed at once with that cause — keeping its
    input, so 重试 sends it again — rather than left 排队中 for a message that was never
    sent."""
    from .tasks import provision

    try:
        provision.delay(run.pk)
    except Exception as exc:  # kombu's and the transports' own errors alike
        logger.error("数据源 %s 未能排队：%s", run.name, type(exc).__name__)
        message = _("任务队列暂时不可用，配置未能排队（%(e)s）；请稍后重试") % {
            "e": type(exc).__name__
        }
        with transaction.atomic():
            updated = ProvisioningRun.objects.filter(
                pk=run.pk, status=ProvisioningRun.Status.QUEUED
            ).update(
                status=ProvisioningRun.Status.FAILED,
                message=message,
                finished_at=timezone.now(),
            )
            if updated:
                run = ProvisioningRun.objects.select_related("customer", "started_by").get(
                    pk=run.pk
                )
                audit.record(
                    actor=run.started_by,
                    action="datasource_configure_failed",
                    obj=run.customer,
                    message=_("配置数据源 %(n)s 失败：%(m)s") % {"n": run.name, "m": message},
                )


def _ensure_no_active_run(customer: Customer) -> None:
    runs = ProvisioningRun.objects.filter(customer=customer, status__in=ProvisioningRun.ACTIVE)
    if runs.exists():
        raise Conflict(
            _("该客户的数据源正在配置中，请等待完成"), code=ErrorCode.PROVISIONING_IN_PROGRESS
        )


def _locked_run(customer: Customer, run_id: int) -> ProvisioningRun:
    """The run's row, locked (the customer's row is locked first, as everywhere)."""
    Customer.objects.select_for_update().get(pk=customer.pk)
    run = ProvisioningRun.objects.select_for_update().filter(pk=run_id, customer=customer).first()
    if run is None:
        raise NotFound(_("配置记录不存在"))
    return run


def datasource_retry(*, actor, customer: Customer, run_id: int) -> ProvisioningRun:
    """重试 a failed run with the input it kept: queued again under the same names, it
    resumes from what its earlier attempt left (see ``_execute``). Refused (409) when the
    run did not fail, was cleaned up, or the customer has a data source or another run
    under way."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        run = _locked_run(customer, run_id)
        if not run.retryable:
            raise Conflict(
                _("只有失败且未清理的配置记录可以重试；请重新配置数据源"),
                code=ErrorCode.RUN_NOT_RETRYABLE,
            )
        _ensure_none_configured(customer)
        _ensure_no_active_run(customer)
        attempt = run.attempts + 1
        ProvisioningRun.objects.filter(pk=run.pk).update(
            status=ProvisioningRun.Status.QUEUED,
            attempts=attempt,
            started_by=actor,
            failed_step="",
            message="",
            finished_at=None,
            progress_at=timezone.now(),
        )
        audit.record(
            actor=actor,
            action="datasource_retry",
            obj=customer,
            message=_("重试配置数据源 %(n)s（第 %(a)d 次执行）") % {"n": run.name, "a": attempt},
        )
        transaction.on_commit(lambda: enqueue(run))
    run.refresh_from_db()
    logger.info("数据源 %s 重试配置，第 %d 次执行", run.name, attempt)
    return run


def datasource_cleanup(*, actor, customer: Customer, run_id: int) -> ProvisioningRun:
    """清理 a failed run: remove from the tenant server what it created (the database it
    created, or the tables it created in an existing one) and erase the password it kept.
    The run stays in the history, marked 已清理. When the server cannot be reached the run
    is left as it was (409 ``cleanup_failed`` with the cause), to be cleaned later."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        run = _locked_run(customer, run_id)
        if not run.cleanable:
            raise Conflict(_("该配置记录没有需要清理的内容"), code=ErrorCode.RUN_NOT_CLEANABLE)
        footprint = dict(run.footprint or {})
        removed = ""
        if footprint:
            removed = _remove_footprint(run, footprint)
        ProvisioningRun.objects.filter(pk=run.pk).update(
            footprint={}, secret_encrypted="", cleaned_at=timezone.now()
        )
        audit.record(
            actor=actor,
            action="datasource_run_cleanup",
            obj=customer,
            message=_("清理配置记录 %(n)s：%(m)s")
            % {"n": run.name, "m": removed or _("已删除保存的密码")},
        )
    run.refresh_from_db()
    logger.info("数据源 %s 的配置记录已清理", run.name)
    return run


def _remove_footprint(run: ProvisioningRun, footprint: dict[str, Any]) -> str:
    target = tenantdb.Target(
        run.db_type,
        run.host,
        run.port,
        run.username,
        crypto.decrypt(run.secret_encrypted),
        run.database,
    )
    try:
        with tenantdb.connector_for(target) as connector:
            exists, _tables, _charset = connector.database_state(run.database)
            if not exists:
                return _("数据库 %(d)s 已不存在") % {"d": run.database}
            if footprint.get("database"):
                connector.drop_database(run.database)
                return _("已删除本次创建的数据库 %(d)s") % {"d": run.database}
            before = {(str(n), str(k)) for n, k in footprint.get("objects_before", [])}
            new = [o for o in connector.objects(run.database) if o not in before]
            connector.drop_objects(run.database, new)
            return _("已删除本次创建的 %(n)d 张表/视图") % {"n": len(new)}
    except TenantDBError as exc:
        raise Conflict(
            _("清理未完成，配置记录保持不变：%(m)s") % {"m": exc.message},
            code=ErrorCode.CLEANUP_FAILED,
        ) from None


def run_queued(run_id: int) -> ProvisioningRun | None:
    """What the worker does with a queued run: take it (only once, however often the task
    is delivered), run the pipeline with the stored input, erase the secret when it is no
    longer needed. Returns the finished run, or None when there was nothing to take."""
    with transaction.atomic():
        run = (
            ProvisioningRun.objects.select_for_update()  # the run's row only: no outer joins
            .filter(pk=run_id, status=ProvisioningRun.Status.QUEUED)
            .first()
        )
        if run is None:
            return None
        earlier = list(run.steps)
        run.status = ProvisioningRun.Status.RUNNING
        run.progress_at = timezone.now()
        run.steps = []  # this attempt's steps; ``earlier`` tells it where to resume
        run.save(update_fields=["status", "progress_at", "steps"])
    ds = DataSource(
        db_type=run.db_type,
        host=run.host,
        port=run.port,
        username=run.username,
        max_connections=run.max_connections or 1,
        min_connections=run.min_connections or 1,
        remarks=run.remarks,
    )
    password = crypto.decrypt(run.secret_encrypted)
    # A failure is recorded on the run (cause, cleanup, audit row) by ``_execute``.
    with contextlib.suppress(ProvisioningFailed):
        _execute(
            run,
            ds=ds,
            password=password,
            actor=run.started_by,
            customer=run.customer,
            earlier=earlier,
        )
    run.refresh_from_db()
    return run


def failure_text(
    pipeline: _Pipeline,
    exc: BaseException,
    order: tuple[str, ...],
    labels: Any,
    *,
    cleanup_failed: str,
    outcome: str,
) -> str:
    """「第 N 步「…」失败：cause」, what the cleanup did (``cleanup_failed`` formats its
    cause as ``%(m)s`` when it failed), then ``outcome``."""
    failed = next(
        (s for s in pipeline.steps if s["status"] == "failed" and s["code"] != "cleanup"), None
    )
    step = failed["code"] if failed else pipeline.current
    cause = failed["message"] if failed else _failure_message(exc)
    message = _("第 %(i)d 步「%(s)s」失败：%(c)s") % {
        "i": order.index(step) + 1 if step in order else 0,
        "s": str(labels.get(step, step)),
        "c": cause,
    }
    cleanup = next((s for s in pipeline.steps if s["code"] == "cleanup"), None)
    if cleanup and cleanup["status"] == "failed":
        message += "。" + cleanup_failed % {"m": cleanup["message"]}
    elif cleanup:
        message += "。" + cleanup["message"]
    return message + "。" + outcome


def step_rows(
    steps: list[dict[str, Any]],
    order: tuple[str, ...],
    labels: Any,
    *,
    running: bool,
    active: bool,
) -> list[dict[str, Any]]:
    """A recorded pipeline's steps as the console and the API show them: each recorded step
    as recorded (ok, failed, skipped), the one under way as ``running``, the rest
    ``pending`` — or ``not_run`` once the run has ended without them; the cleanup step
    last if there was one."""
    recorded = {s["code"]: s for s in steps}
    rows: list[dict[str, Any]] = []
    for code in order:
        if code in recorded:
            rows.append({"ms": None, **recorded[code]})
            continue
        status = "running" if running else ("pending" if active else "not_run")
        running = False
        rows.append(
            {"code": code, "label": str(labels[code]), "status": status, "message": "", "ms": None}
        )
    if "cleanup" in recorded:
        rows.append({"ms": None, **recorded["cleanup"]})
    return rows


def run_progress(run: ProvisioningRun) -> list[dict[str, Any]]:
    """The five steps of a provisioning run (see ``step_rows``)."""
    queued = run.status == ProvisioningRun.Status.QUEUED
    return step_rows(
        [] if queued else run.steps,
        STEP_ORDER,
        STEP_LABELS,
        running=run.status == ProvisioningRun.Status.RUNNING,
        active=run.active,
    )


def _new_run(*, actor, customer: Customer, ds: DataSource, status: str) -> ProvisioningRun:
    _ensure_none_configured(customer)
    name, database = allocate_names(customer)
    return ProvisioningRun.objects.create(
        customer=customer,
        name=name,
        database=database,
        db_type=ds.db_type,
        host=ds.host,
        port=ds.port,
        username=ds.username,
        max_connections=ds.max_connections,
        min_connections=ds.min_connections,
        remarks=ds.remarks,
        status=status,
        started_by=actor,
    )


def _set_footprint(run: ProvisioningRun, footprint: dict[str, Any]) -> None:
    """Record what the run is about to leave on the tenant server, before it does."""
    run.footprint = footprint
    ProvisioningRun.objects.filter(pk=run.pk).update(footprint=footprint)


def _execute(
    run: ProvisioningRun,
    *,
    ds: DataSource,
    password: str,
    actor,
    customer: Customer,
    earlier: list[dict[str, Any]] | None = None,
) -> DataSource:
    """The recorded pipeline for ``run``: every step saved as it ends; on failure, what the
    run created is removed and ProvisioningFailed raised.

    A run that an earlier attempt left unfinished (its worker died: ``run.footprint`` says
    what is on the server) resumes: 检测连接 and 验证建表权限 run again, the database it
    created is used, and 初始化表结构 is skipped if it had completed — or, if it was cut
    off, its partial tables are removed and the script runs again."""
    name, database = run.name, run.database
    footprint = dict(run.footprint or {})
    done = {s["code"]: s["status"] for s in earlier or []} if footprint else {}
    pipeline = _Pipeline(run)
    target = tenantdb.Target(ds.db_type, ds.host, ds.port, ds.username, password, database)
    report: PreflightReport | None = None
    created_database = bool(footprint.get("database"))
    created_objects_before: list[tuple[str, str]] | None = None
    if "objects_before" in footprint:
        created_objects_before = [(str(n), str(k)) for n, k in footprint["objects_before"]]
    with tenantdb.connector_for(target) as connector:
        try:
            with pipeline.step("check") as entry:
                report = tenantdb.check_with(connector, max_pool=ds.max_connections)
                if footprint:
                    _accept_own_tables(report)
                entry["message"] = report.summary()
                if not report.ok:
                    raise _StepFailed(report.summary(), _fields_for(report))

            with pipeline.step("create_database") as entry:
                if created_database and report.database_exists:
                    entry["status"] = "skipped"
                    entry["message"] = _("沿用上次执行时创建的数据库 %(d)s") % {"d": database}
                elif report.database_exists:
                    entry["status"] = "skipped"
                    entry["message"] = _("数据库 %(d)s 已存在且为空，直接使用") % {"d": database}
                else:
                    _set_footprint(run, {"database": True})
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
                files = tenantdb.migrations(ds.db_type)
                if not files:
                    entry["status"] = "skipped"
                    entry["message"] = _("未配置基线表结构")
                elif done.get("apply_schema") == "ok" and report.database_exists:
                    entry["status"] = "skipped"
                    entry["message"] = _("上次执行时已完成")
                else:
                    if not created_database and created_objects_before is None:
                        created_objects_before = connector.objects(database)
                        _set_footprint(run, {"objects_before": created_objects_before})
                    if footprint:  # cut off before: remove its partial tables first
                        before = set(created_objects_before or [])
                        partial = [o for o in connector.objects(database) if o not in before]
                        connector.drop_objects(database, partial)
                    connector.ensure_version_table(database)
                    for migration in files:
                        connector.apply_migration(database, migration)
                    entry["version"] = files[-1].version
                    entry["message"] = _(
                        "已执行 %(f)d 个迁移文件、%(s)d 条语句，表结构版本 %(v)s"
                    ) % {
                        "f": len(files),
                        "s": sum(len(m.statements) for m in files),
                        "v": files[-1].version,
                    }

            with pipeline.step("verify") as entry:
                connector.verify(database)
                entry["message"] = _("账号可以在 %(d)s 中建表、写入和删除表") % {"d": database}

            with pipeline.step("save") as entry:
                state = connector.schema_state(database) if files else None
                datasource = _save(
                    actor=actor,
                    customer=customer,
                    ds=ds,
                    password=password,
                    name=name,
                    database=database,
                    report=report,
                    created_database=created_database,
                    schema_state=state,
                )
                entry["message"] = _("已保存数据源 %(n)s") % {"n": name}
        except BaseException as exc:
            # A fresh connection: the failed one may be broken, and PostgreSQL cannot drop
            # a database while it is connected to it.
            connector.close()
            if _cleanup(
                pipeline,
                target,
                database=database,
                created_database=created_database,
                objects_before=created_objects_before,
            ):
                _set_footprint(run, {})
            _finish_failed(pipeline, actor=actor, customer=customer, exc=exc)
            if isinstance(exc, _StepFailed | TenantDBError):
                raise _as_provisioning_failed(pipeline, exc, report) from None
            raise

    ProvisioningRun.objects.filter(pk=run.pk).update(
        status=ProvisioningRun.Status.SUCCEEDED,
        secret_encrypted="",  # the data source holds the password now
        footprint={},  # what it created belongs to the data source
        finished_at=timezone.now(),
        message=_("配置完成"),
        datasource=datasource,
        steps=pipeline.steps,
    )
    # The customer's other failed runs can no longer run again (a data source exists):
    # their passwords go, unless they still hold leftovers for 清理.
    for other in ProvisioningRun.objects.filter(
        customer=customer, status=ProvisioningRun.Status.FAILED
    ).exclude(secret_encrypted=""):
        if not other.footprint:
            ProvisioningRun.objects.filter(pk=other.pk).update(secret_encrypted="")
    logger.info("数据源 %s 已配置（%s %s）", name, ds.get_db_type_display(), ds.address)
    return datasource


def _accept_own_tables(report: PreflightReport) -> None:
    """On a resumed run the database is not empty because of the run itself."""
    own = {"database_not_empty"}
    report.findings = [f for f in report.findings if f.code not in own]
    if report.database_exists:
        report.add(
            "database",
            tenantdb.OK,
            _("数据库 %(d)s 中的内容是本次配置上次执行时创建的") % {"d": report.database},
        )


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
    schema_state: tenantdb.SchemaState | None = None,
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
        if schema_state is not None:
            schemas.record(ds, schema_state)
        audit.record(
            actor=actor,
            action="datasource_configure",
            obj=ds,
            after=audit.snapshot(ds),
            message=_("配置数据源 %(n)s：%(t)s %(a)s，数据库 %(d)s")
            % {"n": name, "t": ds.get_db_type_display(), "a": ds.address, "d": database},
        )
        registry_changed([customer.pk], listing=True)
    return ds


def _cleanup(
    pipeline: _Pipeline,
    target: tenantdb.Target,
    *,
    database: str,
    created_database: bool,
    objects_before: list[tuple[str, str]] | None,
) -> bool:
    """Remove what this run created on the tenant server, and only that. True when nothing
    of the run is left there."""
    if not created_database and objects_before is None:
        return True
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
        return False
    return True


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
        announce_failure(
            actor, _("配置数据源 %(n)s（%(c)s）失败") % {"n": run.name, "c": customer}, message
        )
    logger.warning("配置数据源 %s 失败：%s", run.name, message)


def fail_job(record: Any, message: str, *, secret_field: str, action: str, what: str) -> bool:
    """Mark a job still under way (a relocation, a rotation: a model with ``ACTIVE``,
    ``steps``, ``started_by`` and ``customer``) failed — once — erasing the secret it kept,
    telling whoever started it, and auditing it as ``action``: 「what：message」."""
    model = type(record)
    with transaction.atomic():
        updated = model.objects.filter(pk=record.pk, status__in=model.ACTIVE).update(
            status=model.Status.FAILED,
            message=message[:1000],
            failed_step=next(
                (s["code"] for s in record.steps or [] if s.get("status") == "failed"), ""
            ),
            finished_at=timezone.now(),
            **{secret_field: ""},
        )
        if updated:
            announce_failure(record.started_by, what, message)
            audit.record(
                actor=record.started_by,
                action=action,
                obj=record.customer,
                message=_("%(w)s：%(m)s") % {"w": what, "m": message},
            )
    return bool(updated)


def announce_failure(actor: Any, what: str, message: str) -> None:
    """Tell whoever started it (through their robots) that a data-source job failed."""
    if getattr(actor, "pk", None):
        notifications.announce(
            kind="datasource_failed",
            text=_("【绘管家】%(w)s：%(m)s") % {"w": what, "m": message},
            user_ids=[actor.pk],
        )


def _as_provisioning_failed(
    pipeline: _Pipeline, exc: BaseException, report: PreflightReport | None
) -> ProvisioningFailed:
    run = pipeline.run
    fields = getattr(exc, "fields", None) or {}
    return ProvisioningFailed(
        run.message, step=run.failed_step, run=run, report=report, fields=fields
    )


def reap_stale_runs(*, now=None) -> list[ProvisioningRun]:
    """Mark failed every 进行中 run that has made no progress for
    ``PROVISIONING_STALE_AFTER`` seconds — its worker died (killed, lost its machine)
    mid-pipeline. Each is audited; what it created stays for 清理. Safe to run at any time
    and from several places: a run is reaped once."""
    from django.conf import settings

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.PROVISIONING_STALE_AFTER)
    minutes = max(1, settings.PROVISIONING_STALE_AFTER // 60)
    reaped = []
    with transaction.atomic():
        stale = list(
            ProvisioningRun.objects.select_for_update()
            .filter(status=ProvisioningRun.Status.RUNNING, progress_at__lt=cutoff)
            .order_by("pk")
        )
        for run in stale:
            step = _next_step(run)
            run.status = ProvisioningRun.Status.FAILED
            run.failed_step = step
            run.message = _(
                "执行配置的任务进程已停止（超过 %(m)d 分钟没有进展），停在第 %(i)d 步「%(s)s」"
            ) % {"m": minutes, "i": STEP_ORDER.index(step) + 1, "s": str(STEP_LABELS[step])}
            run.finished_at = now
            run.save(update_fields=["status", "failed_step", "message", "finished_at"])
            audit.record(
                actor=None,
                action="datasource_configure_failed",
                obj=run.customer,
                message=_("配置数据源 %(n)s 失败：%(m)s") % {"n": run.name, "m": run.message},
            )
            reaped.append(run)
    for run in reaped:
        logger.warning("配置数据源 %s 的任务已停止，标记为失败", run.name)
    return reaped


def _next_step(run: ProvisioningRun) -> str:
    """The step a run was in when it stopped: the first not recorded as ended."""
    done = {s["code"] for s in run.steps}
    return next((code for code in STEP_ORDER if code not in done), STEP_ORDER[-1])
