"""迁移数据源 (独立部署): move a tenant to another database server without editing anything.

devops gives the target (address, account, password, pools) — checked like a new data
source. A worker then, step by step and recorded as a provisioning run is:

1. 检测目标服务器 — the pre-flight of 检测连接 and the connection budget; the source's
   schema version is read (drift refuses the move);
2. 创建数据库 — the next generation's names (``DS-HGJ100001-2``), on the target;
3. 初始化表结构 — the migration files up to the source's version, not beyond;
4. 复制数据 — table by table from one snapshot of the source (``tenantdb.copying``), with
   progress live;
5. 校验数据 — each table's row count and server-side checksum, source against copy, read
   again now: a write to the source during the copy is caught here;
6. 切换数据源 — one control-database transaction: the current data source is kept as a
   ``RetiredDataSource`` (with its checksums) and replaced by the new generation; the
   registry serves the new one from that commit (its ETag and feed position move);
7. 旧库设为只读 — where the server allows (PostgreSQL: ``default_transaction_read_only``).

Any failure before the switch drops what the move created on the target and leaves the
tenant on its current database, unchanged. One move at a time per tenant, and none while
its tables are being cleared. The old database stays until devops removes it
(``retired_remove``), which probes it first and refuses if it was written since.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit import services as audit
from apps.core import crypto
from apps.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import claim
from apps.customers.models import Customer
from apps.customers.services import registry_changed

from . import generations, tenantdb
from .models import (
    CredentialRotation,
    DataSource,
    ProvisioningRun,
    Relocation,
    RetiredDataSource,
    TableClearing,
)
from .provisioning import (
    _host_lock,
    _Pipeline,
    _StepFailed,
    fail_job,
    failure_text,
    step_rows,
)
from .selectors import MANAGE, pools_configured_on
from .services import allocate_names, check_target, clean_input
from .tenantdb import TenantDBError
from .tenantdb.copying import CopyTable, copier_for

logger = logging.getLogger(__name__)

STEP_LABELS = {
    "check": gettext_lazy("检测目标服务器"),
    "create_database": gettext_lazy("创建数据库"),
    "apply_schema": gettext_lazy("初始化表结构"),
    "copy": gettext_lazy("复制数据"),
    "compare": gettext_lazy("校验数据"),
    "switch": gettext_lazy("切换数据源"),
    "read_only": gettext_lazy("旧库设为只读"),
    "cleanup": gettext_lazy("清理本次创建的内容"),
}
STEP_ORDER = ("check", "create_database", "apply_schema", "copy", "compare", "switch", "read_only")
BATCH_SIZE = 2000
PROGRESS_EVERY = 0.5  # seconds between progress writes


def ensure_no_table_work(ds: DataSource) -> None:
    """One operation on a tenant's database at a time: no move, clearing or rotation while
    a move, a clearing, a restore or a rotation is under way (all three services ask)."""
    if Relocation.objects.filter(source=ds, status__in=Relocation.ACTIVE).exists():
        raise Conflict(
            _("该数据源正在迁移，请等待完成"), code=ErrorCode.TABLE_OPERATION_IN_PROGRESS
        )
    if TableClearing.objects.filter(datasource=ds, status__in=TableClearing.ACTIVE).exists():
        raise Conflict(
            _("该租户库正在清空或恢复数据表，请等待完成"),
            code=ErrorCode.TABLE_OPERATION_IN_PROGRESS,
        )
    if CredentialRotation.objects.filter(source=ds, status__in=CredentialRotation.ACTIVE).exists():
        raise Conflict(
            _("该数据源正在轮换账号，请等待完成"), code=ErrorCode.TABLE_OPERATION_IN_PROGRESS
        )


# --- request -------------------------------------------------------------------------------


def _target_input(datasource: DataSource, data: dict[str, Any]) -> tuple[DataSource, str]:
    """The target as typed, checked like a new data source's input, of the same type."""
    data = dict(data)
    if data.get("db_type") in (None, ""):
        data["db_type"] = datasource.db_type
    target, password = clean_input(data)
    if target.db_type != datasource.db_type:
        message = _("只能迁移到同类型的数据库服务器（%(t)s）") % {
            "t": datasource.get_db_type_display()
        }
        raise ValidationFailed(
            _("数据源类型：%(m)s") % {"m": message}, fields={"db_type": [message]}
        )
    return target, password


