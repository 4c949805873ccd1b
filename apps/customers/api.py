"""REST endpoints for customers (/api/v1/customers…). Thin: parse, call the selectors and
services that the console uses, shape the answer. Every rule lives in the services."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile

from apps.api.common import (
    AssignIn,
    LocalDateTime,
    PageMeta,
    PageQuery,
    StaffRef,
    StrictInput,
    errors,
    one_of,
    owner_from_id,
    paginate,
    renamed_fields,
    sort_keys,
    stream_scan,
)
from apps.api.errors import register_labels

from . import lifecycle, selectors, services
from .models import Customer, ServiceState

router = Router(tags=["客户"])

_MODULES_DOC = "、".join(f"`{code}` {label}" for code, label in settings.CUSTOMER_MODULES)

register_labels(
    {
        **{f.name: f.verbose_name for f in Customer._meta.concrete_fields},
        "owner_id": Customer._meta.get_field("owner").verbose_name,
        "modules": Customer._meta.get_field("modules").verbose_name,
        "reason": Customer._meta.get_field("close_reason").verbose_name,
        "file": "文件",
        "page": "页码",
        "page_size": "每页条数",
        "sort": "排序",
        "q": "关键词",
    }
)


def _label(name: str) -> str:
    return str(Customer._meta.get_field(name).verbose_name)


# --- Schemas -----------------------------------------------------------------------------

CustomerSort = sort_keys(selectors.SORTS)


class CustomerQuery(PageQuery):
    q: str = Field("", description="企业名称、联系人（包含）或企业号、营业执照号、联系电话（精确）")
    status: Literal["0", "1", "2"] | None = Field(
        None, description="状态：0 关闭（开通后关闭），1 开通，2 未开通（从未开通）"
    )
    service: one_of(ServiceState.values) | None = Field(  # type: ignore[valid-type]
        None,
        description="服务状态：trial 试用中、active 服务中、grace 宽限期、suspended 已停用、"
        "closed 已关闭",
    )
    province: str | None = Field(None, pattern=r"^\d{6}$", description="所属省份代码")
    owner: str | None = Field(
        None,
        pattern=r"^(none|me|\d+)$",
        description="负责人：员工 id，`none` 未分配（公海），`me` 本人",
    )
    sort: CustomerSort = Field("-created", description="排序字段，前缀 `-` 为倒序")


class CustomerRef(Schema):
    """A customer as other records name it (a contract's, a lead's)."""

    id: int
    enterprise_no: str = Field(..., description="企业号")
    name: str = Field(..., description="企业名称")


class CustomerListItem(Schema):
    id: int
    enterprise_no: str = Field(..., description="企业号")
    license_no: str | None = Field(None, description="营业执照号（统一社会信用代码）")
    name: str = Field(..., description="企业名称")
    province: str = Field(..., description="所属省份（GB/T 2260 代码）")
    province_name: str = Field(..., description="所属省份名称")
    city: str = Field(..., description="所属城市（GB/T 2260 代码）")
    city_name: str = Field(..., description="所属城市名称")
    address: str = Field(..., description="企业详细地址")
    office_phone: str = Field(..., description="办公电话")
    email: str = Field(..., description="邮箱")
    contact_name: str = Field(..., description="联系人")
    contact_phone: str = Field(..., description="联系电话")
    status: int = Field(..., description="状态：0 关闭（开通后关闭），1 开通，2 未开通（从未开通）")
    status_label: str = Field(..., description="状态名称")
    complete: bool = Field(..., description="资料是否已补全（开通、添加合同的前提）")
    owner: StaffRef | None = Field(None, description="负责人；为空表示未分配（公海）")
    activated_at: LocalDateTime | None = Field(None, description="开通时间")
    created_at: LocalDateTime = Field(..., description="创建时间")
    updated_at: LocalDateTime = Field(..., description="更新时间")

    @staticmethod
    def resolve_status_label(obj: Customer) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_complete(obj: Customer) -> bool:
        return not services.missing_profile_fields(obj)


class PackageRef(Schema):
    id: int
    name: str


class CustomerOut(CustomerListItem):
    full_address: str = Field(..., description="完整地址（省、市与详细地址）")
    intro: str = Field(..., description="企业简介")
    remarks: str = Field(..., description="备注")
    modules: list[str] = Field(..., description=f"已开通模块：{_MODULES_DOC}")
    package: PackageRef | None = Field(None, description="套餐（按模块开通的为 null）")
    service_state: str = Field(
        ..., description="服务状态：trial、active、grace、suspended、closed；未开通为空"
    )
    service_ends_on: dt.date | None = Field(None, description="当前服务状态的截止日")
    trial_ends_on: dt.date | None = Field(None, description="试用截止日")
    trial_extensions: int = Field(..., description="试用已延长次数")
    activated_by: StaffRef | None = Field(None, description="开通人")
    closed_at: LocalDateTime | None = Field(None, description="关闭时间")
    close_reason: str = Field(..., description="关闭原因")
    has_license_scan: bool = Field(..., description="是否已上传营业执照扫描件")
    license_scan_url: str | None = Field(None, description="营业执照扫描件的下载地址")

    @staticmethod
    def resolve_has_license_scan(obj: Customer) -> bool:
        return bool(obj.license_scan)

    @staticmethod
    def resolve_license_scan_url(obj: Customer) -> str | None:
        return f"/api/v1/customers/{obj.pk}/license-scan" if obj.license_scan else None


class CustomerPage(PageMeta):
    items: list[CustomerListItem]


class CustomerFields(StrictInput):
    """The editable profile; every field optional (a customer may be saved incomplete)."""

    multiline = frozenset({"intro", "remarks"})

    license_no: str | None = Field(None, description="营业执照号（18 位统一社会信用代码）")
    name: str | None = Field(None, description="企业名称")
    province: str | None = Field(None, description="所属省份（GB/T 2260 代码，如 110000）")
    city: str | None = Field(None, description="所属城市（GB/T 2260 代码，须属于所选省份）")
    address: str | None = Field(None, description="企业详细地址")
    office_phone: str | None = Field(None, description="办公电话，如 0755-12345678")
    email: str | None = Field(None, description="邮箱")
    intro: str | None = Field(None, description="企业简介")
    remarks: str | None = Field(None, description="备注")
    contact_name: str | None = Field(None, description="联系人")
    contact_phone: str | None = Field(None, description="联系电话（手机或座机）")


class CustomerCreate(CustomerFields):
    owner_id: int | None = Field(
        None,
        description=(
            "负责人的员工 id；省略时为创建人，null 表示放入公海（指定他人或公海需分配权限）"
        ),
    )


class ProfileFields(StrictInput):
    """The completeness gate's fields, to fill while activating."""

    license_no: str | None = Field(None, description="营业执照号")
    name: str | None = Field(None, description="企业名称")
    province: str | None = Field(None, description="所属省份代码")
    city: str | None = Field(None, description="所属城市代码")
    address: str | None = Field(None, description="企业详细地址")
    contact_name: str | None = Field(None, description="联系人")
    contact_phone: str | None = Field(None, description="联系电话")


