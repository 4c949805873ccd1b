"""Lead console pages (客户申请, 公海, 待回访, 二维码渠道). Views parse, call a selector or
service, and render; every rule lives in ``services``."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.scope import sees_all
from apps.audit.selectors import history
from apps.core.bulk import bulk_assign
from apps.core.errors import Conflict, DomainError, ValidationFailed
from apps.core.excel import local_text, table_response, xlsx_response
from apps.core.forms import apply_errors, submit
from apps.core.importing import import_page, template_response
from apps.core.listing import paginate
from apps.core.merging import MergeKind, merge_page
from apps.core.navigation import hx_redirect, safe_next
from apps.core.permissions import has_perm, require_perm
from apps.customers import selectors as customer_selectors
from apps.customers.forms import new_customer_form

from . import importing, merging, pool, qr, selectors, services
from .forms import (
    CloseForm,
    FollowUpForm,
    LeadForm,
    PlacementRuleForm,
    PoolPolicyForm,
    QrChannelForm,
    default_next_follow_up,
)
from .models import Channel, Lead


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: HttpRequest, **forced) -> selectors.LeadFilters:
    get = request.GET
    filters = selectors.LeadFilters(
        q=get.get("q", ""),
        status=get.get("status", ""),
        channel=get.get("channel", ""),
        owner=get.get("owner", ""),
        date_from=_date(get.get("date_from", "")),
        date_to=_date(get.get("date_to", "")),
        overdue=get.get("overdue") == "1",
        qr=get.get("qr", ""),
        sort=get.get("sort", "-registered"),
    )
    for name, value in forced.items():
        setattr(filters, name, value)
    return filters


def _list_context(request: HttpRequest, filters: selectors.LeadFilters, mode: str) -> dict:
    user = request.user
    can_assign = has_perm(user, "leads.assign_lead")
    return {
        "nav": "to_call" if mode == "to_call" else "leads",
        "mode": mode,
        "filters": filters,
        "sort": filters.sort,
        "status_choices": Lead.Status.choices,
        "channel_choices": Channel.choices,
        "owners": list(selectors.assignable_owners()) if sees_all(user) else [],
        "can_add": has_perm(user, "leads.add_lead"),
        "can_assign": can_assign,
        "can_claim": has_perm(user, "leads.claim_lead"),
        "can_follow_up": has_perm(user, "leads.change_lead"),
        "first_call_hours": selectors.first_call_hours(),
    }


def _render_list(request: HttpRequest, qs, context: dict, table: str) -> HttpResponse:
    context.update(paginate(request, qs))
    now = timezone.now()
    rows = selectors.attach_duplicates(context["rows"], viewer=request.user)
    for lead in rows:
        lead.overdue = selectors.is_overdue(lead, now)
    if context["mode"] == "to_call":
        selectors.mark_waiting(rows, now)
    context["rows"] = rows
    template = table if request.htmx else "leads/list.html"
    context["table_template"] = table
    return render(request, template, context)


def list_view(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    qs = selectors.lead_list(user=request.user, filters=filters)
    context = _list_context(request, filters, "list")
    return _render_list(request, qs, context, "leads/_list_table.html")


def export_view(request: HttpRequest) -> HttpResponse:
    """The filtered leads as Excel: the same selector, so the same rows the user may see."""
    require_perm(request.user, "leads.export_lead")
    qs = _mode_rows(request, request.GET.get("mode", "list"))
    headers = [
        "姓名", "电话", "公司名", "所在省份", "注册时间", "渠道", "渠道来源", "状态", "负责人",
        "回访次数", "最近回访时间", "下次回访时间", "无意向原因", "重复申请次数",
    ]  # fmt: skip

    # Labels looked up once, not translated again on every row.
    channels = {value: str(label) for value, label in Lead._meta.get_field("channel").choices}
    statuses = {value: str(label) for value, label in Lead.Status.choices}
    reasons = {value: str(label) for value, label in Lead.LostReason.choices}

    def to_row(lead: Lead) -> list:
        return [
            lead.name,
            lead.display_phone,
            lead.company,
            lead.province_name,
            local_text(lead.registered_at),
            channels.get(lead.channel, lead.channel),
            lead.channel_ref,
            statuses.get(lead.status, lead.status),
            lead.owner.display_name if lead.owner_id else "",
            lead.follow_up_count,
            local_text(lead.last_follow_up_at),
            local_text(lead.next_follow_up_at),
            reasons.get(lead.lost_reason, lead.lost_reason),
            lead.repeat_count,
        ]

    return xlsx_response("客户申请", headers, qs.iterator(chunk_size=2000), to_row)


def _mode_filters(request: HttpRequest, mode: str) -> selectors.LeadFilters:
    """The filters of a list page: 全部 as asked, 公海 unassigned (open unless another
    status is asked for), 待回访 without status or sort of its own."""
    if mode == "pool":
        return _filters(request, owner="none", status=request.GET.get("status") or selectors.OPEN)
    if mode == "to_call":
        return _filters(request, status="", sort="")
    return _filters(request)


def _mode_rows(request: HttpRequest, mode: str):
    """The rows a list page shows (its export writes the same)."""
    filters = _mode_filters(request, mode)
    if mode == "to_call":
        return selectors.to_call_list(user=request.user, filters=filters)
    return selectors.lead_list(user=request.user, filters=filters)


def pool_view(request: HttpRequest) -> HttpResponse:
    """公海: unassigned leads, open ones unless another status is asked for."""
    context = _list_context(request, _mode_filters(request, "pool"), "pool")
    return _render_list(request, _mode_rows(request, "pool"), context, "leads/_list_table.html")


def to_call_view(request: HttpRequest) -> HttpResponse:
    """待回访: leads never followed up or whose next follow-up time has passed, the one
    waiting longest first, with how long each has waited."""
    context = _list_context(request, _mode_filters(request, "to_call"), "to_call")
    rows = _mode_rows(request, "to_call")
    return _render_list(request, rows, context, "leads/_to_call_table.html")


def detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead(request.user, pk)
    user = request.user
    selectors.attach_duplicates([lead], viewer=user)
    context = {
        "nav": "leads",
        "lead": lead,
        "overdue": selectors.is_overdue(lead),
        "recycle_warning": pool.warning(lead),
        "follow_ups": list(selectors.follow_ups_of(lead)),
        "history": history(lead, viewer=user),
        "can_change": has_perm(user, "leads.change_lead"),
        "can_claim": has_perm(user, "leads.claim_lead") and lead.owner_id is None,
        "can_convert": has_perm(user, "leads.convert_lead")
        and has_perm(user, "customers.add_customer"),
        "can_assign": has_perm(user, "leads.assign_lead"),
        "can_view_customer": lead.customer_id is not None
        and customer_selectors.visible_customers(user).filter(pk=lead.customer_id).exists(),
        "owners": list(selectors.assignable_owners())
        if has_perm(user, "leads.assign_lead")
        else [],
    }
    return render(request, "leads/detail.html", context)


def _duplicate_link(exc: Conflict) -> str:
    existing = getattr(exc, "existing_id", None)
    return reverse("leads:detail", args=[existing]) if existing else ""


@require_http_methods(["GET", "POST"])
def create_view(request: HttpRequest) -> HttpResponse:
    """线下录入: staff enter an applicant by hand (no SMS); they own the lead."""
    require_perm(request.user, "leads.add_lead")
    form = LeadForm(request.POST or None)
    duplicate_url = ""
    if request.method == "POST" and form.is_valid():
        try:
            lead = services.lead_create_offline(actor=request.user, **form.service_data())
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except Conflict as exc:
            apply_errors(form, exc)
            duplicate_url = _duplicate_link(exc)
        else:
            messages.success(request, _("已录入客户申请"))
            return redirect("leads:detail", pk=lead.pk)
    return render(
        request,
        "leads/form.html",
        {"form": form, "nav": "leads", "title": _("线下录入"), "duplicate_url": duplicate_url},
    )


@require_http_methods(["GET", "POST"])
def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead(request.user, pk, perm="leads.change_lead")
    initial = {
        "name": lead.name,
        "phone": lead.display_phone,
        "company": lead.company,
        "province": lead.province,
        "notes": lead.notes,
    }
    form = LeadForm(request.POST or None, initial=initial)
    duplicate_url = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_update(actor=request.user, lead=lead, data=form.service_data())
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except Conflict as exc:
            apply_errors(form, exc)
            duplicate_url = _duplicate_link(exc)
        else:
            messages.success(request, _("已保存"))
            return redirect("leads:detail", pk=lead.pk)
    return render(
        request,
        "leads/form.html",
        {
            "form": form,
            "lead": lead,
            "nav": "leads",
            "title": _("编辑客户申请"),
            "duplicate_url": duplicate_url,
        },
    )


@require_POST
def claim_view(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead(request.user, pk, perm="leads.claim_lead")
    back = safe_next(request, reverse("leads:detail", args=[lead.pk]))
    try:
        services.lead_claim(actor=request.user, lead=lead)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已领取：%(name)s") % {"name": lead.name})
    return hx_redirect(request, back)


@require_POST
def assign_view(request: HttpRequest) -> HttpResponse:
    """Managers assign one or many leads to a specialist, or back to the pool."""
    require_perm(request.user, "leads.assign_lead")
    return bulk_assign(
        request,
        visible=selectors.visible_leads(request.user),
        owners=selectors.assignable_owners(),
        assign=lambda rows, owner: services.lead_assign(
            actor=request.user, leads=rows, owner=owner
        ),
        back_to=reverse("leads:list"),
        noun=_("客户申请"),
        unit=_("条"),
    )


@require_http_methods(["GET", "POST"])
def follow_up_view(request: HttpRequest, pk: int) -> HttpResponse:
    """记录回访 modal: method, result, notes, next time; moves the lead's status."""
    lead = selectors.access_lead(request.user, pk, perm="leads.change_lead")
    back = safe_next(request, reverse("leads:detail", args=[lead.pk]))
    form = FollowUpForm(
        request.POST if request.method == "POST" else None,
        initial={"next_follow_up_at": default_next_follow_up()},
    )
    done = submit(
        request,
        form,
        lambda: services.lead_follow_up(actor=request.user, lead=lead, **form.service_data()),
        banner=True,
    )
    error = done.error
    if done:
        messages.success(request, _("已记录回访：%(name)s") % {"name": lead.name})
        return hx_redirect(request, back)
    context = {"lead": lead, "form": form, "error": error, "next": back}
    return render(request, "leads/_follow_up_modal.html", context)


