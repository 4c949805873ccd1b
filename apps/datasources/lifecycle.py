"""The one-way 实施状态 (未实施 → 实施中 → 已上线), the guarded delete, 检测数据 (the probe)
and the data source as a prerequisite of 开通."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from apps.core.permissions import require_perm
from apps.customers.models import Customer
from apps.customers.services import Blocker, registry_changed

from . import tenantdb
from .models import DataSource, DataSourceTombstone
from .selectors import MANAGE
from .services import INPUT_FIELDS
from .tenantdb import ProbeResult, TenantDBError

logger = logging.getLogger(__name__)

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
            raise Conflict(_("数据源已上线，实施状态不能再变更"), code=ErrorCode.INVALID_TRANSITION)
        if wanted == current:
            raise Conflict(
                _("实施状态已是「%(s)s」") % {"s": current.label}, code=ErrorCode.INVALID_TRANSITION
            )
        if wanted < current:
            raise Conflict(
                _("实施状态不能回退（当前为「%(c)s」）") % {"c": current.label},
                code=ErrorCode.INVALID_TRANSITION,
            )
        if wanted != current + 1:
            raise Conflict(
                _("实施状态只能逐级推进：当前为「%(c)s」，下一步是「%(n)s」")
                % {"c": current.label, "n": Status(current + 1).label},
                code=ErrorCode.INVALID_TRANSITION,
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
        registry_changed([ds.customer_id])
    return ds


def datasource_update(*, actor, datasource: DataSource, data: dict[str, Any]) -> DataSource:
    """There is no editing: a saved configuration is read-only forever (409). Only
    实施状态 moves, through ``datasource_advance``."""
    require_perm(actor, MANAGE)
    raise Conflict(
        _("数据源保存后不可修改；如需更换，请在「未实施」状态下删除后重新配置"),
        code=ErrorCode.DATASOURCE_IMMUTABLE,
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
                code=ErrorCode.DATASOURCE_IN_USE,
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
                    code=ErrorCode.PROBE_FAILED,
                ) from None
            if result.has_data:
                raise Conflict(
                    _("租户数据库 %(d)s 中以下表有数据，不能删除：%(t)s")
                    % {"d": ds.database, "t": "、".join(result.tables_with_rows)},
                    code=ErrorCode.DATASOURCE_HAS_DATA,
                )
            if ds.database_created and result.database_exists:
                try:
                    connector.drop_database(ds.database)
                except TenantDBError as exc:
                    raise Conflict(
                        _("删除租户数据库失败，数据源未删除：%(m)s") % {"m": exc.message},
                        code=ErrorCode.DROP_FAILED,
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
        registry_changed([tombstone.customer_id])  # listed as removed
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
            _("无法检测租户数据库：%(m)s") % {"m": exc.message}, code=ErrorCode.PROBE_FAILED
        ) from None


# --- activation prerequisite ----------------------------------------------------------------


def datasource_blocker(customer: Customer) -> Blocker | None:
    """开通 needs a configured data source (spec: set up before the customer is opened)."""
    if DataSource.objects.filter(customer_id=customer.pk).exists():
        return None
    return Blocker(ErrorCode.DATASOURCE_MISSING, _("尚未配置数据源"), _("开发运维配置数据源"))