class ActivateIn(StrictInput):
    package: int | None = Field(
        None, description="套餐 id（可选用的套餐）：客户获得套餐及其模块；给出时忽略 `modules`"
    )
    modules: list[str] | None = Field(
        None, description=f"不选套餐时开通的模块（至少一个）：{_MODULES_DOC}"
    )
    profile: ProfileFields | None = Field(
        None, description="同时补全的缺失资料（资料不全时必须补全所有缺失项）"
    )


class TrialIn(StrictInput):
    package: int = Field(..., description="套餐 id（可选用的套餐）")
    days: int | None = Field(None, description="试用天数（默认按配置，通常 30）")
    profile: ProfileFields | None = Field(None, description="同时补全的缺失资料")


class ExtendTrialIn(StrictInput):
    days: int | None = Field(None, description="延长天数（默认按配置，通常 15）")


class CloseIn(StrictInput):
    multiline = frozenset({"reason"})

    reason: str = Field(..., description="关闭原因（必填，最多 200 字）")


class MissingField(Schema):
    field: str = Field(..., examples=["license_no"])
    label: str = Field(..., examples=["营业执照号"])


class CompletenessOut(Schema):
    complete: bool
    missing: list[MissingField]


# --- Helpers -----------------------------------------------------------------------------


# --- Endpoints ---------------------------------------------------------------------------


@router.get(
    "customers",
    response={200: CustomerPage, **errors(401, 403, 422)},
    summary="客户列表",
)
def list_customers(request: HttpRequest, query: Query[CustomerQuery]):
    filters = selectors.CustomerFilters(
        q=query.q,
        status=query.status or "",
        service=query.service or "",
        province=query.province or "",
        owner=query.owner or "",
        sort=query.sort,
    )
    qs = selectors.customer_list(user=request.user, filters=filters)
    return paginate(qs, query)


@router.post(
    "customers",
    response={201: CustomerOut, **errors(401, 403, 422)},
    summary="新建客户（资料可不全）",
)
def create_customer(request: HttpRequest, payload: CustomerCreate):
    data = payload.model_dump(exclude_unset=True)
    kwargs = {}
    if "owner_id" in data:
        kwargs["owner"] = owner_from_id(data.pop("owner_id"))
    with renamed_fields({"owner": "owner_id"}):
        customer = services.customer_create(actor=request.user, data=data, **kwargs)
    return Status(201, customer)