def relocation_check(
    *, actor, datasource: DataSource, data: dict[str, Any]
) -> tenantdb.PreflightReport:
    """检测目标: the pre-flight of 检测连接 against the target, before starting a move."""
    require_perm(actor, MANAGE)
    target, password = _target_input(datasource, data)
    return check_target(actor=actor, customer=datasource.customer, ds=target, password=password)


def relocation_request(*, actor, datasource: DataSource, data: dict[str, Any]) -> Relocation:
    """Check the target input (422 naming each wrong field), record the move with the
    password encrypted on it, and queue it; the task carries the id only."""
    require_perm(actor, MANAGE)
    target, password = _target_input(datasource, data)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=datasource.customer_id)
        ds = DataSource.objects.filter(pk=datasource.pk).first()
        if ds is None:
            raise NotFound(_("数据源不存在"))
        ensure_no_table_work(ds)
        if ProvisioningRun.objects.filter(
            customer=customer, status__in=ProvisioningRun.ACTIVE
        ).exists():
            raise Conflict(
                _("该客户的数据源正在配置中，请等待完成"),
                code=ErrorCode.PROVISIONING_IN_PROGRESS,
            )
        name, database = allocate_names(customer)
        relocation = Relocation.objects.create(
            customer=customer,
            source=ds,
            source_name=ds.name,
            name=name,
            database=database,
            db_type=ds.db_type,
            host=target.host,
            port=target.port,
            username=target.username,
            max_connections=target.max_connections,
            min_connections=target.min_connections,
            remarks=target.remarks,
            secret_encrypted=crypto.encrypt(password),
            started_by=actor,
        )
        audit.record(
            actor=actor,
            action="datasource_relocate",
            obj=customer,
            message=_("申请迁移数据源 %(s)s 到 %(a)s（新数据源 %(n)s，数据库 %(d)s）")
            % {
                "s": ds.name,
                "a": f"{relocation.host}:{relocation.port}",
                "n": name,
                "d": database,
            },
        )
        transaction.on_commit(lambda: _enqueue(relocation))
    return relocation


def _enqueue(relocation: Relocation) -> None:
    from .tasks import relocate

    try:
        relocate.delay(relocation.pk)
    except Exception as exc:  # kombu's and the transports' own errors alike
        logger.error("迁移 %s 未能排队：%s", relocation.name, type(exc).__name__)
        _fail(
            relocation,
            _("任务队列暂时不可用，迁移未能排队（%(e)s），请稍后重试") % {"e": type(exc).__name__},
        )


# --- the worker ------------------------------------------------------------------------------


def run_relocation(relocation_id: int) -> Relocation | None:
    """What the worker does with a queued move (taken once however often delivered)."""
    relocation = claim(
        Relocation,
        relocation_id,
        status=Relocation.Status.QUEUED,
        to=Relocation.Status.RUNNING,
        related=("customer", "source", "started_by"),
    )
    if relocation is None:
        return None
    with contextlib.suppress(_Failed):  # recorded on the move by ``_fail``
        _execute(relocation)
    return Relocation.objects.get(pk=relocation_id)


class _Failed(Exception):
    pass


