"""REST endpoints for contracts (/api/v1/contracts… and /api/v1/customers/{id}/contracts).
Thin: parse, call the selectors and services that the console uses, shape the answer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile

from apps.api.common import (
    LocalDateTime,
    Money,
    PageMeta,
    PageQuery,
    StaffRef,
    StrictInput,
    errors,
    one_of,
    paginate,
    renamed_fields,
    sort_keys,
    stream_scan,
)
from apps.api.errors import register_labels
from apps.customers.api import CustomerRef
from apps.customers.selectors import access_customer

from . import selectors, services
from .models import Contract

router = Router(tags=["合同"])

register_labels({f.name: f.verbose_name for f in Contract._meta.concrete_fields})

_STATUS_DOC = "、".join(f"`{code}` {label}" for code, label in Contract.Status.choices)
ContractStatus = one_of(Contract.Status.values)


# --- Schemas -----------------------------------------------------------------------------


class ContractListItem(Schema):
    id: int
    customer: CustomerRef
    bank_name: str = Field(..., description="开户行")
    legal_representative: str = Field(..., description="法人代表")
    account_no: str = Field(..., description="账号")
    start_date: dt.date = Field(..., description="合作开始时间（YYYY-MM-DD）")
    end_date: dt.date = Field(..., description="合作截止时间（YYYY-MM-DD）")
    communities: int = Field(..., description="授权小区数")
    amount: Money = Field(..., description="合作金额（元，两位小数的字符串）")
    party_a_contact: str = Field(..., description="甲方对接人")
    party_a_phone: str = Field(..., description="甲方电话")
    party_b_contact: str = Field(..., description="乙方对接人")
    party_b_phone: str = Field(..., description="乙方电话")
    status: str = Field(..., description=f"状态：{_STATUS_DOC}")
    status_label: str = Field(..., description="状态名称")
    is_expiring: bool = Field(
        ...,
        description=f"是否即将到期（开通中且 {settings.CONTRACT_EXPIRY_WARNING_DAYS} 天内截止）",
    )
    is_expired: bool = Field(..., description="是否已过合作截止时间")
    days_left: int = Field(..., description="距合作截止时间的天数（已过期为负数）")
    has_scan: bool = Field(..., description="是否已上传合同扫描件")
    scan_url: str | None = Field(None, description="合同扫描件的下载地址")
    created_at: LocalDateTime = Field(..., description="创建时间")
    updated_at: LocalDateTime = Field(..., description="更新时间")

    @staticmethod
    def resolve_status_label(obj: Contract) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_days_left(obj: Contract) -> int:
        return obj.days_left()

    @staticmethod
    def resolve_has_scan(obj: Contract) -> bool:
        return bool(obj.scan)

    @staticmethod
    def resolve_scan_url(obj: Contract) -> str | None:
        return f"/api/v1/contracts/{obj.pk}/scan" if obj.scan else None


class ContractOut(ContractListItem):
    intro: str = Field(..., description="合同说明（规格中的企业简介：本合同的说明）")
    remarks: str = Field(..., description="备注")
    created_by: StaffRef | None = Field(None, description="创建人")


class ContractPage(PageMeta):
    items: list[ContractListItem]


class ContractIn(StrictInput):
    multiline = frozenset({"intro", "remarks"})

    bank_name: str = Field(..., description="开户行")
    legal_representative: str = Field(..., description="法人代表")
    account_no: str = Field(..., description="账号（8–30 位数字）")
    start_date: dt.date = Field(..., description="合作开始时间（YYYY-MM-DD）")
    end_date: dt.date = Field(..., description="合作截止时间（YYYY-MM-DD，不早于开始时间）")
    communities: int = Field(..., description="授权小区数（大于 0 的整数）")
    amount: Decimal = Field(..., description="合作金额（元，最多两位小数，不小于 0）")
    party_a_contact: str = Field(..., description="甲方对接人")
    party_a_phone: str = Field(..., description="甲方电话")
    party_b_contact: str = Field(..., description="乙方对接人")
    party_b_phone: str = Field(..., description="乙方电话")
    intro: str = Field("", description="合同说明（规格中的企业简介：本合同的说明）")
    remarks: str = Field("", description="备注")
    status: ContractStatus = Field(Contract.Status.OPEN.value, description=f"状态：{_STATUS_DOC}")


class ContractPatch(StrictInput):
    """Only the fields sent are changed."""

    multiline = frozenset({"intro", "remarks"})

    bank_name: str | None = None
    legal_representative: str | None = None
    account_no: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    communities: int | None = None
    amount: Decimal | None = None
    party_a_contact: str | None = None
    party_a_phone: str | None = None
    party_b_contact: str | None = None
    party_b_phone: str | None = None
    intro: str | None = None
    remarks: str | None = None
    status: ContractStatus | None = None


ContractSort = sort_keys(selectors.SORTS)


class CustomerContractQuery(PageQuery):
    status: ContractStatus | None = Field(None, description=f"状态：{_STATUS_DOC}")
    expiring: bool = Field(
        False,
        description=f"只看即将到期（{settings.CONTRACT_EXPIRY_WARNING_DAYS} 天内截止）的合同",
    )
    sort: ContractSort = Field("-created", description="排序字段，前缀 `-` 为倒序")


class ContractQuery(CustomerContractQuery):
    q: str = Field("", description="企业名称、法人代表（包含）或企业号（精确）")
    customer: int | None = Field(None, description="客户 id")


def _contract_page(request: HttpRequest, query: CustomerContractQuery, customer: int | None):
    filters = selectors.ContractFilters(
        q=getattr(query, "q", ""),
        status=query.status or "",
        expiring=query.expiring,
        customer=str(customer) if customer is not None else "",
        sort=query.sort,
    )
    qs = selectors.contract_list(user=request.user, filters=filters)
    return paginate(qs, query)


def _streamed_binary() -> dict:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "responses": {
            200: {
                "description": "扫描件文件",
                "content": {
                    "application/pdf": binary,
                    "image/jpeg": binary,
                    "image/png": binary,
                },
            }
        }
    }


# --- Endpoints ---------------------------------------------------------------------------


@router.get(
    "contracts",
    response={200: ContractPage, **errors(401, 403, 422)},
    summary="合同列表",
)
def list_contracts(request: HttpRequest, query: Query[ContractQuery]):
    return _contract_page(request, query, query.customer)


@router.get(
    "contracts/{id}",
    response={200: ContractOut, **errors(401, 403, 404, 422)},
    summary="合同详情",
)
def get_contract(request: HttpRequest, id: int):
    return selectors.access_contract(request.user, id)


@router.patch(
    "contracts/{id}",
    response={200: ContractOut, **errors(401, 403, 404, 422)},
    summary="修改合同（只改提交的字段）",
)
def update_contract(request: HttpRequest, id: int, payload: ContractPatch):
    contract = selectors.access_contract(request.user, id)
    return services.contract_update(
        actor=request.user, contract=contract, data=payload.model_dump(exclude_unset=True)
    )


@router.put(
    "contracts/{id}/scan",
    response={200: ContractOut, **errors(401, 403, 404, 422)},
    summary="上传合同扫描件（PDF、JPG、PNG）",
)
def upload_contract_scan(request: HttpRequest, id: int, file: File[UploadedFile]):
    contract = selectors.access_contract(request.user, id)
    with renamed_fields({"scan": "file"}):
        return services.contract_update(actor=request.user, contract=contract, data={}, scan=file)


@router.get(
    "contracts/{id}/scan",
    response={200: None, **errors(401, 403, 404, 422)},
    summary="下载合同扫描件",
    openapi_extra=_streamed_binary(),
)
def download_contract_scan(request: HttpRequest, id: int):
    contract = selectors.access_contract(request.user, id, perm="contracts.view_contract_file")
    return stream_scan(contract.scan, f"合同{contract.pk}-扫描件", _("尚未上传合同扫描件"))


@router.get(
    "customers/{id}/contracts",
    response={200: ContractPage, **errors(401, 403, 404, 422)},
    summary="客户的合同",
)
def list_customer_contracts(request: HttpRequest, id: int, query: Query[CustomerContractQuery]):
    customer = access_customer(request.user, id)
    return _contract_page(request, query, customer.pk)


@router.post(
    "customers/{id}/contracts",
    response={201: ContractOut, **errors(401, 403, 404, 422)},
    summary="为客户添加合同",
    description="先检查客户资料完整性：资料不全返回 422，`code` 为 `profile_incomplete`。",
)
def create_customer_contract(request: HttpRequest, id: int, payload: ContractIn):
    customer = access_customer(request.user, id)
    contract = services.contract_create(
        actor=request.user, customer=customer, data=payload.model_dump()
    )
    return Status(201, contract)