@require_http_methods(["GET", "POST"])
def close_view(request: HttpRequest, pk: int) -> HttpResponse:
    """无意向 modal: close the lead with a reason."""
    lead = selectors.access_lead(request.user, pk, perm="leads.change_lead")
    form = CloseForm(request.POST if request.method == "POST" else None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.lead_close(
                actor=request.user,
                lead=lead,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except ValidationFailed as exc:
            if "lost_note" in exc.fields:
                exc.fields = {"note": exc.fields["lost_note"]}
            elif "lost_reason" in exc.fields:
                exc.fields = {"reason": exc.fields["lost_reason"]}
            apply_errors(form, exc)
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, _("已标记为无意向"))
            return hx_redirect(request, reverse("leads:detail", args=[lead.pk]))
    return render(request, "leads/_close_modal.html", {"lead": lead, "form": form, "error": error})


@require_POST
def reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    lead = selectors.access_lead(request.user, pk, perm="leads.change_lead")
    try:
        services.lead_reopen(actor=request.user, lead=lead)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已重新打开，待回访"))
    return hx_redirect(request, reverse("leads:detail", args=[lead.pk]))


@require_http_methods(["GET", "POST"])
def convert_view(request: HttpRequest, pk: int) -> HttpResponse:
    """转为客户: the customer form pre-filled from the lead; saving creates the customer,
    links it and marks the lead 已转化."""
    lead = selectors.access_lead(request.user, pk, perm="leads.convert_lead")
    require_perm(request.user, "customers.add_customer")
    detail = reverse("leads:detail", args=[lead.pk])
    if not lead.is_open:
        if lead.status == Lead.Status.CONVERTED:
            messages.error(request, _("该客户申请已转化为客户"))
        else:
            messages.error(request, _("该客户申请已关闭（无意向），请先重新打开再转为客户"))
        return redirect(detail)
    initial = services.conversion_initial(lead)
    if lead.owner_id:
        initial["owner"] = lead.owner_id
    form = new_customer_form(request, initial)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.lead_convert(
                actor=request.user,
                lead=lead,
                data=form.service_data(),
                owner=form.chosen_owner(),
                license_scan=request.FILES.get("license_scan"),
            )
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(detail)
        else:
            messages.success(request, _("已转为客户 %(no)s") % {"no": customer.enterprise_no})
            return redirect("customers:detail", pk=customer.pk)
    selectors.attach_duplicates([lead], viewer=request.user)
    return render(
        request,
        "leads/convert.html",
        {"form": form, "lead": lead, "nav": "leads", "title": _("转为客户")},
    )


# --- QR channels -----------------------------------------------------------------------


def qr_list_view(request: HttpRequest) -> HttpResponse:
    channels = list(selectors.qr_channel_list(user=request.user))
    for channel in channels:
        channel.url = qr.channel_url(channel)
    return render(request, "leads/qr_list.html", {"channels": channels, "nav": "qr"})


@require_GET
def qr_export_view(request: HttpRequest) -> HttpResponse:
    """The QR channels with their figures, as on the page."""
    channels = selectors.qr_channel_list(user=request.user)
    return table_response(
        "二维码渠道",
        [
            (_("名称"), lambda c: c.name),
            (_("渠道码"), lambda c: c.code),
            (_("活动"), lambda c: c.campaign),
            (_("负责人"), lambda c: c.owner.display_name if c.owner_id else _("公海")),
            (_("状态"), lambda c: _("启用") if c.is_active else _("停用")),
            (_("报名"), lambda c: c.registrations),
            (_("转化"), lambda c: c.conversions),
            (_("报名地址"), qr.channel_url),
            (_("创建时间"), lambda c: c.created_at),
        ],
        channels.iterator(chunk_size=2000),
    )


@require_http_methods(["GET", "POST"])
def qr_create_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, "leads.manage_qrchannel")
    form = QrChannelForm(request.POST or None, owners=selectors.assignable_owners())
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        try:
            channel = services.qr_channel_create(
                actor=request.user,
                name=data["name"],
                campaign=data.get("campaign") or "",
                owner=data.get("owner"),
            )
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("已创建二维码渠道 %(code)s") % {"code": channel.code})
            return redirect("leads:qr_list")
    return render(
        request, "leads/qr_form.html", {"form": form, "nav": "qr", "title": _("新建二维码渠道")}
    )