def _execute(relocation: Relocation) -> None:
    ds = relocation.source
    pipeline = _Pipeline(relocation, labels=STEP_LABELS)
    password = crypto.decrypt(relocation.secret_encrypted)
    target = tenantdb.Target(
        relocation.db_type,
        relocation.host,
        relocation.port,
        relocation.username,
        password,
        relocation.database,
    )
    created = switched = False
    if ds is None:
        _fail(relocation, _("原数据源已不存在，未迁移"))
        raise _Failed
    with (
        tenantdb.connector_for(tenantdb.Target.of(ds)) as src,
        tenantdb.connector_for(target) as dst,
    ):
        try:
            with pipeline.step("check") as entry:
                report = tenantdb.check_with(dst, max_pool=relocation.max_connections)
                if not report.ok:
                    raise _StepFailed(report.summary())
                version = _source_version(src, ds)
                _check_budget(relocation, report.server_max_connections or 0)
                Relocation.objects.filter(pk=relocation.pk).update(version=version)
                entry["message"] = _("%(r)s；源库表结构版本 %(v)s") % {
                    "r": report.summary(),
                    "v": version or _("无"),
                }

            with pipeline.step("create_database") as entry:
                if report.database_exists:
                    entry["status"] = "skipped"
                    entry["message"] = _("数据库 %(d)s 已存在且为空，直接使用") % {
                        "d": relocation.database
                    }
                else:
                    if isinstance(dst, tenantdb.PostgresConnector):
                        utf8 = report.charset.upper().replace("-", "") == "UTF8"
                        dst.create_database(relocation.database, template0=not utf8)
                    else:
                        dst.create_database(relocation.database)
                    created = True
                    entry["message"] = _("已创建数据库 %(d)s") % {"d": relocation.database}

            with pipeline.step("apply_schema") as entry:
                files = [m for m in tenantdb.migrations(ds.db_type) if m.version <= version]
                dst.ensure_version_table(relocation.database)
                for migration in files:
                    dst.apply_migration(relocation.database, migration)
                entry["message"] = _("已执行 %(f)d 个迁移文件，表结构版本 %(v)s") % {
                    "f": len(files),
                    "v": version or _("无"),
                }

            with pipeline.step("copy") as entry:
                plan = _plan(src, ds.database, dst, relocation.database)
                started = time.monotonic()
                copied = copier_for(src).copy(
                    ds.database,
                    dst,
                    relocation.database,
                    plan,
                    batch_size=BATCH_SIZE,
                    progress=_progress(relocation, plan),
                )
                ms = int((time.monotonic() - started) * 1000)
                total = sum(copied.values())
                relocation.tables = [
                    {"table": t.label, "rows": t.rows, "copied": copied.get(t.label, 0)}
                    for t in plan
                ]
                Relocation.objects.filter(pk=relocation.pk).update(
                    tables=relocation.tables, copied_rows=total, copy_ms=ms
                )
                entry["message"] = _("已复制 %(t)d 张表、%(n)d 行，%(r)s 行/秒") % {
                    "t": len(plan),
                    "n": total,
                    "r": f"{total / max(ms / 1000, 0.001):,.0f}",
                }

            with pipeline.step("compare") as entry:
                checksums = _compare(src, ds.database, dst, relocation.database, plan)
                if _source_version(src, ds) != version:
                    raise _StepFailed(_("源库的表结构版本在迁移期间发生了变化，请重新迁移"))
                state = dst.schema_state(relocation.database)
                entry["message"] = _("%(t)d 张表的行数与校验和一致") % {"t": len(plan)}

            with pipeline.step("switch") as entry:
                new = _switch(relocation, ds, password, report, created, checksums, state)
                switched = True
                entry["message"] = _("租户注册表已改为新数据源 %(n)s") % {"n": new.name}
        except BaseException as exc:
            if switched:  # the move is done; only recording the step failed (the reaper
                raise  # finishes it: the relocation names its new data source)
            dst.close()
            if created:
                with contextlib.suppress(TenantDBError), pipeline.step("cleanup") as entry:
                    with tenantdb.connector_for(target) as fresh:
                        fresh.drop_database(relocation.database)
                    entry["message"] = _("已删除本次创建的数据库 %(d)s") % {
                        "d": relocation.database
                    }
            _fail(relocation, _step_failure(pipeline, exc))
            if isinstance(exc, _StepFailed | TenantDBError | Conflict):
                raise _Failed from None
            raise
    # After the switch nothing can undo the move: making the old database read-only is a
    # courtesy, recorded for what it did.
    retired = RetiredDataSource.objects.get(replaced_by=new)
    with contextlib.suppress(Exception), pipeline.step("read_only") as entry:
        entry["message"] = _make_read_only(retired)
    Relocation.objects.filter(pk=relocation.pk).update(
        status=Relocation.Status.SUCCEEDED,
        secret_encrypted="",  # the new data source holds it now
        finished_at=timezone.now(),
        datasource=new,
        message=_("已切换到 %(n)s（%(a)s）") % {"n": new.name, "a": new.address},
    )
    logger.info("数据源 %s 已迁移为 %s（%s）", ds.name, new.name, new.address)


