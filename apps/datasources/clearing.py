"""清空数据表: before go-live a tenant's test data is cleared from chosen business tables —
only while the data source is 实施中, never 未实施 or 已上线.

devops sees the tenant's business tables with their rows (the platform's bookkeeping such
as ``schema_version`` and its backups are never offered), picks some and types the data
source's name. A table left out that references a chosen one refuses the choice, naming
it. The request is recorded and queued; the worker keeps each table's rows in a backup
table on the tenant's server and clears them in one transaction (``tenantdb.tables``), so
a failure leaves every table as it was. 恢复 puts the rows back while the backups are
kept — ``TENANT_CLEAR_RETENTION_DAYS`` — and the daily purge drops them after. One
clearing or restore at a time per tenant; every step is audited with the tables and
counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.records import claim
from apps.customers.models import Customer

from . import tenantdb
from .models import DataSource, TableClearing
from .selectors import MANAGE
from .tenantdb import TenantDBError
from .tenantdb.tables import TableInfo, backup_name, parents_first, platform_table, tables_for

logger = logging.getLogger(__name__)

MAX_TABLES = 200


def _ensure_in_implementation(ds: DataSource) -> None:
    if ds.impl_status != DataSource.ImplStatus.IN_PROGRESS:
        raise Conflict(
            _("只有「实施中」的租户库可以清空或恢复数据表，当前为「%(s)s」")
            % {"s": ds.get_impl_status_display()},
            code=ErrorCode.NOT_IN_IMPLEMENTATION,
        )


def clearable_tables(*, actor, datasource: DataSource) -> list[TableInfo]:
    """The tenant's business tables with their rows and foreign keys, read now. Raises
    Conflict when the data source is not 实施中 or the server cannot be read."""
    require_perm(actor, MANAGE)
    _ensure_in_implementation(datasource)
    return _read_tables(datasource)


def _read_tables(ds: DataSource) -> list[TableInfo]:
    target = tenantdb.Target.of(ds)
    try:
        with tenantdb.connector_for(target) as connector:
            return tables_for(connector).tables(ds.database)
    except TenantDBError as exc:
        raise Conflict(
            _("无法读取租户库的数据表：%(m)s") % {"m": exc.message}, code=ErrorCode.PROBE_FAILED
        ) from None


def _chosen(raw: Any, available: dict[str, TableInfo]) -> list[str]:
    """The chosen table labels, parents before the tables that reference them, or a 422
    naming ``tables``."""
    if isinstance(raw, str):
        raw = [raw] if raw.strip() else []
    if not isinstance(raw, list | tuple) or not raw:
        message = _("请至少选择一张数据表")
        raise ValidationFailed(_("数据表：%(m)s") % {"m": message}, fields={"tables": [message]})
    names = [str(t).strip() for t in raw if isinstance(t, str | int)]
    if len(names) != len(raw) or len(names) > MAX_TABLES:
        message = _("数据表选择不合法")
        raise ValidationFailed(_("数据表：%(m)s") % {"m": message}, fields={"tables": [message]})
    platform = [n for n in names if platform_table(n.rsplit(".", 1)[-1])]
    unknown = [n for n in names if n not in available and n not in platform]
    if platform:
        message = _("%(t)s 是平台的记录表，不能清空") % {"t": "、".join(sorted(platform))}
        raise ValidationFailed(_("数据表：%(m)s") % {"m": message}, fields={"tables": [message]})
    if unknown:
        message = _("租户库中没有表 %(t)s") % {"t": "、".join(sorted(unknown)[:10])}
        raise ValidationFailed(_("数据表：%(m)s") % {"m": message}, fields={"tables": [message]})
    chosen = set(names)
    blockers = []
    for label in sorted(chosen):
        for child in available[label].referenced_by:
            if child not in chosen:
                blockers.append(
                    _("表 %(c)s 引用了 %(p)s，请一并选择 %(c)s") % {"c": child, "p": label}
                )
    if blockers:
        message = "；".join(blockers[:5])
        raise ValidationFailed(_("数据表：%(m)s") % {"m": message}, fields={"tables": [message]})
    edges = [(t.label, parent) for t in available.values() for parent in t.references]
    return parents_first([label for label in available if label in chosen], edges)


def clearing_request(
    *, actor, datasource: DataSource, tables: Any, confirm_name: str
) -> TableClearing:
    """Record and queue a clearing of ``tables`` (labels from ``clearable_tables``) after
    the user typed the data source's name. 422 naming ``tables`` or ``confirm_name``; 409
    when not 实施中 or another clearing or restore is under way."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=datasource.customer_id)
        try:
            ds = DataSource.objects.get(pk=datasource.pk)
        except DataSource.DoesNotExist:
            raise NotFound() from None
        _ensure_in_implementation(ds)
        if (confirm_name or "").strip() != ds.name:
            message = _("请输入数据源名称 %(n)s 以确认清空") % {"n": ds.name}
            raise ValidationFailed(
                _("确认名称：%(m)s") % {"m": message}, fields={"confirm_name": [message]}
            )
        _ensure_none_active(ds)
        available = {t.label: t for t in _read_tables(ds)}
        labels = _chosen(tables, available)
        clearing = TableClearing.objects.create(
            customer_id=ds.customer_id,
            datasource=ds,
            name=ds.name,
            started_by=actor,
            tables=[{"table": label, "rows": available[label].rows} for label in labels],
        )
        clearing.tables = [
            {**t, "backup": backup_name(clearing.pk, i)}
            for i, t in enumerate(clearing.tables, start=1)
        ]
        clearing.save(update_fields=["tables"])
        audit.record(
            actor=actor,
            action="datasource_clear",
            obj=ds.customer,
            message=_("申请清空租户库 %(n)s 的数据表：%(t)s")
            % {"n": ds.name, "t": _describe(clearing.tables, "rows")},
        )
        transaction.on_commit(lambda: _enqueue("clear", clearing))
    return clearing