@require_http_methods(["GET", "POST"])
def qr_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    channel = selectors.access_qr_channel(request.user, pk)
    form = QrChannelForm(
        request.POST or None, instance=channel, owners=selectors.assignable_owners()
    )
    done = submit(
        request,
        form,
        lambda: services.qr_channel_update(
            actor=request.user, channel=channel, data=form.service_data()
        ),
    )
    if done:
        messages.success(request, _("已保存"))
        return redirect("leads:qr_list")
    channel.url = qr.channel_url(channel)
    return render(
        request,
        "leads/qr_form.html",
        {"form": form, "channel": channel, "nav": "qr", "title": _("编辑二维码渠道")},
    )


def _qr_download(channel, content: bytes, content_type: str, ext: str, request) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    if request.GET.get("download") == "1":
        from django.utils.http import content_disposition_header

        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"二维码-{channel.name}-{channel.code}.{ext}"
        )
    response["Cache-Control"] = "private, max-age=300"
    return response


def qr_png_view(request: HttpRequest, pk: int) -> HttpResponse:
    channel = selectors.access_qr_channel(request.user, pk)
    return _qr_download(channel, qr.png_bytes(qr.channel_url(channel)), "image/png", "png", request)


def qr_svg_view(request: HttpRequest, pk: int) -> HttpResponse:
    channel = selectors.access_qr_channel(request.user, pk)
    return _qr_download(
        channel, qr.svg_bytes(qr.channel_url(channel)), "image/svg+xml", "svg", request
    )