def _source_version(src: Any, ds: DataSource) -> str:
    files = tenantdb.migrations(ds.db_type)
    state = src.schema_state(ds.database)
    comparison = tenantdb.compare(state, files, state.current)
    if comparison.drift:
        raise _StepFailed(
            _("源库表结构与迁移文件不一致，不能迁移：%(d)s") % {"d": "；".join(comparison.drift)}
        )
    return state.current


def _check_budget(relocation: Relocation, budget: int) -> None:
    used = pools_configured_on(relocation.host, relocation.port)
    if used + relocation.max_connections > budget:
        raise _StepFailed(
            _("连接数超出预算：服务器可用 %(s)d，已配置 %(c)d，加上本数据源 %(m)d 共 %(t)d")
            % {
                "s": budget,
                "c": used,
                "m": relocation.max_connections,
                "t": used + relocation.max_connections,
            }
        )


def _plan(src: Any, source_db: str, dst: Any, target_db: str) -> list[CopyTable]:
    """The source's tables, which must be the target's too (the files at the source's
    version): a table or column outside them refuses the move."""
    plan = copier_for(src).plan(source_db)
    there = {t.label: t for t in copier_for(dst).plan(target_db)}
    extra = [t.label for t in plan if t.label not in there]
    missing = [label for label in there if label not in {t.label for t in plan}]
    columns = [t.label for t in plan if t.label in there and there[t.label].columns != t.columns]
    problems = []
    if extra:
        problems.append(_("源库中的表 %(t)s 不在迁移文件中") % {"t": "、".join(extra)})
    if missing:
        problems.append(_("源库缺少迁移文件中的表 %(t)s") % {"t": "、".join(missing)})
    if columns:
        problems.append(_("表 %(t)s 的列与迁移文件不一致") % {"t": "、".join(columns)})
    if problems:
        raise _StepFailed(_("不能迁移：%(p)s") % {"p": "；".join(problems)})
    return plan


def _progress(relocation: Relocation, plan: list[CopyTable]):
    """A callback writing the per-table progress at most every ``PROGRESS_EVERY`` s."""
    tables = {t.label: {"table": t.label, "rows": t.rows, "copied": 0} for t in plan}
    last = [0.0]

    def report(label: str, done: int) -> None:
        tables[label]["copied"] = done
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY:
            return
        last[0] = now
        rows = list(tables.values())
        Relocation.objects.filter(pk=relocation.pk).update(
            tables=rows,
            copied_rows=sum(t["copied"] for t in rows),
            progress_at=timezone.now(),
        )

    return report


def _compare(
    src: Any, source_db: str, dst: Any, target_db: str, plan: list[CopyTable]
) -> dict[str, str]:
    a, b = copier_for(src), copier_for(dst)
    sums: dict[str, str] = {}
    problems = []
    for table in plan:
        left, right = a.checksum(source_db, table), b.checksum(target_db, table)
        if left != right:
            problems.append(
                _("表 %(t)s：源库 %(a)d 行，新库 %(b)d 行")
                % {"t": table.label, "a": left[0], "b": right[0]}
                if left[0] != right[0]
                else _("表 %(t)s 的校验和不一致") % {"t": table.label}
            )
        sums[table.label] = f"{left[0]}:{left[1]}"
    if problems:
        raise _StepFailed(
            _("新库与源库不一致（复制期间源库可能有写入，请暂停业务写入后重新迁移）：%(p)s")
            % {"p": "；".join(problems)}
        )
    return sums


