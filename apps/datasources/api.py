"""REST endpoints for tenant data sources (/api/v1/customers/{id}/datasource…) and the
tenant registry the business system reads (/api/v1/registry/tenants/{enterprise_no}).

Thin: parse, call the selectors and services the console uses, shape the answer. The
password goes in through ``POST …/datasource`` and comes out only through the registry,
to tokens holding the ``registry`` scope."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_etags
from ninja import Field, Query, Router, Schema, Status

from apps.api.auth import registry_auth
from apps.api.common import Input, LocalDateTime, StaffRef, StrictInput, errors, one_of
from apps.api.errors import register_labels
from apps.core.errors import ErrorCode, NotFound, ValidationFailed
from apps.core.permissions import has_perm, require_perm
from apps.customers.models import ServiceState
from apps.customers.selectors import access_customer

from . import (
    clearing,
    feed,
    provisioning,
    registry_reads,
    relocation,
    rotation,
    schemas,
    selectors,
    services,
)
from .models import DataSource, ProvisioningRun

router = Router(tags=["数据源"])
registry_router = Router(tags=["租户注册表"], auth=registry_auth)

register_labels(
    {
        **services.field_labels(),
        "to": "实施状态",
        "cursor": "游标",
        "changed_since": "变更起始时间",
        "limit": "每页条数",
        "tables": "数据表",
        "admin_username": "管理账号",
        "admin_password": "管理账号密码",
    }
)

Status_ = DataSource.ImplStatus
STATUS_CODES = selectors.IMPL_STATUS_CODES
STATUS_BY_CODE = {code: status for status, code in STATUS_CODES.items()}
ImplStatusCode = Literal["not_started", "in_progress", "online"]
_STATUS_DOC = "`not_started` 未实施、`in_progress` 实施中、`online` 已上线"


# --- Schemas -----------------------------------------------------------------------------


class DataSourceIn(StrictInput):
    """What devops types. 数据源名称和数据库名称由系统生成；保存后不可修改。"""

    multiline = frozenset({"remarks"})

    host: str | None = Field(
        None, description="数据库地址（内网 IP 或主机名）", examples=["10.0.3.12"]
    )
    port: int | None = Field(None, description="端口", examples=[3306])
    db_type: Literal["mysql", "postgresql"] | None = Field(
        None, description="数据源类型：`mysql`（默认，含 MariaDB）或 `postgresql`"
    )
    username: str | None = Field(None, description="账号（不可为 root、postgres 等超级账号）")
    password: str | None = Field(
        None,
        description="密码：至少 8 位，含大写字母、数字和特殊字符；只写，任何接口都不会返回",
    )
    max_connections: int | None = Field(None, description="最大连接数（> 0）", examples=[20])
    min_connections: int | None = Field(None, description="最小连接数（> 0，≤ 最大连接数）")
    remarks: str | None = Field(None, description="备注")


class StatusIn(StrictInput):
    to: Literal["in_progress", "online"] = Field(
        ..., description="推进到的实施状态（只能逐级向前：未实施 → 实施中 → 已上线）"
    )


class DeleteIn(StrictInput):
    confirm_name: str = Field(..., description="确认：输入数据源名称，如 DS-HGJ100001-1")


class DataSourceOut(Schema):
    """运营角色只得到状态字段；连接信息（名称、地址、账号、数据库等）只返回给有数据源管理
    权限的开发运维和系统管理员。密码任何时候都不返回。"""

    id: int
    db_type: str = Field(..., description="数据源类型：`mysql` 或 `postgresql`")
    db_type_label: str = Field(..., description="数据源类型名称")
    impl_status: ImplStatusCode = Field(..., description=f"实施状态：{_STATUS_DOC}")
    impl_status_label: str = Field(..., description="实施状态名称")
    next_status: ImplStatusCode | None = Field(
        None, description="可推进到的下一个实施状态；已上线为 null"
    )
    deletable: bool = Field(..., description="是否可删除（仅「未实施」）")
    configured_at: LocalDateTime = Field(..., description="配置时间")
    configured_by: StaffRef | None = Field(None, description="配置人")
    name: str | None = Field(None, description="数据源名称（系统生成；仅管理权限）")
    database: str | None = Field(None, description="数据库名称（系统生成；仅管理权限）")
    host: str | None = Field(None, description="数据库地址（仅管理权限）")
    port: int | None = Field(None, description="端口（仅管理权限）")
    username: str | None = Field(None, description="账号（仅管理权限）")
    max_connections: int | None = Field(None, description="最大连接数（仅管理权限）")
    min_connections: int | None = Field(None, description="最小连接数（仅管理权限）")
    remarks: str | None = Field(None, description="备注（仅管理权限）")
    server_version: str | None = Field(None, description="配置时的服务器版本（仅管理权限）")
    database_created: bool | None = Field(
        None, description="数据库是否由平台创建（删除数据源时只删除平台创建的库；仅管理权限）"
    )
    schema_version: str | None = Field(
        None, description="租户库的表结构版本（平台最近一次读到的；仅管理权限）"
    )
    schema_state: Literal["current", "behind", "drift", "unknown"] | None = Field(
        None,
        description=(
            "`current` 最新、`behind` 落后、`drift` 版本漂移、`unknown` 未检查（仅管理权限）"
        ),
    )


class FindingOut(Schema):
    code: str = Field(..., examples=["reachable"])
    level: Literal["ok", "warn", "error"] = Field(
        ..., description="ok 通过、warn 提示、error 不通过"
    )
    message: str = Field(..., examples=["已连接 10.0.3.12:3306（12 毫秒）"])


class CheckOut(Schema):
    """检测连接的报告（不保存任何内容）。"""

    ok: bool = Field(..., description="是否通过（无不通过项）")
    summary: str
    db_type: str
    address: str
    username: str
    name: str = Field(..., description="保存时预计生成的数据源名称")
    database: str = Field(..., description="保存时预计生成的数据库名称")
    server_version: str
    charset: str
    database_exists: bool | None
    database_tables: int | None
    server_max_connections: int | None
    pools_configured: int = Field(..., description="该服务器上已配置的连接池上限合计")
    max_pool: int
    elapsed_ms: int
    findings: list[FindingOut]


class StepOut(Schema):
    code: str = Field(..., examples=["create_database"])
    label: str = Field(..., examples=["创建数据库"])
    status: Literal["ok", "failed", "skipped", "running", "pending", "not_run"] = Field(
        ...,
        description=(
            "`ok` 完成、`failed` 失败、`skipped` 跳过、`running` 进行中、`pending` 等待、"
            "`not_run` 未执行（配置已结束）"
        ),
    )
    message: str
    ms: int | None = Field(None, description="耗时（毫秒）")


class RunOut(Schema):
    """一次数据源配置（配置记录）。排队中和进行中时轮询本资源即可看到各步骤的进展。"""

    id: int
    status: Literal["queued", "running", "succeeded", "failed"] = Field(
        ..., description="`queued` 排队中、`running` 进行中、`succeeded` 成功、`failed` 失败"
    )
    status_label: str
    name: str = Field(..., description="数据源名称（系统生成）", examples=["DS-HGJ100001-1"])
    database: str = Field(..., description="数据库名称（系统生成）")
    db_type: str
    host: str
    port: int
    username: str
    attempts: int = Field(..., description="执行次数（重试会增加）")
    failed_step: str = Field("", description="失败的步骤代码；未失败时为空")
    message: str = Field("", description="结果说明；失败时说明原因和清理情况")
    steps: list[StepOut]
    started_at: LocalDateTime
    started_by: StaffRef | None = None
    finished_at: LocalDateTime | None = None
    retryable: bool = Field(..., description="可以重试（失败且保留了输入，未清理）")
    cleanable: bool = Field(..., description="可以清理（失败且保留了密码或在服务器上留有内容）")
    leftovers: bool = Field(..., description="租户服务器上留有本次配置创建的内容")
    cleaned_at: LocalDateTime | None = Field(None, description="清理时间")
    datasource_id: int | None = Field(None, description="成功后保存的数据源")


class ProbeOut(Schema):
    database_exists: bool
    tables: list[str]
    tables_with_rows: list[str] = Field(..., description="有数据的表（不含元数据表）")
    has_data: bool
    communities_online: int | None = Field(None, description="已上线小区数；无小区表时为 null")


class RegistryDataSource(Schema):
    name: str = Field(..., examples=["DS-HGJ100001-1"])
    type: Literal["mysql", "postgresql"]
    host: str = Field(..., examples=["10.0.3.12"])
    port: int = Field(..., examples=[3306])
    database: str = Field(..., examples=["hgj100001_1"])
    username: str
    password: str = Field(..., description="明文密码（仅此接口返回）")
    min_connections: int
    max_connections: int
    impl_status: ImplStatusCode = Field(..., description=f"实施状态：{_STATUS_DOC}")


class RegistryLimits(Schema):
    accounts: int | None = Field(None, description="账号数上限（null 为不限）")
    communities: int | None = Field(
        None, description="小区数上限：套餐的上限，合同授权小区数更大时以合同为准（null 为不限）"
    )


class RegistryService(Schema):
    state: one_of(ServiceState.values) | None = Field(  # type: ignore[valid-type]
        None,
        description="服务状态：trial 试用中、active 服务中、grace 宽限期、suspended 已停用、"
        "closed 已关闭；未开通为 null",
    )
    ends_on: str | None = Field(None, description="当前状态的截止日（YYYY-MM-DD；未定为 null）")
    package: str | None = Field(None, description="套餐名称（按模块开通的为 null）")
    modules: list[str] = Field(..., description="可用模块（有套餐时为套餐的模块）")
    limits: RegistryLimits


class RegistryOut(Schema):
    enterprise_no: str = Field(..., examples=["HGJ100001"])
    name: str = Field(..., description="企业名称")
    status: Literal["open", "closed", "not_opened"] = Field(
        ..., description="客户状态：open 开通，closed 关闭，not_opened 未开通"
    )
    modules: list[str] = Field(..., description="已开通模块")
    schema_version: str | None = Field(
        None, description="租户库的表结构版本（平台最近一次读到的；未读到过为 null）"
    )
    service: RegistryService
    datasource: RegistryDataSource


class RegistryFeedItem(Schema):
    enterprise_no: str = Field(..., examples=["HGJ100001"])
    name: str = Field(..., description="企业名称")
    removed: bool = Field(
        ..., description="true：该租户的数据源已删除，已不在注册表中（仅含企业号、名称、时间）"
    )
    changed_at: str = Field(..., description="最近一次变更时间（ISO 8601）")
    etag: str | None = Field(None, description="与单个租户接口的 ETag 相同")
    status: Literal["open", "closed", "not_opened"] | None = None
    modules: list[str] | None = None
    schema_version: str | None = None
    service: RegistryService | None = None
    datasource: RegistryDataSource | None = None


class RegistryFeedOut(Schema):
    items: list[RegistryFeedItem]
    next_cursor: str = Field(..., description="下一页（或下一次增量同步）的游标")
    has_more: bool = Field(
        ..., description="false：已读到当前最新；保存 next_cursor 供下次增量同步"
    )


class RegistryFeedQuery(Input):
    cursor: str | None = Field(None, max_length=64, description="上一页返回的 next_cursor")
    changed_since: str | None = Field(
        None, max_length=40, description="只列出此时间（ISO 8601）及以后变更的租户"
    )
    limit: int = Field(feed.DEFAULT_LIMIT, ge=1, le=feed.MAX_LIMIT, description="每页条数")


# --- Helpers -----------------------------------------------------------------------------


def datasource_out(ds: DataSource, *, full: bool) -> dict[str, Any]:
    """The answer for one data source: status fields for everyone who may see it,
    connection details (never the password) only with ``full``."""
    current = Status_(ds.impl_status)
    nxt = Status_(current + 1) if current < Status_.ONLINE else None
    data: dict[str, Any] = {
        "id": ds.pk,
        "db_type": ds.db_type,
        "db_type_label": str(ds.get_db_type_display()),
        "impl_status": STATUS_CODES[current],
        "impl_status_label": str(current.label),
        "next_status": STATUS_CODES[nxt] if nxt is not None else None,
        "deletable": ds.deletable,
        "configured_at": ds.configured_at,
        "configured_by": ds.configured_by if ds.configured_by_id else None,
    }
    if full:
        for name in (
            "name",
            "database",
            "host",
            "port",
            "username",
            "max_connections",
            "min_connections",
            "remarks",
            "server_version",
            "database_created",
        ):
            data[name] = getattr(ds, name)
        schema = schemas.schema_view(ds)
        data["schema_version"] = schema.version if schema.known else None
        data["schema_state"] = schema.state
    return data


def _datasource(request: HttpRequest, id: int, *, perm: str = selectors.VIEW) -> DataSource:
    require_perm(request.user, perm)
    customer = access_customer(request.user, id)
    ds = selectors.datasource_of(user=request.user, customer=customer)
    if ds is None:
        raise NotFound("暂未配置数据源", code=ErrorCode.DATASOURCE_NOT_CONFIGURED)
    return ds


def run_out(run: ProvisioningRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": str(run.get_status_display()),
        "name": run.name,
        "database": run.database,
        "db_type": run.db_type,
        "host": run.host,
        "port": run.port,
        "username": run.username,
        "attempts": run.attempts,
        "failed_step": run.failed_step,
        "message": run.message,
        "steps": provisioning.run_progress(run),
        "started_at": run.started_at,
        "started_by": run.started_by if run.started_by_id else None,
        "finished_at": run.finished_at,
        "retryable": run.retryable,
        "cleanable": run.cleanable,
        "leftovers": bool(run.footprint),
        "cleaned_at": run.cleaned_at,
        "datasource_id": run.datasource_id,
    }


def _run(request: HttpRequest, id: int, run_id: int) -> tuple[Any, ProvisioningRun]:
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
    return customer, run


def _accepted(request: HttpRequest, response: HttpResponse, customer, run: ProvisioningRun):
    """202 with the run, and where to follow it (``Location``)."""
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run.pk)
    response["Location"] = f"/api/v1/customers/{customer.pk}/datasource/runs/{run.pk}"
    return Status(202, run_out(run))


def _input(payload: DataSourceIn) -> dict[str, Any]:
    return {k: v for k, v in payload.model_dump().items() if v is not None}


# --- Endpoints ---------------------------------------------------------------------------


@router.get(
    "customers/{id}/datasource",
    response={200: DataSourceOut, **errors(401, 403, 404)},
    exclude_unset=True,
    summary="客户的数据源",
    description=(
        "未配置时返回 404（`code` 为 `datasource_not_configured`）。运营角色只得到状态字段；"
        "开发运维和系统管理员另得到连接信息。密码从不返回。"
    ),
)
def get_datasource(request: HttpRequest, id: int):
    ds = _datasource(request, id)
    return datasource_out(ds, full=has_perm(request.user, selectors.MANAGE))


@router.post(
    "customers/{id}/datasource",
    response={202: RunOut, **errors(401, 403, 404, 409, 422)},
    summary="配置数据源（排队执行：检测 → 建库 → 初始化表结构 → 验证 → 保存）",
    description=(
        "输入检查通过后，配置交给任务进程在后台执行，立即返回 202 和配置记录（`Location` "
        "指向它）；轮询 `GET …/datasource/runs/{run_id}` 查看各步骤，`status` 为 "
        "`succeeded` 时数据源已保存，为 `failed` 时 `message` 说明失败的步骤和原因，本次"
        "创建的内容已清理，未保存任何配置。已配置返回 409（`datasource_exists`），已有配置"
        "正在排队或执行返回 409（`provisioning_in_progress`）；输入有误返回 422"
        "（`validation_error`，`fields` 标出字段）。保存后不可修改。"
    ),
)
def configure_datasource(
    request: HttpRequest, response: HttpResponse, id: int, payload: DataSourceIn
):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    run = services.datasource_queue(actor=request.user, customer=customer, data=_input(payload))
    return _accepted(request, response, customer, run)


@router.get(
    "customers/{id}/datasource/runs",
    response={200: list[RunOut], **errors(401, 403, 404)},
    summary="数据源配置记录（最近 20 次）",
)
def list_runs(request: HttpRequest, id: int):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    runs = selectors.provisioning_runs(user=request.user, customer=customer, limit=20)
    return [run_out(run) for run in runs]


@router.get(
    "customers/{id}/datasource/runs/{run_id}",
    response={200: RunOut, **errors(401, 403, 404)},
    summary="一次数据源配置的状态和各步骤",
)
def get_run(request: HttpRequest, id: int, run_id: int):
    _customer, run = _run(request, id, run_id)
    return run_out(run)


@router.post(
    "customers/{id}/datasource/runs/{run_id}/retry",
    response={202: RunOut, **errors(401, 403, 404, 409)},
    summary="重试失败的配置",
    description=(
        "用该次配置保留的输入重新排队执行（`attempts` 加 1），从已记录的步骤继续：任务进程"
        "中断时已创建的数据库沿用、已完成的表结构不重复执行。已清理、未失败、客户已有数据源"
        "或已有配置在执行时返回 409。"
    ),
)
def retry_run(request: HttpRequest, response: HttpResponse, id: int, run_id: int):
    customer, run = _run(request, id, run_id)
    run = services.datasource_retry(actor=request.user, customer=customer, run_id=run.pk)
    return _accepted(request, response, customer, run)


@router.post(
    "customers/{id}/datasource/runs/{run_id}/cleanup",
    response={200: RunOut, **errors(401, 403, 404, 409)},
    summary="清理失败的配置",
    description=(
        "删除该次配置在租户服务器上创建的内容（它创建的数据库，或它在已有数据库中创建的表）"
        "和保留的密码；之后不能再重试。服务器连不上时返回 409（`cleanup_failed`），记录不变。"
    ),
)
def cleanup_run(request: HttpRequest, id: int, run_id: int):
    customer, run = _run(request, id, run_id)
    services.datasource_cleanup(actor=request.user, customer=customer, run_id=run.pk)
    return run_out(selectors.provisioning_run(user=request.user, customer=customer, run_id=run.pk))


@router.post(
    "customers/{id}/datasource/check",
    response={200: CheckOut, **errors(401, 403, 404, 409, 422)},
    summary="检测连接（不保存）",
    description=(
        "用填写的连接信息检测：能否连接、服务器版本、字符集、账号权限是否过大、数据库是否已存在"
        "且有表、连接数预算。返回每一项的结果；不通过时 `ok` 为 false。"
    ),
)
def check_datasource(request: HttpRequest, id: int, payload: DataSourceIn):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    report = services.datasource_check(actor=request.user, customer=customer, data=_input(payload))
    name, _database = services.peek_names(customer)
    return {**report.as_dict(), "name": name}


@router.post(
    "customers/{id}/datasource/status",
    response={200: DataSourceOut, **errors(401, 403, 404, 409, 422)},
    exclude_unset=True,
    summary="推进实施状态",
    description="只能逐级向前（未实施 → 实施中 → 已上线）；其他变更返回 409。",
)
def advance_datasource(request: HttpRequest, id: int, payload: StatusIn):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    ds = services.datasource_advance(
        actor=request.user, datasource=ds, to_status=int(STATUS_BY_CODE[payload.to])
    )
    ds = selectors.access_datasource(request.user, ds.pk, perm=selectors.MANAGE)
    return datasource_out(ds, full=True)


@router.delete(
    "customers/{id}/datasource",
    response={204: None, **errors(401, 403, 404, 409, 422)},
    summary="删除数据源",
    description=(
        "仅「未实施」可删除，且须输入数据源名称确认；检测到租户数据库有数据时拒绝（409）。"
        "平台创建的租户数据库一并删除。数据源名称和数据库名称不再复用。"
    ),
)
def delete_datasource(request: HttpRequest, id: int, payload: DeleteIn):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    services.datasource_delete(actor=request.user, datasource=ds, confirm_name=payload.confirm_name)
    return Status(204, None)


@router.get(
    "customers/{id}/datasource/probe",
    response={200: ProbeOut, **errors(401, 403, 404, 409)},
    summary="检测数据（租户数据库中哪些表有数据、已上线小区数）",
)
def probe_datasource(request: HttpRequest, id: int):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    return services.datasource_probe(actor=request.user, datasource=ds).as_dict()


# --- 清空数据表 ------------------------------------------------------------------------------


class TableOut(Schema):
    table: str = Field(..., description="表名（PostgreSQL 非 public 模式的表为 `模式.表名`）")
    rows: int = Field(..., description="当前行数")
    references: list[str] = Field(..., description="它引用的表")
    referenced_by: list[str] = Field(..., description="引用它的表（须一并清空）")


class ClearIn(StrictInput):
    tables: list[str] = Field(..., description="要清空的表名", examples=[["bills", "notes"]])
    confirm_name: str = Field(..., description="确认：输入数据源名称，如 DS-HGJ100001-1")


ClearingStatus = Literal[
    "queued", "running", "cleared", "failed", "restore_queued", "restoring", "restored", "expired"
]


class ClearedTableOut(Schema):
    table: str
    rows: int = Field(..., description="申请时的行数")
    cleared: int | None = Field(None, description="清空（并备份）的行数")


class ClearingOut(Schema):
    id: int
    status: ClearingStatus = Field(
        ...,
        description="状态：`queued` 排队中、`running` 清空中、`cleared` 已清空、"
        "`failed` 失败、`restore_queued` 等待恢复、`restoring` 恢复中、`restored` 已恢复、"
        "`expired` 备份已过期删除",
    )
    status_label: str
    tables: list[ClearedTableOut]
    message: str = Field(..., description="失败原因")
    started_at: LocalDateTime
    started_by: StaffRef | None = None
    cleared_at: LocalDateTime | None = None
    expires_at: LocalDateTime | None = Field(None, description="备份保留至（之前可以恢复）")
    restored_at: LocalDateTime | None = None
    restored_by: StaffRef | None = None


def clearing_out(c: Any) -> dict[str, Any]:
    return {
        "id": c.pk,
        "status": c.status,
        "status_label": str(c.get_status_display()),
        "tables": [
            {"table": t["table"], "rows": t.get("rows", 0), "cleared": t.get("cleared")}
            for t in c.tables
        ],
        "message": c.message,
        "started_at": c.started_at,
        "started_by": c.started_by if c.started_by_id else None,
        "cleared_at": c.cleared_at,
        "expires_at": c.expires_at,
        "restored_at": c.restored_at,
        "restored_by": c.restored_by if c.restored_by_id else None,
    }


@router.get(
    "customers/{id}/datasource/tables",
    response={200: list[TableOut], **errors(401, 403, 404, 409)},
    summary="可清空的数据表（实施中）",
    description="租户库的业务表及行数、外键；平台的记录表（如 schema_version）不在其中。",
)
def list_tables(request: HttpRequest, id: int):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    return [
        {
            "table": t.label,
            "rows": t.rows,
            "references": list(t.references),
            "referenced_by": list(t.referenced_by),
        }
        for t in clearing.clearable_tables(actor=request.user, datasource=ds)
    ]


@router.post(
    "customers/{id}/datasource/clearings",
    response={202: ClearingOut, **errors(401, 403, 404, 409, 422)},
    summary="清空数据表",
    description=(
        "仅「实施中」。须输入数据源名称确认；被未选择的表引用的表不能单独清空（422）。"
        "数据先备份在租户库服务器上再在一个事务中清空，由工作进程执行；"
        "备份保留 `TENANT_CLEAR_RETENTION_DAYS` 天，期间可以恢复。"
    ),
)
def clear_tables(request: HttpRequest, response: HttpResponse, id: int, payload: ClearIn):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    record = clearing.clearing_request(
        actor=request.user, datasource=ds, tables=payload.tables, confirm_name=payload.confirm_name
    )
    response["Location"] = f"/api/v1/customers/{ds.customer_id}/datasource/clearings/{record.pk}"
    return Status(202, clearing_out(record))


@router.get(
    "customers/{id}/datasource/clearings",
    response={200: list[ClearingOut], **errors(401, 403, 404)},
    summary="清空数据表记录（最近 20 条）",
)
def list_clearings(request: HttpRequest, id: int):
    customer = access_customer(request.user, id)
    return [
        clearing_out(c)
        for c in selectors.table_clearings(user=request.user, customer=customer, limit=20)
    ]


@router.get(
    "customers/{id}/datasource/clearings/{clearing_id}",
    response={200: ClearingOut, **errors(401, 403, 404)},
    summary="一条清空数据表记录",
)
def get_clearing(request: HttpRequest, id: int, clearing_id: int):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    return clearing_out(
        selectors.table_clearing(user=request.user, customer=customer, clearing_id=clearing_id)
    )


@router.post(
    "customers/{id}/datasource/clearings/{clearing_id}/restore",
    response={202: ClearingOut, **errors(401, 403, 404, 409)},
    summary="恢复清空的数据表",
    description="备份保留期内、数据源仍为「实施中」时可以恢复；由工作进程执行，成功后删除备份。",
)
def restore_clearing(request: HttpRequest, id: int, clearing_id: int):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    record = selectors.table_clearing(user=request.user, customer=customer, clearing_id=clearing_id)
    return Status(202, clearing_out(clearing.clearing_restore(actor=request.user, clearing=record)))


# --- 迁移数据源 -----------------------------------------------------------------------------


class RelocationTableOut(Schema):
    table: str
    rows: int = Field(..., description="开始复制时的行数")
    copied: int = Field(..., description="已复制行数")


class RelocationOut(Schema):
    id: int
    status: Literal["queued", "running", "succeeded", "failed"] = Field(
        ...,
        description="状态：`queued` 排队中、`running` 进行中、`succeeded` 已切换、`failed` 失败",
    )
    status_label: str
    source_name: str = Field(..., description="原数据源名称")
    name: str = Field(..., description="新数据源名称")
    database: str = Field(..., description="新数据库名称")
    host: str
    port: int
    username: str
    version: str = Field(..., description="迁移时的表结构版本")
    steps: list[StepOut]
    tables: list[RelocationTableOut]
    copied_rows: int
    percent: int = Field(..., description="复制进度（%）")
    copy_ms: int | None = Field(None, description="复制耗时（毫秒）")
    failed_step: str
    message: str
    started_at: LocalDateTime
    started_by: StaffRef | None = None
    finished_at: LocalDateTime | None = None
    datasource_id: int | None = Field(None, description="切换后的新数据源")


class GenerationOut(Schema):
    id: int
    generation: int = Field(..., description="代次")
    name: str
    database: str
    host: str
    port: int
    username: str
    reason: Literal["relocation", "rotation"] = Field(..., description="替换原因")
    replaced_by_name: str = Field(..., description="替换为的数据源")
    retired_at: LocalDateTime
    read_only: bool = Field(..., description="旧库是否已设为只读")
    removed_at: LocalDateTime | None = Field(None, description="旧库删除时间（null：保留中）")
    removal_note: str


def relocation_out(m: Any) -> dict[str, Any]:
    return {
        "id": m.pk,
        "status": m.status,
        "status_label": str(m.get_status_display()),
        "source_name": m.source_name,
        "name": m.name,
        "database": m.database,
        "host": m.host,
        "port": m.port,
        "username": m.username,
        "version": m.version,
        "steps": relocation.relocation_progress(m),
        "tables": [
            {"table": t["table"], "rows": t.get("rows", 0), "copied": t.get("copied", 0)}
            for t in m.tables
        ],
        "copied_rows": m.copied_rows,
        "percent": m.percent,
        "copy_ms": m.copy_ms,
        "failed_step": m.failed_step,
        "message": m.message,
        "started_at": m.started_at,
        "started_by": m.started_by if m.started_by_id else None,
        "finished_at": m.finished_at,
        "datasource_id": m.datasource_id,
    }


@router.post(
    "customers/{id}/datasource/relocations",
    response={202: RelocationOut, **errors(401, 403, 404, 409, 422)},
    summary="迁移数据源（独立部署）",
    description=(
        "目标服务器的地址、账号、密码与连接数，按新数据源检测；数据源类型须与原来相同。"
        "由工作进程检测、建库、按当前表结构版本初始化、逐表复制、校验后一次性切换；"
        "失败时租户继续使用原数据库。进度见 `Location`。"
    ),
)
def relocate_datasource(
    request: HttpRequest, response: HttpResponse, id: int, payload: DataSourceIn
):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    move = relocation.relocation_request(actor=request.user, datasource=ds, data=_input(payload))
    response["Location"] = f"/api/v1/customers/{ds.customer_id}/datasource/relocations/{move.pk}"
    move = selectors.relocation(user=request.user, customer=ds.customer, relocation_id=move.pk)
    return Status(202, relocation_out(move))


@router.get(
    "customers/{id}/datasource/relocations",
    response={200: list[RelocationOut], **errors(401, 403, 404)},
    summary="迁移记录（最近 20 条）",
)
def list_relocations(request: HttpRequest, id: int):
    customer = access_customer(request.user, id)
    return [
        relocation_out(m)
        for m in selectors.relocations(user=request.user, customer=customer, limit=20)
    ]


@router.get(
    "customers/{id}/datasource/relocations/{relocation_id}",
    response={200: RelocationOut, **errors(401, 403, 404)},
    summary="一次迁移的进度",
)
def get_relocation(request: HttpRequest, id: int, relocation_id: int):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    return relocation_out(
        selectors.relocation(user=request.user, customer=customer, relocation_id=relocation_id)
    )


@router.get(
    "customers/{id}/datasource/generations",
    response={200: list[GenerationOut], **errors(401, 403, 404)},
    summary="历代数据源（被迁移或轮换替换的）",
)
def list_generations(request: HttpRequest, id: int):
    customer = access_customer(request.user, id)
    return list(selectors.retired_datasources(user=request.user, customer=customer))


@router.post(
    "customers/{id}/datasource/generations/{generation_id}/remove",
    response={200: GenerationOut, **errors(401, 403, 404, 409, 422)},
    summary="删除旧库",
    description=(
        "须输入旧数据源名称确认。先检测旧库：无法连接或切换后有写入时拒绝（409）。"
        "旧库由平台创建时删除数据库，否则只删除平台保存的密码。"
    ),
)
def remove_generation(request: HttpRequest, id: int, generation_id: int, payload: DeleteIn):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    retired = selectors.retired_datasource(
        user=request.user, customer=customer, retired_id=generation_id
    )
    return relocation.retired_remove(
        actor=request.user, retired=retired, confirm_name=payload.confirm_name
    )


# --- 轮换账号 -------------------------------------------------------------------------------


class RotationIn(StrictInput):
    admin_username: str = Field(
        ..., description="数据库服务器的管理账号（MySQL 需 CREATE USER，PostgreSQL 需 CREATEROLE）"
    )
    admin_password: str = Field(
        "", description="管理账号密码：只写；加密保存到旧账号停用为止，之后删除"
    )


class RotationOut(Schema):
    id: int
    status: Literal["queued", "running", "switched", "done", "failed"] = Field(
        ...,
        description="状态：`queued` 排队中、`running` 进行中、`switched` 已切换（旧账号保留中）、"
        "`done` 已完成（旧账号已停用）、`failed` 失败",
    )
    status_label: str
    source_name: str
    name: str = Field(..., description="新数据源名称")
    old_username: str
    new_username: str
    steps: list[StepOut]
    failed_step: str
    message: str
    grace_until: LocalDateTime | None = Field(None, description="旧账号保留至")
    retired_note: str = Field(..., description="旧账号如何停用")
    started_at: LocalDateTime
    started_by: StaffRef | None = None
    finished_at: LocalDateTime | None = None


def rotation_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.pk,
        "status": r.status,
        "status_label": str(r.get_status_display()),
        "source_name": r.source_name,
        "name": r.name,
        "old_username": r.old_username,
        "new_username": r.new_username,
        "steps": rotation.rotation_progress(r),
        "failed_step": r.failed_step,
        "message": r.message,
        "grace_until": r.grace_until,
        "retired_note": r.retired_note,
        "started_at": r.started_at,
        "started_by": r.started_by if r.started_by_id else None,
        "finished_at": r.finished_at,
    }


@router.post(
    "customers/{id}/datasource/rotations",
    response={202: RotationOut, **errors(401, 403, 404, 409, 422)},
    summary="轮换账号",
    description=(
        "用数据库管理员账号为租户新建账号（权限相同、密码由平台生成），验证后注册表改用新账号；"
        "旧账号保留 `ROTATION_GRACE_SECONDS` 秒后自动停用。新密码只经租户注册表下发。"
    ),
)
def rotate_credentials(request: HttpRequest, response: HttpResponse, id: int, payload: RotationIn):
    ds = _datasource(request, id, perm=selectors.MANAGE)
    record = rotation.rotation_request(
        actor=request.user,
        datasource=ds,
        admin_username=payload.admin_username,
        admin_password=payload.admin_password,
    )
    response["Location"] = f"/api/v1/customers/{ds.customer_id}/datasource/rotations/{record.pk}"
    return Status(202, rotation_out(record))


@router.get(
    "customers/{id}/datasource/rotations",
    response={200: list[RotationOut], **errors(401, 403, 404)},
    summary="轮换记录（最近 20 条）",
)
def list_rotations(request: HttpRequest, id: int):
    customer = access_customer(request.user, id)
    return [
        rotation_out(r) for r in selectors.rotations(user=request.user, customer=customer, limit=20)
    ]


@router.get(
    "customers/{id}/datasource/rotations/{rotation_id}",
    response={200: RotationOut, **errors(401, 403, 404)},
    summary="一次轮换的进度",
)
def get_rotation(request: HttpRequest, id: int, rotation_id: int):
    require_perm(request.user, selectors.MANAGE)
    customer = access_customer(request.user, id)
    return rotation_out(
        selectors.rotation(user=request.user, customer=customer, rotation_id=rotation_id)
    )


# --- Registry ----------------------------------------------------------------------------


def _not_modified(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2).
    return any(tag.removeprefix("W/") == etag for tag in parse_etags(header))


def _conditional(
    request: HttpRequest, etag: str, body: Callable[[], str]
) -> tuple[str, HttpResponse]:
    """A registry answer: 304 when ``If-None-Match`` names ``etag`` (``body`` is not even
    built: no password decrypted), else the JSON ``body()``; never cached on the way.
    Returns the outcome the read is counted under, and the response."""
    if _not_modified(request.headers.get("If-None-Match"), etag):
        outcome, response = "not_modified", HttpResponse(status=304)
    else:
        outcome = "ok"
        response = HttpResponse(body(), content_type="application/json; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = "no-store, private"
    return outcome, response


@registry_router.get(
    "registry/tenants",
    response={200: RegistryFeedOut, 304: None, **errors(401, 403, 422)},
    summary="租户注册表：分页列出全部租户，或增量同步变更",
    description=(
        "仅接受 `registry` 范围的 API 令牌。按最近一次变更的先后排序：不带参数从头列出全部"
        "租户；带 `cursor`（上一页的 `next_cursor`）继续；带 `changed_since` 只列出该时间及"
        "以后变更的租户。`has_more` 为 false 时已到最新，保存 `next_cursor`，下次用它只取"
        "此后的变更（含 `removed: true` 的已删除租户）。遍历期间变更的租户会在后面再次出现"
        "（最新的内容），不会漏掉。每项与单个租户接口相同（含明文密码），另有 `etag`、"
        "`changed_at`、`removed`。支持 `ETag` / `If-None-Match`（未变化返回 304）。"
    ),
)
def registry_feed(request: HttpRequest, query: Query[RegistryFeedQuery]):
    if query.cursor and query.changed_since:
        message = "cursor 与 changed_since 只能指定一个"
        raise ValidationFailed(message, fields={"changed_since": [message]})
    page = feed.page(
        cursor=feed.Cursor.decode(query.cursor) if query.cursor else None,
        changed_since=feed.parse_changed_since(query.changed_since)
        if query.changed_since
        else None,
        limit=query.limit,
    )
    outcome, response = _conditional(request, page.etag, page.body)
    services.registry_read_recorded(
        token=request.api_token,
        enterprise_no=registry_reads.LIST_KEY,
        name="注册表列表",
        outcome=outcome,
    )
    return response


@registry_router.get(
    "registry/tenants/{enterprise_no}",
    response={200: RegistryOut, 304: None, **errors(401, 403, 404)},
    summary="租户注册表：租户的数据库连接（业务系统使用）",
    description=(
        "仅接受 `registry` 范围的 API 令牌（未认证或会话返回 401，其他范围的令牌返回 "
        "403）。返回连接信息（含明文密码）、连接池上限、实施状态、客户状态和已开通模块。"
        "支持 `ETag` / `If-None-Match`（未变化返回 304）；"
        "`Cache-Control: no-store, private`。未知租户或尚未配置数据源返回 404。"
        "读取按令牌和租户汇总记入操作日志（次数、首次和最近读取时间；不含密码）。"
    ),
)
def registry_tenant(request: HttpRequest, enterprise_no: str):
    token = request.api_token
    entry = selectors.registry_entry(enterprise_no)
    if entry is None:
        services.registry_read_recorded(
            token=token, enterprise_no=enterprise_no.strip().upper(), outcome="not_found"
        )
        raise NotFound("未找到该租户，或该租户尚未配置数据源", code=ErrorCode.TENANT_NOT_FOUND)
    outcome, response = _conditional(
        request,
        entry.etag,
        lambda: json.dumps(entry.payload(), ensure_ascii=False, separators=(",", ":")),
    )
    services.registry_read_recorded(
        token=token,
        enterprise_no=entry.public["enterprise_no"],
        name=entry.public["name"],
        outcome=outcome,
    )
    return response