@require_http_methods(["GET", "POST"])
def import_view(request: HttpRequest) -> HttpResponse:
    return import_page(
        request,
        perm=importing.PERM,
        run=lambda actor, upload: importing.leads_import(actor=actor, upload=upload),
        done_message=_("已导入 %(n)d 条客户申请"),
        done_url=reverse("leads:list"),
        context={
            "nav": "leads",
            "title": _("导入客户申请"),
            "template_url": reverse("leads:import_template"),
            "back_url": reverse("leads:list"),
            "max_rows": importing.MAX_ROWS,
            "description": _(
                "按模板填写姓名、手机号（必填）、公司名、所在省份、负责人、备注。"
                "负责人留空的申请按分配规则分配，没有匹配的规则时归你负责；渠道为线下；"
                "已有客户申请的手机号不会重复导入。"
            ),
        },
    )


@require_GET
def import_template_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, importing.PERM)
    return template_response(importing.template_bytes(), "客户申请导入模板.xlsx")


# --- 公海与分配规则 -------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def rules_view(request: HttpRequest) -> HttpResponse:
    """公海规则 (the form) and the 分配规则 in the order they are tried."""
    require_perm(request.user, pool.PERM)
    form = PoolPolicyForm(request.POST or None, instance=pool.policy())
    done = submit(
        request, form, lambda: pool.policy_update(actor=request.user, data=form.service_data())
    )
    if done:
        messages.success(request, _("已保存公海规则"))
        return redirect("leads:rules")
    return render(
        request,
        "leads/rules.html",
        {"form": form, "rules": selectors.placement_rules(), "nav": "rules"},
    )