def _switch(
    relocation: Relocation,
    ds: DataSource,
    password: str,
    report: tenantdb.PreflightReport,
    created: bool,
    checksums: dict[str, str],
    state: tenantdb.SchemaState,
) -> DataSource:
    """Replace the current data source by the new generation in one transaction."""
    with transaction.atomic():
        _host_lock(relocation.host, relocation.port)
        _check_budget(relocation, report.server_max_connections or 0)
        new, retired = generations.replace(
            customer_id=relocation.customer_id,
            expected=ds,
            new=DataSource(
                name=relocation.name,
                database=relocation.database,
                db_type=relocation.db_type,
                host=relocation.host,
                port=relocation.port,
                username=relocation.username,
                max_connections=relocation.max_connections,
                min_connections=relocation.min_connections,
                remarks=relocation.remarks,
                database_created=created,
                server_version=report.server_version[:100],
            ),
            password=password,
            reason=RetiredDataSource.Reason.RELOCATION,
            actor=relocation.started_by,
            state=state,
            checksums=checksums,
        )
        Relocation.objects.filter(pk=relocation.pk).update(datasource=new)
        audit.record(
            actor=relocation.started_by,
            action="datasource_relocated",
            obj=new.customer,
            message=_(
                "数据源 %(o)s（%(oa)s，数据库 %(od)s）已迁移为 %(n)s（%(na)s，数据库 %(nd)s），"
                "复制 %(r)d 行；旧库保留"
            )
            % {
                "o": retired.name,
                "oa": retired.address,
                "od": retired.database,
                "n": new.name,
                "na": new.address,
                "nd": new.database,
                "r": sum(int(v.split(":", 1)[0]) for v in checksums.values()),
            },
        )
        registry_changed([new.customer_id], listing=True)
    return new


def _make_read_only(retired: RetiredDataSource) -> str:
    target = tenantdb.Target(
        retired.db_type,
        retired.host,
        retired.port,
        retired.username,
        crypto.decrypt(retired.password_encrypted),
        retired.database,
    )
    if retired.db_type != tenantdb.POSTGRESQL:
        return _("MySQL/MariaDB 不能把单个数据库设为只读；旧库保持原样，请勿再写入")
    with tenantdb.connector_for(target) as connector:
        connector.query(
            f"ALTER DATABASE {connector.quote(retired.database)} "
            "SET default_transaction_read_only = on",
            action=_("设为只读"),
        )
    RetiredDataSource.objects.filter(pk=retired.pk).update(read_only=True)
    return _("旧库 %(d)s 的新连接默认只读") % {"d": retired.database}


def _step_failure(pipeline: _Pipeline, exc: BaseException) -> str:
    return failure_text(
        pipeline,
        exc,
        STEP_ORDER,
        STEP_LABELS,
        cleanup_failed=_("删除新库未完成：%(m)s，请 DBA 手工处理"),
        outcome=_("租户仍使用原数据源，未做任何修改"),
    )


def _fail(relocation: Relocation, message: str) -> None:
    fail_job(
        relocation,
        message,
        secret_field="secret_encrypted",
        action="datasource_relocate_failed",
        what=_("迁移数据源 %(n)s 失败") % {"n": relocation.source_name},
    )


def reap_stale(*, now=None) -> int:
    """A move whose worker died (no progress for ``PROVISIONING_STALE_AFTER``): failed, the
    tenant untouched, a database it created on the target dropped when reachable — unless
    it had switched already, in which case it succeeded."""
    from django.conf import settings

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.PROVISIONING_STALE_AFTER)
    reaped = 0
    for relocation in Relocation.objects.filter(
        status=Relocation.Status.RUNNING, progress_at__lt=cutoff
    ).select_related("customer", "started_by"):
        if relocation.datasource_id is not None:  # switched before the worker died
            Relocation.objects.filter(pk=relocation.pk).update(
                status=Relocation.Status.SUCCEEDED,
                secret_encrypted="",
                finished_at=now,
                message=_("已切换到 %(n)s（工作进程在收尾时退出）") % {"n": relocation.name},
            )
            reaped += 1
            continue
        created = any(
            s.get("code") == "create_database" and s.get("status") == "ok"
            for s in relocation.steps or []
        )
        note = ""
        if created and relocation.secret_encrypted:
            target = tenantdb.Target(
                relocation.db_type,
                relocation.host,
                relocation.port,
                relocation.username,
                crypto.decrypt(relocation.secret_encrypted),
                relocation.database,
            )
            try:
                with tenantdb.connector_for(target) as connector:
                    connector.drop_database(relocation.database)
                note = _("；已删除新库 %(d)s") % {"d": relocation.database}
            except TenantDBError as exc:
                note = _("；删除新库未完成：%(m)s") % {"m": exc.message}
        _fail(
            relocation,
            _("执行中断（工作进程退出）%(n)s。租户仍使用原数据源，未做任何修改") % {"n": note},
        )
        reaped += 1
    return reaped