@router.get(
    "customers/{id}",
    response={200: CustomerOut, **errors(401, 403, 404, 422)},
    summary="客户详情",
)
def get_customer(request: HttpRequest, id: int):
    return selectors.access_customer(request.user, id)


@router.patch(
    "customers/{id}",
    response={200: CustomerOut, **errors(401, 403, 404, 422)},
    summary="修改客户资料（只改提交的字段）",
)
def update_customer(request: HttpRequest, id: int, payload: CustomerFields):
    customer = selectors.access_customer(request.user, id)
    return services.customer_update(
        actor=request.user, customer=customer, data=payload.model_dump(exclude_unset=True)
    )


@router.get(
    "customers/{id}/completeness",
    response={200: CompletenessOut, **errors(401, 403, 404, 422)},
    summary="资料完整性（开通、添加合同前的检查）",
)
def customer_completeness(request: HttpRequest, id: int):
    customer = selectors.access_customer(request.user, id)
    missing = services.missing_profile_fields(customer)
    return {
        "complete": not missing,
        "missing": [{"field": name, "label": services.field_label(name)} for name in missing],
    }


@router.post(
    "customers/{id}/activate",
    response={200: CustomerOut, **errors(401, 403, 404, 409, 422)},
    summary="开通客户",
    description=(
        "资料不全时返回 422，`code` 为 `profile_incomplete`，`fields` 列出缺失的字段；"
        "可在 `profile` 中同时补全。已开通返回 409。"
    ),
)
def activate_customer(request: HttpRequest, id: int, payload: ActivateIn):
    customer = selectors.access_customer(request.user, id)
    profile = payload.profile.model_dump(exclude_unset=True) if payload.profile else None
    return services.customer_activate(
        actor=request.user,
        customer=customer,
        modules=payload.modules,
        package=payload.package,
        profile=profile,
    )


@router.post(
    "customers/{id}/trial",
    response={200: CustomerOut, **errors(401, 403, 404, 409, 422)},
    summary="开通试用",
    description="按套餐免费试用，无需合同；与开通相同的前提（资料完整、已配置数据源）。",
)
def start_trial(request: HttpRequest, id: int, payload: TrialIn):
    customer = selectors.access_customer(request.user, id)
    profile = payload.profile.model_dump(exclude_unset=True) if payload.profile else None
    return lifecycle.customer_start_trial(
        actor=request.user,
        customer=customer,
        package=payload.package,
        days=payload.days if payload.days is not None else "",
        profile=profile,
    )


@router.post(
    "customers/{id}/trial/extend",
    response={200: CustomerOut, **errors(401, 403, 404, 409, 422)},
    summary="延长试用（运营主管；次数有限）",
)
def extend_trial(request: HttpRequest, id: int, payload: ExtendTrialIn):
    customer = selectors.access_customer(request.user, id)
    return lifecycle.customer_extend_trial(actor=request.user, customer=customer, days=payload.days)


@router.post(
    "customers/{id}/close",
    response={200: CustomerOut, **errors(401, 403, 404, 409, 422)},
    summary="关闭客户",
)
def close_customer(request: HttpRequest, id: int, payload: CloseIn):
    customer = selectors.access_customer(request.user, id)
    return services.customer_close(actor=request.user, customer=customer, reason=payload.reason)


@router.post(
    "customers/{id}/assign",
    response={200: CustomerOut, **errors(401, 403, 404, 422)},
    summary="分配负责人（主管）",
)
def assign_customer(request: HttpRequest, id: int, payload: AssignIn):
    customer = selectors.access_customer(request.user, id)
    owner = owner_from_id(payload.owner_id)
    with renamed_fields({"owner": "owner_id"}):
        services.customer_assign(actor=request.user, customers=[customer], owner=owner)
    return selectors.access_customer(request.user, id)


@router.put(
    "customers/{id}/license-scan",
    response={200: CustomerOut, **errors(401, 403, 404, 422)},
    summary="上传营业执照扫描件（PDF、JPG、PNG）",
)
def upload_license_scan(request: HttpRequest, id: int, file: File[UploadedFile]):
    customer = selectors.access_customer(request.user, id)
    with renamed_fields({"license_scan": "file"}):
        return services.customer_update(
            actor=request.user, customer=customer, data={}, license_scan=file
        )


@router.get(
    "customers/{id}/license-scan",
    response={200: None, **errors(401, 403, 404, 422)},
    summary="下载营业执照扫描件",
    openapi_extra={
        "responses": {
            200: {
                "description": "扫描件文件",
                "content": {
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                    "image/png": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
)
def download_license_scan(request: HttpRequest, id: int):
    customer = selectors.access_customer(request.user, id, perm="customers.view_customer_file")
    return stream_scan(
        customer.license_scan,
        f"营业执照-{customer.enterprise_no}",
        _("尚未上传营业执照扫描件"),
    )
