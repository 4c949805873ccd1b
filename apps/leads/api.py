"""REST endpoints for leads (/api/v1/leads…). Thin: parse, call the selectors and services
that the console uses, shape the answer. Every rule lives in the services."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

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
    sort_keys,
)
from apps.api.common import renamed_fields as renamed
from apps.api.errors import register_labels
from apps.customers.api import CustomerFields, CustomerOut, CustomerRef

from . import selectors, services
from .models import Channel, FollowUp, Lead

router = Router(tags=["客户申请"])

register_labels(
    {
        **{f.name: f.verbose_name for f in Lead._meta.concrete_fields},
        "owner_id": Lead._meta.get_field("owner").verbose_name,
        "method": FollowUp._meta.get_field("method").verbose_name,
        "result": FollowUp._meta.get_field("result").verbose_name,
        "reason": Lead._meta.get_field("lost_reason").verbose_name,
        "note": Lead._meta.get_field("lost_note").verbose_name,
        "date_from": "注册时间起",
        "date_to": "注册时间止",
        "overdue": "逾期未回访",
        "to_call": "待回访",
    }
)


def _doc(choices) -> str:
    return "、".join(f"`{value}` {label}" for value, label in choices)


LeadSort = sort_keys(selectors.SORTS)
StatusValue = one_of(Lead.Status.values)
ChannelValue = one_of(Channel.values)
MethodValue = one_of(FollowUp.Method.values)
ResultValue = one_of(FollowUp.Result.values)
ReasonValue = one_of(Lead.LostReason.values)


# --- Schemas -----------------------------------------------------------------------------


class LeadQuery(PageQuery):
    q: str = Field(
        "", description="姓名、公司名（包含）或电话（完整手机号精确，4 位以上数字匹配部分）"
    )
    status: one_of([*Lead.Status.values, "open"]) | None = Field(
        None, description=f"状态：{_doc(Lead.Status.choices)}；`open` 为全部未关闭状态"
    )
    channel: ChannelValue | None = Field(None, description=f"渠道：{_doc(Channel.choices)}")
    owner: str | None = Field(
        None,
        pattern=r"^(none|me|\d+)$",
        description="负责人：员工 id，`none` 未分配（公海），`me` 本人",
    )
    date_from: dt.date | None = Field(None, description="注册日期起（含，YYYY-MM-DD）")
    date_to: dt.date | None = Field(None, description="注册日期止（含，YYYY-MM-DD）")
    overdue: bool = Field(
        False, description="只看逾期未回访（自助报名超时未回访或已过下次回访时间）"
    )
    to_call: bool = Field(
        False, description="待回访视图：从未回访或已到下次回访时间，等待最久的在前（忽略 sort）"
    )
    qr: int | None = Field(None, description="二维码渠道 id：该渠道带来的申请")
    sort: LeadSort = Field("-registered", description="排序字段，前缀 `-` 为倒序")


class DuplicateOut(Schema):
    customer: CustomerRef
    by_phone: bool = Field(..., description="联系电话相同")
    by_company: bool = Field(..., description="企业名称与公司名相同")


class QrChannelRef(Schema):
    id: int
    code: str = Field(..., description="渠道码")
    name: str = Field(..., description="名称")


class LeadListItem(Schema):
    id: int
    name: str = Field(..., description="姓名")
    phone: str = Field(..., description="电话（11 位手机号）")
    company: str = Field(..., description="公司名")
    registered_at: LocalDateTime = Field(..., description="注册时间")
    channel: str = Field(..., description=f"渠道：{_doc(Channel.choices)}")
    channel_label: str = Field(..., description="渠道名称")
    channel_ref: str = Field(..., description="渠道来源（二维码渠道码、录入员工等）")
    qr_channel: QrChannelRef | None = Field(None, description="二维码渠道")
    status: str = Field(..., description=f"状态：{_doc(Lead.Status.choices)}")
    status_label: str = Field(..., description="状态名称")
    owner: StaffRef | None = Field(None, description="负责人；为空表示未分配（公海）")
    follow_up_count: int = Field(..., description="回访次数")
    last_follow_up_at: LocalDateTime | None = Field(None, description="最近回访时间")
    next_follow_up_at: LocalDateTime | None = Field(None, description="下次回访时间")
    overdue: bool = Field(..., description="是否逾期未回访")
    waited_seconds: int | None = Field(
        None, description="待回访视图中已等待的秒数（自应回访时间起）"
    )
    duplicates: list[DuplicateOut] = Field(
        default_factory=list, description="疑似重复的已有客户（联系电话或企业名称相同）"
    )

    @staticmethod
    def resolve_phone(obj: Lead) -> str:
        return obj.display_phone

    @staticmethod
    def resolve_channel_label(obj: Lead) -> str:
        return str(obj.get_channel_display())

    @staticmethod
    def resolve_status_label(obj: Lead) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_overdue(obj: Lead) -> bool:
        return selectors.is_overdue(obj)

    @staticmethod
    def resolve_waited_seconds(obj: Lead) -> int | None:
        waited = getattr(obj, "waited", None)
        return int(waited.total_seconds()) if waited is not None else None

    @staticmethod
    def resolve_duplicates(obj: Lead) -> list:
        return [
            {"customer": d.customer, "by_phone": d.by_phone, "by_company": d.by_company}
            for d in getattr(obj, "duplicates", [])
        ]


class LeadOut(LeadListItem):
    lost_reason: str = Field(..., description=f"无意向原因：{_doc(Lead.LostReason.choices)}")
    lost_reason_label: str = Field(..., description="无意向原因名称")
    lost_note: str = Field(..., description="原因说明")
    repeat_count: int = Field(..., description="重复申请次数")
    last_applied_at: LocalDateTime | None = Field(None, description="最近申请时间")
    customer: CustomerRef | None = Field(None, description="转化的客户")
    converted_at: LocalDateTime | None = Field(None, description="转化时间")
    notes: str = Field(..., description="备注")
    created_by: StaffRef | None = Field(None, description="录入人（线下录入）")
    updated_at: LocalDateTime = Field(..., description="更新时间")

    @staticmethod
    def resolve_lost_reason_label(obj: Lead) -> str:
        return str(obj.get_lost_reason_display()) if obj.lost_reason else ""


class LeadPage(PageMeta):
    items: list[LeadListItem]


class LeadCreate(StrictInput):
    multiline = frozenset({"notes"})

    name: str = Field(..., description="姓名（1–50 字）")
    phone: str = Field(..., description="电话（中国大陆手机号）")
    company: str = Field("", description="公司名")
    notes: str = Field("", description="备注")


class LeadPatch(StrictInput):
    multiline = frozenset({"notes"})

    name: str | None = Field(None, description="姓名")
    phone: str | None = Field(None, description="电话（改为已有申请的号码返回 409）")
    company: str | None = Field(None, description="公司名")
    notes: str | None = Field(None, description="备注")


class FollowUpIn(StrictInput):
    multiline = frozenset({"notes"})

    method: MethodValue = Field(..., description=f"回访方式：{_doc(FollowUp.Method.choices)}")
    result: ResultValue = Field(
        ...,
        description=(
            f"回访结果：{_doc(FollowUp.Result.choices)}。有意向 → 有意向，考虑中 → 跟进中，"
            "未接通状态不变，无意向关闭申请（需 lost_reason）"
        ),
    )
    notes: str = Field("", description="回访记录")
    next_follow_up_at: dt.datetime | None = Field(
        None, description="下次回访时间（须晚于现在；未接通且不填时默认 1 天后）"
    )
    lost_reason: ReasonValue | None = Field(
        None, description=f"无意向原因（结果为无意向时必填）：{_doc(Lead.LostReason.choices)}"
    )
    lost_note: str = Field("", description="原因说明（原因为 other 时必填）")


class FollowUpOut(Schema):
    id: int
    lead_id: int
    at: LocalDateTime = Field(..., description="回访时间")
    actor: StaffRef = Field(..., description="回访人")
    method: str = Field(..., description=f"回访方式：{_doc(FollowUp.Method.choices)}")
    method_label: str
    result: str = Field(..., description=f"回访结果：{_doc(FollowUp.Result.choices)}")
    result_label: str
    notes: str = Field(..., description="回访记录")
    next_follow_up_at: LocalDateTime | None = Field(None, description="下次回访时间")

    @staticmethod
    def resolve_method_label(obj: FollowUp) -> str:
        return str(obj.get_method_display())

    @staticmethod
    def resolve_result_label(obj: FollowUp) -> str:
        return str(obj.get_result_display())


class FollowUpCreated(FollowUpOut):
    lead: LeadOut = Field(..., description="回访后的客户申请（状态已按结果变更）")


class FollowUpPage(PageMeta):
    items: list[FollowUpOut]


class CloseIn(StrictInput):
    multiline = frozenset({"note"})

    reason: ReasonValue = Field(..., description=f"无意向原因：{_doc(Lead.LostReason.choices)}")
    note: str = Field("", description="原因说明（原因为 other 时必填，最多 200 字）")


class ConvertIn(CustomerFields):
    owner_id: int | None = Field(
        None,
        description=(
            "客户负责人的员工 id；省略时为申请的负责人（无则为操作人），"
            "指定他人或公海需客户分配权限"
        ),
    )


# --- Helpers -----------------------------------------------------------------------------


def _detail(request: HttpRequest, id: int) -> Lead:
    lead = selectors.access_lead(request.user, id)
    selectors.attach_duplicates([lead], viewer=request.user)
    return lead


# --- Endpoints ---------------------------------------------------------------------------


@router.get(
    "leads",
    response={200: LeadPage, **errors(401, 403, 422)},
    summary="客户申请列表",
)
def list_leads(request: HttpRequest, query: Query[LeadQuery]):
    filters = selectors.LeadFilters(
        q=query.q,
        status=query.status or "",
        channel=query.channel or "",
        owner=query.owner or "",
        date_from=query.date_from,
        date_to=query.date_to,
        overdue=query.overdue,
        qr=str(query.qr) if query.qr else "",
        sort=query.sort,
    )
    if query.to_call:
        qs = selectors.to_call_list(user=request.user, filters=filters)
    else:
        qs = selectors.lead_list(user=request.user, filters=filters)
    page = paginate(qs, query)
    selectors.attach_duplicates(page["items"], viewer=request.user)
    if query.to_call:
        selectors.mark_waiting(page["items"])
    return page


@router.post(
    "leads",
    response={201: LeadOut, **errors(401, 403, 409, 422)},
    summary="线下录入客户申请",
    description=(
        "渠道为线下，负责人为操作人，不发送短信。"
        "该手机号已有申请时返回 409（code `duplicate_lead`）。"
    ),
)
def create_lead(request: HttpRequest, payload: LeadCreate):
    lead = services.lead_create_offline(actor=request.user, **payload.model_dump())
    return Status(201, _detail(request, lead.pk))


@router.get(
    "leads/{id}",
    response={200: LeadOut, **errors(401, 403, 404, 422)},
    summary="客户申请详情",
)
def get_lead(request: HttpRequest, id: int):
    return _detail(request, id)


@router.patch(
    "leads/{id}",
    response={200: LeadOut, **errors(401, 403, 404, 409, 422)},
    summary="修改客户申请（只改提交的字段）",
)
def update_lead(request: HttpRequest, id: int, payload: LeadPatch):
    lead = selectors.access_lead(request.user, id, perm="leads.change_lead")
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    services.lead_update(actor=request.user, lead=lead, data=data)
    return _detail(request, id)


@router.get(
    "leads/{id}/follow-ups",
    response={200: FollowUpPage, **errors(401, 403, 404, 422)},
    summary="回访记录（最新在前）",
)
def list_follow_ups(request: HttpRequest, id: int, query: Query[PageQuery]):
    lead = selectors.access_lead(request.user, id)
    return paginate(selectors.follow_ups_of(lead), query)


@router.post(
    "leads/{id}/follow-ups",
    response={201: FollowUpCreated, **errors(401, 403, 404, 409, 422)},
    summary="记录回访",
    description="按结果变更申请状态；已关闭或已转化的申请返回 409。公海中的申请由回访人领取。",
)
def create_follow_up(request: HttpRequest, id: int, payload: FollowUpIn):
    lead = selectors.access_lead(request.user, id, perm="leads.change_lead")
    data = payload.model_dump()
    data["lost_reason"] = data["lost_reason"] or ""
    follow_up = services.lead_follow_up(actor=request.user, lead=lead, **data)
    follow_up.lead = _detail(request, id)
    return Status(201, follow_up)


@router.post(
    "leads/{id}/convert",
    response={201: CustomerOut, **errors(401, 403, 404, 409, 422)},
    summary="转为客户",
    description=(
        "以申请人为联系人、手机号为联系电话、公司名为企业名称创建客户（请求体中的字段优先），"
        "关联客户并将申请标记为已转化。每条申请只能转化一次，再次转化返回 409。"
    ),
)
def convert_lead(request: HttpRequest, id: int, payload: ConvertIn):
    lead = selectors.access_lead(request.user, id, perm="leads.convert_lead")
    data = payload.model_dump(exclude_unset=True)
    kwargs = {}
    if "owner_id" in data:
        kwargs["owner"] = owner_from_id(data.pop("owner_id"))
    with renamed({"owner": "owner_id"}):
        customer = services.lead_convert(actor=request.user, lead=lead, data=data, **kwargs)
    return Status(201, customer)


@router.post(
    "leads/{id}/assign",
    response={200: LeadOut, **errors(401, 403, 404, 422)},
    summary="分配负责人（主管）",
)
def assign_lead(request: HttpRequest, id: int, payload: AssignIn):
    lead = selectors.access_lead(request.user, id)
    owner = owner_from_id(payload.owner_id)
    with renamed({"owner": "owner_id"}):
        services.lead_assign(actor=request.user, leads=[lead], owner=owner)
    return _detail(request, id)


@router.post(
    "leads/{id}/claim",
    response={200: LeadOut, **errors(401, 403, 404, 409)},
    summary="从公海领取",
    description="只能领取未分配的申请；已被领取返回 409（code `already_claimed`）。",
)
def claim_lead(request: HttpRequest, id: int):
    lead = selectors.access_lead(request.user, id, perm="leads.claim_lead")
    services.lead_claim(actor=request.user, lead=lead)
    return _detail(request, id)


@router.post(
    "leads/{id}/close",
    response={200: LeadOut, **errors(401, 403, 404, 409, 422)},
    summary="标记为无意向",
)
def close_lead(request: HttpRequest, id: int, payload: CloseIn):
    lead = selectors.access_lead(request.user, id, perm="leads.change_lead")
    with renamed({"lost_reason": "reason", "lost_note": "note"}):
        services.lead_close(actor=request.user, lead=lead, reason=payload.reason, note=payload.note)
    return _detail(request, id)


@router.post(
    "leads/{id}/reopen",
    response={200: LeadOut, **errors(401, 403, 404, 409)},
    summary="重新打开（无意向 → 待回访）",
)
def reopen_lead(request: HttpRequest, id: int):
    lead = selectors.access_lead(request.user, id, perm="leads.change_lead")
    services.lead_reopen(actor=request.user, lead=lead)
    return _detail(request, id)


# --- QR channels (二维码渠道) ---------------------------------------------------------------


class QrChannelOut(Schema):
    id: int
    code: str
    name: str
    campaign: str
    owner: StaffRef | None
    is_active: bool
    apply_url: str = Field(..., description="海报二维码指向的报名地址")
    registrations: int = Field(0, description="带来的申请数")
    conversions: int = Field(0, description="其中已转化为客户的数")
    created_at: LocalDateTime

    @staticmethod
    def resolve_apply_url(obj) -> str:
        return services.apply_url(obj.code)


class QrChannelCreate(StrictInput):
    name: str = Field(..., max_length=100)
    campaign: str = Field("", max_length=100)
    owner_id: int | None = None


class QrChannelPatch(StrictInput):
    name: str | None = Field(None, max_length=100)
    campaign: str | None = Field(None, max_length=100)
    owner_id: int | None = None
    is_active: bool | None = None


def _qr_out(request: HttpRequest, pk: int):
    return selectors.qr_channel_list(user=request.user).get(pk=pk)


@router.get(
    "qr-channels",
    response={200: list[QrChannelOut], **errors(401, 403)},
    summary="二维码渠道（含申请数与转化数）",
)
def list_qr_channels(request: HttpRequest):
    return list(selectors.qr_channel_list(user=request.user))


@router.post(
    "qr-channels",
    response={201: QrChannelOut, **errors(401, 403, 422)},
    summary="新建二维码渠道",
)
def create_qr_channel(request: HttpRequest, payload: QrChannelCreate):
    data = payload.model_dump()
    owner = owner_from_id(data.pop("owner_id"))
    with renamed({"owner": "owner_id"}):
        channel = services.qr_channel_create(actor=request.user, owner=owner, **data)
    return Status(201, _qr_out(request, channel.pk))


@router.patch(
    "qr-channels/{id}",
    response={200: QrChannelOut, **errors(401, 403, 404, 422)},
    summary="修改二维码渠道（渠道码不可修改）",
)
def update_qr_channel(request: HttpRequest, id: int, payload: QrChannelPatch):
    channel = selectors.access_qr_channel(request.user, id)
    data = payload.model_dump(exclude_unset=True)
    if "owner_id" in data:
        data["owner"] = owner_from_id(data.pop("owner_id"))
    with renamed({"owner": "owner_id"}):
        services.qr_channel_update(actor=request.user, channel=channel, data=data)
    return _qr_out(request, channel.pk)