def _ensure_none_active(ds: DataSource) -> None:
    from .relocation import ensure_no_table_work

    ensure_no_table_work(ds)


def _describe(tables: list[dict[str, Any]], key: str) -> str:
    return "、".join(_("%(t)s（%(n)s 行）") % {"t": t["table"], "n": t.get(key, 0)} for t in tables)


def _enqueue(kind: str, clearing: TableClearing) -> None:
    """Send the work to the workers; a broker that cannot take it fails the request at
    once rather than leave it waiting for a message never sent."""
    from . import tasks

    task = tasks.clear_tables if kind == "clear" else tasks.restore_tables
    try:
        task.delay(clearing.pk)
    except Exception as exc:  # kombu's and the transports' own errors alike
        logger.error("清空数据表 %s 未能排队：%s", clearing.pk, type(exc).__name__)
        message = _("任务队列暂时不可用，未能排队（%(e)s），请稍后重试") % {"e": type(exc).__name__}
        _fail(clearing.pk, message, restoring=kind != "clear")


def _take(clearing_id: int, status: str, to: str) -> TableClearing | None:
    return claim(
        TableClearing, clearing_id, status=status, to=to, related=("datasource", "customer")
    )


def _fail(clearing_id: int, message: str, *, restoring: bool) -> None:
    """A clearing that failed is 失败 (its tables untouched); a restore that failed goes
    back to 已清空 (its backups untouched), to be tried again."""
    with transaction.atomic():
        clearing = TableClearing.objects.select_for_update().get(pk=clearing_id)
        under_way = (
            (TableClearing.Status.RESTORE_QUEUED, TableClearing.Status.RESTORING)
            if restoring
            else (TableClearing.Status.QUEUED, TableClearing.Status.RUNNING)
        )
        if clearing.status not in under_way:
            return
        clearing.status = TableClearing.Status.CLEARED if restoring else TableClearing.Status.FAILED
        clearing.message = message[:1000]
        clearing.save(update_fields=["status", "message"])
        audit.record(
            actor=clearing.restored_by if restoring else clearing.started_by,
            action="datasource_restore_failed" if restoring else "datasource_clear_failed",
            obj=clearing.customer,
            message=(
                _("恢复租户库 %(n)s 的数据表失败，备份保持不变：%(m)s")
                if restoring
                else _("清空租户库 %(n)s 的数据表失败，所有表保持原样：%(m)s")
            )
            % {"n": clearing.name, "m": message},
        )