@require_http_methods(["GET", "POST"])
def rule_edit_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require_perm(request.user, pool.PERM)
    rule = selectors.access_placement_rule(pk) if pk is not None else None
    form = PlacementRuleForm(
        request.POST or None, instance=rule, owners=selectors.assignable_owners()
    )
    done = submit(
        request,
        form,
        lambda: pool.rule_save(actor=request.user, rule=rule, data=form.service_data()),
    )
    if done:
        messages.success(request, _("已保存分配规则"))
        return redirect("leads:rules")
    title = _("编辑分配规则") if rule else _("新建分配规则")
    return render(
        request,
        "leads/rule_form.html",
        {"form": form, "rule": rule, "nav": "rules", "title": title},
    )


@require_POST
def rule_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, pool.PERM)
    pool.rule_delete(actor=request.user, rule=selectors.access_placement_rule(pk))
    messages.success(request, _("已删除分配规则"))
    return redirect("leads:rules")


# --- 合并 ----------------------------------------------------------------------------------


def _lead_facts(lead: Lead) -> list[tuple[str, str]]:
    return [
        (_("编号"), f"#{lead.pk}"),
        (_("姓名"), lead.name),
        (_("电话"), lead.display_phone),
        (_("公司名"), lead.company),
        (_("所在省份"), lead.province_name),
        (_("渠道"), lead.get_channel_display()),
        (_("注册时间"), local_text(lead.registered_at)),
        (_("状态"), lead.get_status_display()),
        (_("负责人"), lead.owner.display_name if lead.owner_id else _("公海")),
        (_("回访次数"), str(lead.follow_up_count)),
    ]


MERGE = MergeKind(
    noun=_lazy("客户申请"),
    placeholder=_lazy("编号或手机号"),
    description=_lazy(
        "同一申请人重复登记时合并为一条：保留的一条得到另一条的回访记录、领取记录、转化的客户"
        "与操作日志，并以最早的登记作为渠道来源；另一条的姓名和手机号写入备注，然后删除。"
    ),
    find=selectors.find_lead,
    candidates=selectors.merge_candidates,
    key=lambda lead: str(lead.pk),
    label=lambda lead: f"#{lead.pk} {lead.name} {lead.company}".strip(),
    facts=_lead_facts,
    merge=merging.lead_merge,
    done=lambda lead: reverse("leads:detail", args=[lead.pk]),
    nav="leads",
)


@require_http_methods(["GET", "POST"])
def merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """合并: find the duplicate, compare the two, choose which survives."""
    require_perm(request.user, merging.PERM)
    lead = selectors.access_lead(request.user, pk)
    return merge_page(
        request,
        lead,
        MERGE,
        title=_("合并客户申请：#%(id)d %(name)s") % {"id": lead.pk, "name": lead.name},
        back_url=reverse("leads:detail", args=[lead.pk]),
    )