# --- the old generation ------------------------------------------------------------------------


def retired_remove(*, actor, retired: RetiredDataSource, confirm_name: str) -> RetiredDataSource:
    """删除旧库: after typing the old data source's name, probe the old database — refused
    if it cannot be reached or was written to since the switch — then drop it if the
    platform created it, and erase the password kept for it."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        retired = RetiredDataSource.objects.select_for_update().get(pk=retired.pk)
        if retired.removed_at is not None:
            raise Conflict(_("旧库已删除"), code=ErrorCode.CONFLICT)
        if retired.reason != RetiredDataSource.Reason.RELOCATION:
            raise Conflict(
                _(
                    "这一代是轮换账号前的，与当前数据源共用数据库：不删除库，旧账号在宽限期后自动停用"
                ),
                code=ErrorCode.CONFLICT,
            )
        if (confirm_name or "").strip() != retired.name:
            message = _("请输入旧数据源名称 %(n)s 以确认删除") % {"n": retired.name}
            raise ValidationFailed(
                _("确认名称：%(m)s") % {"m": message}, fields={"confirm_name": [message]}
            )
        target = tenantdb.Target(
            retired.db_type,
            retired.host,
            retired.port,
            retired.username,
            crypto.decrypt(retired.password_encrypted),
            retired.database,
        )
        dropped = False
        try:
            with tenantdb.connector_for(target) as connector:
                exists, _count, _charset = connector.database_state(retired.database)
                if exists:
                    changed = _changed_since(connector, retired)
                    if changed:
                        raise Conflict(
                            _("旧库在切换后有写入，未删除：%(t)s") % {"t": "、".join(changed)},
                            code=ErrorCode.DATASOURCE_HAS_DATA,
                        )
                    if retired.database_created:
                        connector.drop_database(retired.database)
                        dropped = True
        except TenantDBError as exc:
            raise Conflict(
                _("无法检测旧库，未删除：%(m)s") % {"m": exc.message}, code=ErrorCode.PROBE_FAILED
            ) from None
        note = (
            _("已删除旧库 %(d)s") % {"d": retired.database}
            if dropped
            else _("旧库 %(d)s 不是平台创建的或已不存在，予以保留") % {"d": retired.database}
        )
        RetiredDataSource.objects.filter(pk=retired.pk).update(
            removed_at=timezone.now(),
            removed_by=actor,
            removal_note=note,
            password_encrypted="",
        )
        audit.record(
            actor=actor,
            action="datasource_retired_removed",
            obj=retired.customer,
            message=_("旧数据源 %(n)s（%(a)s）：%(m)s")
            % {"n": retired.name, "a": retired.address, "m": note},
        )
    retired.refresh_from_db()
    return retired


def _changed_since(connector: Any, retired: RetiredDataSource) -> list[str]:
    """Tables of the old database whose count or checksum differs from the switch's."""
    copier = copier_for(connector)
    plan = {t.label: t for t in copier.plan(retired.database)}
    changed = [label for label in retired.checksums if label not in plan]
    for label, table in plan.items():
        count, digest = copier.checksum(retired.database, table)
        if retired.checksums.get(label) != f"{count}:{digest}":
            changed.append(label)
    return sorted(set(changed))


def relocation_progress(relocation: Relocation) -> list[dict[str, Any]]:
    """The steps as the console and the API show them (see ``provisioning.step_rows``)."""
    return step_rows(
        relocation.steps or [],
        STEP_ORDER,
        STEP_LABELS,
        running=relocation.status == Relocation.Status.RUNNING,
        active=relocation.active,
    )