def run_clearing(clearing_id: int) -> TableClearing | None:
    """What the worker does with a queued clearing (taken once however often the task is
    delivered): check the data source is still 实施中, keep and clear the tables."""
    clearing = _take(clearing_id, TableClearing.Status.QUEUED, TableClearing.Status.RUNNING)
    if clearing is None:
        return None
    ds = clearing.datasource
    if ds is None or ds.impl_status != DataSource.ImplStatus.IN_PROGRESS:
        _fail(clearing.pk, _("数据源已不在「实施中」，未清空"), restoring=False)
        return TableClearing.objects.get(pk=clearing.pk)
    try:
        with tenantdb.connector_for(tenantdb.Target.of(ds)) as connector:
            result = tables_for(connector).clear(ds.database, clearing.backups)
    except TenantDBError as exc:
        _fail(clearing.pk, exc.message, restoring=False)
        return TableClearing.objects.get(pk=clearing.pk)
    now = timezone.now()
    with transaction.atomic():
        clearing = TableClearing.objects.select_for_update().get(pk=clearing.pk)
        clearing.tables = [
            {**t, "cleared": result.rows.get(t["table"], 0)} for t in clearing.tables
        ]
        clearing.status = TableClearing.Status.CLEARED
        clearing.cleared_at = now
        clearing.expires_at = now + dt.timedelta(days=settings.TENANT_CLEAR_RETENTION_DAYS)
        clearing.message = ""
        clearing.save(update_fields=["tables", "status", "cleared_at", "expires_at", "message"])
        audit.record(
            actor=clearing.started_by,
            action="datasource_clear_done",
            obj=clearing.customer,
            message=_("已清空租户库 %(n)s 的数据表：%(t)s；备份保留至 %(d)s")
            % {
                "n": clearing.name,
                "t": _describe(clearing.tables, "cleared"),
                "d": timezone.localtime(clearing.expires_at).strftime("%Y-%m-%d %H:%M"),
            },
        )
    logger.info("租户库 %s 已清空 %d 张表", clearing.name, len(clearing.tables))
    return clearing


def clearing_restore(*, actor, clearing: TableClearing) -> TableClearing:
    """恢复: queue putting a clearing's rows back, while its backups are kept and the
    data source is still 实施中. 409 otherwise."""
    require_perm(actor, MANAGE)
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=clearing.customer_id)
        clearing = TableClearing.objects.select_for_update().get(pk=clearing.pk)
        if not clearing.restorable():
            raise Conflict(
                _("只有已清空且备份仍在保留期内的记录可以恢复"), code=ErrorCode.NOT_RESTORABLE
            )
        ds = DataSource.objects.filter(pk=clearing.datasource_id).first()
        if ds is None:
            raise Conflict(_("数据源已删除，无法恢复"), code=ErrorCode.NOT_RESTORABLE)
        _ensure_in_implementation(ds)
        _ensure_none_active(ds)
        clearing.status = TableClearing.Status.RESTORE_QUEUED
        clearing.restored_by = actor
        clearing.message = ""
        clearing.progress_at = timezone.now()
        clearing.save(update_fields=["status", "restored_by", "message", "progress_at"])
        audit.record(
            actor=actor,
            action="datasource_restore",
            obj=ds.customer,
            message=_("申请恢复租户库 %(n)s 的数据表：%(t)s")
            % {"n": clearing.name, "t": _describe(clearing.tables, "cleared")},
        )
        transaction.on_commit(lambda: _enqueue("restore", clearing))
    return clearing


def run_restore(clearing_id: int) -> TableClearing | None:
    """What the worker does with a restore: put the rows back in one transaction, then
    drop the backups."""
    clearing = _take(
        clearing_id, TableClearing.Status.RESTORE_QUEUED, TableClearing.Status.RESTORING
    )
    if clearing is None:
        return None
    ds = clearing.datasource
    if ds is None:
        _fail(clearing.pk, _("数据源已删除"), restoring=True)
        return TableClearing.objects.get(pk=clearing.pk)
    try:
        with tenantdb.connector_for(tenantdb.Target.of(ds)) as connector:
            restored = tables_for(connector).restore(ds.database, clearing.backups)
    except TenantDBError as exc:
        _fail(clearing.pk, exc.message, restoring=True)
        return TableClearing.objects.get(pk=clearing.pk)
    with transaction.atomic():
        clearing = TableClearing.objects.select_for_update().get(pk=clearing.pk)
        clearing.status = TableClearing.Status.RESTORED
        clearing.restored_at = timezone.now()
        clearing.save(update_fields=["status", "restored_at"])
        audit.record(
            actor=clearing.restored_by,
            action="datasource_restore_done",
            obj=clearing.customer,
            message=_("已恢复租户库 %(n)s 的数据表：%(t)s")
            % {
                "n": clearing.name,
                "t": "、".join(
                    _("%(t)s（%(n)s 行）") % {"t": label, "n": n} for label, n in restored.items()
                ),
            },
        )
    return clearing


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Drop the backups of clearings past their retention (beat, daily); a server that
    cannot be reached is tried again next time. Returns how many were purged."""
    now = now or timezone.now()
    purged = 0
    due = TableClearing.objects.filter(
        status=TableClearing.Status.CLEARED, expires_at__lte=now
    ).select_related("datasource", "customer")
    for clearing in due:
        ds = clearing.datasource
        if ds is not None:
            try:
                with tenantdb.connector_for(tenantdb.Target.of(ds)) as connector:
                    tables_for(connector).drop_backups(ds.database, clearing.backups)
            except TenantDBError as exc:
                logger.warning("清空数据表 %s 的备份未能删除：%s", clearing.pk, exc.message)
                continue
        with transaction.atomic():
            updated = TableClearing.objects.filter(
                pk=clearing.pk, status=TableClearing.Status.CLEARED
            ).update(status=TableClearing.Status.EXPIRED)
            if updated:
                purged += 1
                audit.record(
                    actor=None,
                    action="datasource_backup_expired",
                    obj=clearing.customer,
                    message=_("租户库 %(n)s 清空数据表的备份已过保留期，已删除：%(t)s")
                    % {"n": clearing.name, "t": "、".join(clearing.labels)},
                )
    return purged


def reap_stale(*, now: dt.datetime | None = None) -> int:
    """A clearing or restore whose worker died (no progress for
    ``PROVISIONING_STALE_AFTER``): its transaction was rolled back with the connection, so
    a clearing is 失败 (backups it created are dropped when the server answers) and a
    restore is back to 已清空."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.PROVISIONING_STALE_AFTER)
    reaped = 0
    stale = TableClearing.objects.filter(
        status__in=(TableClearing.Status.RUNNING, TableClearing.Status.RESTORING),
        progress_at__lt=cutoff,
    ).select_related("datasource")
    for clearing in stale:
        restoring = clearing.status == TableClearing.Status.RESTORING
        if not restoring and clearing.datasource is not None:
            ds = clearing.datasource
            try:
                with tenantdb.connector_for(tenantdb.Target.of(ds)) as connector:
                    tables_for(connector).drop_backups(ds.database, clearing.backups)
            except TenantDBError:
                continue
        _fail(clearing.pk, _("执行中断（工作进程退出），请重新操作"), restoring=restoring)
        reaped += 1
    return reaped
