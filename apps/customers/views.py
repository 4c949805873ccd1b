"""Customer console pages. Views parse, call a selector or service, and render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.scope import sees_all
from apps.audit.selectors import can_read as can_read_audit
from apps.audit.selectors import history
from apps.core import regions, registry
from apps.core.bulk import bulk_assign
from apps.core.errors import DomainError, ErrorCode, ValidationFailed
from apps.core.excel import local_text, table_response, xlsx_response
from apps.core.files import serve_private
from apps.core.forms import apply_errors, submit
from apps.core.importing import import_page, template_response
from apps.core.listing import paginate
from apps.core.merging import MergeKind, merge_page
from apps.core.navigation import hx_redirect
from apps.core.permissions import has_perm, require_perm

from . import importing, lifecycle, merging, services
from . import packages as packages_
from .forms import (
    CloseForm,
    CustomerForm,
    ExtendTrialForm,
    ModulesForm,
    PackageForm,
    ProfileForm,
    TrialForm,
    new_customer_form,
)
from .models import Customer, ServiceState
from .selectors import (
    CustomerFilters,
    access_customer,
    assignable_owners,
    customer_list,
    extra_filters,
    find_customer,
    merge_candidates,
    visible_customers,
)


def _filters(request: HttpRequest) -> CustomerFilters:
    return CustomerFilters.from_query(request.GET)


def list_view(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    qs = customer_list(user=request.user, filters=filters)
    context = paginate(request, qs)
    can_assign = has_perm(request.user, "customers.assign_customer")
    context.update(
        {
            "nav": "customers",
            "filters": filters,
            "provinces": regions.provinces(),
            "status_choices": Customer.Status.choices,
            "service_choices": ServiceState.choices,
            "owners": list(assignable_owners()) if sees_all(request.user) else [],
            "can_add": has_perm(request.user, "customers.add_customer"),
            "can_assign": can_assign,
            "sort": filters.sort,
            "extra_filters": [
                (f, filters.extra.get(f.param, "")) for f in extra_filters(request.user)
            ],
        }
    )
    template = "customers/_list_table.html" if request.htmx else "customers/list.html"
    return render(request, template, context)


def export_view(request: HttpRequest) -> HttpResponse:
    """The filtered list as Excel (same selector, so the same rows the user may see)."""
    require_perm(request.user, "customers.export_customer")
    qs = customer_list(user=request.user, filters=_filters(request))
    headers = [
        "企业号", "企业名称", "营业执照号", "所属省份", "所属城市", "企业详细地址", "办公电话",
        "邮箱", "联系人", "联系电话", "状态", "负责人", "开通时间", "创建时间",
    ]  # fmt: skip

    def to_row(c: Customer) -> list:
        return [
            c.enterprise_no,
            c.name,
            c.license_no or "",
            c.province_name,
            c.city_name,
            c.address,
            c.office_phone,
            c.email,
            c.contact_name,
            c.contact_phone,
            c.get_status_display(),
            c.owner.display_name if c.owner_id else "",
            local_text(c.activated_at),
            local_text(c.created_at),
        ]

    return xlsx_response("客户", headers, qs.iterator(chunk_size=2000), to_row)


def detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access_customer(request.user, pk)
    missing = services.missing_profile_fields(customer)
    user = request.user
    context = {
        "nav": "customers",
        "customer": customer,
        "missing": missing,
        "missing_labels": [services.field_label(n) for n in missing],
        "blockers": [
            b
            for b in (services.activation_blockers(customer) if not customer.is_open else [])
            if b.code != ErrorCode.PROFILE_INCOMPLETE
        ],
        "module_labels": dict(ModulesForm.base_fields["modules"].choices),
        "history": history(customer, viewer=user),
        "can_read_audit": can_read_audit(user),
        "can_change": has_perm(user, "customers.change_customer"),
        "can_activate": has_perm(user, "customers.activate_customer"),
        "can_close": has_perm(user, "customers.close_customer"),
        "can_assign": has_perm(user, "customers.assign_customer"),
        "can_add_contract": has_perm(user, "contracts.add_contract"),
        "can_download": has_perm(user, "customers.view_customer_file"),
        "can_extend_trial": has_perm(user, "customers.extend_trial")
        and lifecycle.trial_extendable(customer),
        "service_label": lifecycle.state_label(customer.service_state),
        "gate": request.GET.get("gate", ""),
        "owners": list(assignable_owners()) if has_perm(user, "customers.assign_customer") else [],
    }
    # Cards other apps add (数据源, 合同 …), each with its own context.
    panels = []
    for panel in registry.customer_panels():
        extra = panel.context(request, customer)
        if extra is not None:
            context.update(extra)
            panels.append(panel.template)
    context["panels"] = panels
    return render(request, "customers/detail.html", context)


@require_http_methods(["GET", "POST"])
def create_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, "customers.add_customer")
    form = new_customer_form(request)
    done = submit(
        request,
        form,
        lambda: services.customer_create(
            actor=request.user,
            data=form.service_data(),
            owner=form.chosen_owner(),
            license_scan=request.FILES.get("license_scan"),
        ),
    )
    if done:
        customer = done.value
        messages.success(request, _("已创建客户 %(no)s") % {"no": customer.enterprise_no})
        return redirect("customers:detail", pk=customer.pk)
    return render(
        request,
        "customers/form.html",
        {"form": form, "nav": "customers", "title": _("新建客户")},
    )


@require_http_methods(["GET", "POST"])
def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access_customer(request.user, pk, perm="customers.change_customer")
    form = CustomerForm(request.POST or None, request.FILES or None, instance=customer)
    done = submit(
        request,
        form,
        lambda: services.customer_update(
            actor=request.user,
            customer=customer,
            data=form.service_data(),
            license_scan=request.FILES.get("license_scan"),
        ),
    )
    if done:
        messages.success(request, _("已保存"))
        return redirect("customers:detail", pk=customer.pk)
    return render(
        request,
        "customers/form.html",
        {"form": form, "customer": customer, "nav": "customers", "title": _("编辑客户资料")},
    )


def _modal(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def activate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """开通 modal: the missing profile fields (if any) and the modules, in one step."""
    customer = access_customer(request.user, pk, perm="customers.activate_customer")
    missing = services.missing_profile_fields(customer)
    data = request.POST if request.method == "POST" else None
    profile_form = ProfileForm(data, instance=customer, missing=missing) if missing else None
    initial = {
        "modules": customer.modules or settings.DEFAULT_CUSTOMER_MODULES,
        "package": customer.package_id,
    }
    modules_form = ModulesForm(data, initial=initial)
    other_blockers = [
        b for b in services.activation_blockers(customer) if b.code != ErrorCode.PROFILE_INCOMPLETE
    ]
    error = ""
    saved = False
    if request.method == "POST" and other_blockers and profile_form is not None:
        # Not yet activatable (e.g. no data source): the profile can still be completed now,
        # and the modal stays to say what else is missing and who must act.
        if profile_form.is_valid():
            try:
                services.customer_complete_profile(
                    actor=request.user, customer=customer, data=profile_form.service_data()
                )
            except ValidationFailed as exc:
                apply_errors(profile_form, exc)
            else:
                customer = access_customer(request.user, pk, perm="customers.activate_customer")
                missing, profile_form, saved = [], None, True
    elif request.method == "POST":
        profile_ok = profile_form.is_valid() if profile_form else True
        if profile_ok and modules_form.is_valid():
            try:
                services.customer_activate(
                    actor=request.user,
                    customer=customer,
                    modules=modules_form.cleaned_data["modules"],
                    package=modules_form.cleaned_data["package"],
                    profile=profile_form.service_data() if profile_form else None,
                )
            except ValidationFailed as exc:
                if profile_form and set(exc.fields) & set(profile_form.fields):
                    apply_errors(profile_form, exc)
                elif {"modules", "package"} & set(exc.fields):
                    apply_errors(modules_form, exc)
                else:
                    error = exc.message
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(request, _("客户已开通"))
                return hx_redirect(request, reverse("customers:detail", args=[customer.pk]))
    context = {
        "customer": customer,
        "profile_form": profile_form,
        "modules_form": modules_form,
        "missing_labels": [services.field_label(n) for n in missing],
        "blockers": other_blockers,
        "error": error,
        "saved": saved,
    }
    return _modal(request, "customers/_activate_modal.html", context)


@require_http_methods(["GET", "POST"])
def contract_gate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """添加合同: with a complete profile go straight to the contract form; otherwise a
    modal asks for exactly the missing fields, then carries on to the contract form."""
    customer = access_customer(request.user, pk, perm="contracts.add_contract")
    target = f"{reverse('contracts:create')}?customer={customer.pk}"
    missing = services.missing_profile_fields(customer)
    if not missing:
        return hx_redirect(request, target)
    form = ProfileForm(
        request.POST if request.method == "POST" else None, instance=customer, missing=missing
    )
    done = submit(
        request,
        form,
        lambda: services.customer_complete_profile(
            actor=request.user, customer=customer, data=form.service_data()
        ),
    )
    if done:
        messages.success(request, _("资料已补全，请填写合同"))
        return hx_redirect(request, target)
    context = {
        "customer": customer,
        "form": form,
        "missing_labels": [services.field_label(n) for n in missing],
        "action_url": reverse("customers:contract_gate", args=[customer.pk]),
        "action_label": _("添加合同"),
        "submit_label": _("保存并继续添加合同"),
    }
    return _modal(request, "customers/_profile_modal.html", context)


@require_http_methods(["GET", "POST"])
def close_view(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access_customer(request.user, pk, perm="customers.close_customer")
    form = CloseForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: services.customer_close(
            actor=request.user, customer=customer, reason=form.cleaned_data["reason"]
        ),
        banner=True,
    )
    error = done.error
    if done:
        messages.success(request, _("客户已关闭"))
        return hx_redirect(request, reverse("customers:detail", args=[customer.pk]))
    return _modal(
        request, "customers/_close_modal.html", {"customer": customer, "form": form, "error": error}
    )


@require_POST
def assign_view(request: HttpRequest) -> HttpResponse:
    """Managers assign one or many customers to a specialist, or back to the pool."""
    require_perm(request.user, "customers.assign_customer")
    return bulk_assign(
        request,
        visible=visible_customers(request.user),
        owners=assignable_owners(),
        assign=lambda rows, owner: services.customer_assign(
            actor=request.user, customers=rows, owner=owner
        ),
        back_to=reverse("customers:list"),
        noun=_("客户"),
        unit=_("个"),
    )


def license_scan_view(request: HttpRequest, pk: int) -> HttpResponse:
    customer = access_customer(request.user, pk, perm="customers.view_customer_file")
    if not customer.license_scan:
        return render(request, "errors/404.html", status=404)
    ext = customer.license_scan.name.rsplit(".", 1)[-1]
    return serve_private(customer.license_scan, f"营业执照-{customer.enterprise_no}.{ext}")


# --- 套餐 --------------------------------------------------------------------------------


@require_GET
def package_export_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, packages_.MANAGE)
    labels = dict(settings.CUSTOMER_MODULES)
    return table_response(
        "套餐",
        [
            (_("套餐名称"), lambda p: p.name),
            (_("包含模块"), lambda p: "、".join(str(labels.get(m, m)) for m in p.modules or [])),
            (_("账号数上限"), lambda p: p.max_accounts),
            (_("小区数上限"), lambda p: p.max_communities),
            (_("状态"), lambda p: _("启用") if p.is_active else _("停用")),
            (_("备注"), lambda p: p.remarks),
        ],
        packages_.package_list(user=request.user).iterator(chunk_size=2000),
    )


def package_list_view(request: HttpRequest) -> HttpResponse:
    packages = list(packages_.package_list(user=request.user))
    labels = dict(settings.CUSTOMER_MODULES)
    for package in packages:
        package.module_labels = [str(labels.get(m, m)) for m in package.modules or []]
    return render(
        request,
        "customers/package_list.html",
        {
            "packages": packages,
            "can_manage": has_perm(request.user, packages_.MANAGE),
            "nav": "packages",
        },
    )


@require_http_methods(["GET", "POST"])
def package_create_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, packages_.MANAGE)
    form = PackageForm(request.POST or None)
    done = submit(
        request,
        form,
        lambda: packages_.package_create(actor=request.user, data=form.service_data()),
    )
    if done:
        messages.success(request, _("已创建套餐 %(n)s") % {"n": done.value.name})
        return redirect("customers:package_list")
    return render(
        request,
        "customers/package_form.html",
        {"form": form, "nav": "packages", "title": _("新建套餐")},
    )


@require_http_methods(["GET", "POST"])
def package_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    package = packages_.access_package(request.user, pk)
    require_perm(request.user, packages_.MANAGE)
    form = PackageForm(request.POST or None, instance=package)
    done = submit(
        request,
        form,
        lambda: packages_.package_update(
            actor=request.user, package=package, data=form.service_data()
        ),
    )
    if done:
        messages.success(request, _("已保存套餐 %(n)s") % {"n": done.value.name})
        return redirect("customers:package_list")
    return render(
        request,
        "customers/package_form.html",
        {"form": form, "package": package, "nav": "packages", "title": _("编辑套餐")},
    )


# --- 试用 --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def trial_view(request: HttpRequest, pk: int) -> HttpResponse:
    """开通试用 modal: a package and the days; the same prerequisites as 开通."""
    customer = access_customer(request.user, pk, perm="customers.activate_customer")
    form = TrialForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: lifecycle.customer_start_trial(
            actor=request.user,
            customer=customer,
            package=form.cleaned_data["package"],
            days=form.cleaned_data["days"],
        ),
        banner=True,
        refusals=(ValidationFailed,),
    )
    if done:
        messages.success(request, _("已开通试用"))
        return hx_redirect(request, reverse("customers:detail", args=[customer.pk]))
    context = {"customer": customer, "form": form, "error": done.error}
    return _modal(request, "customers/_trial_modal.html", context)


@require_http_methods(["GET", "POST"])
def extend_trial_view(request: HttpRequest, pk: int) -> HttpResponse:
    """延长试用 modal (运营主管, a limited number of times)."""
    require_perm(request.user, "customers.extend_trial")
    customer = access_customer(request.user, pk)
    form = ExtendTrialForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: lifecycle.customer_extend_trial(
            actor=request.user, customer=customer, days=form.cleaned_data["days"]
        ),
        banner=True,
    )
    if done:
        messages.success(request, _("试用已延长"))
        return hx_redirect(request, reverse("customers:detail", args=[customer.pk]))
    context = {
        "customer": customer,
        "form": form,
        "error": done.error,
        "left": max(0, settings.TRIAL_MAX_EXTENSIONS - customer.trial_extensions),
    }
    return _modal(request, "customers/_extend_trial_modal.html", context)


@require_http_methods(["GET", "POST"])
def import_view(request: HttpRequest) -> HttpResponse:
    return import_page(
        request,
        perm=importing.PERM,
        run=lambda actor, upload: importing.customers_import(actor=actor, upload=upload),
        done_message=_("已导入 %(n)d 个客户"),
        done_url=reverse("customers:list"),
        context={
            "nav": "customers",
            "title": _("导入客户"),
            "template_url": reverse("customers:import_template"),
            "back_url": reverse("customers:list"),
            "max_rows": importing.MAX_ROWS,
            "description": _(
                "按模板填写企业名称（必填）及营业执照号、省份、城市、地址、电话、邮箱、联系人等资料；"
                "资料可以不全，开通和签合同前再补齐。每个客户自动分配企业号；负责人留空时归你负责；"
                "营业执照号或企业名称已有客户的行不会重复导入。"
            ),
        },
    )


@require_GET
def import_template_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, importing.PERM)
    return template_response(importing.template_bytes(), "客户导入模板.xlsx")


# --- 合并 ----------------------------------------------------------------------------------


def _customer_facts(c: Customer) -> list[tuple[str, str]]:
    return [
        (_("企业号"), c.enterprise_no),
        (_("企业名称"), c.name),
        (_("营业执照号"), c.license_no or ""),
        (_("所在地区"), " ".join(filter(None, [c.province_name, regions.name(c.city)]))),
        (_("联系人"), c.contact_name),
        (_("联系电话"), c.contact_phone),
        (_("状态"), c.get_status_display()),
        (_("负责人"), c.owner.display_name if c.owner_id else _("未分配")),
        (_("创建时间"), local_text(c.created_at)),
    ]


MERGE = MergeKind(
    noun=_lazy("客户"),
    placeholder=_lazy("企业号"),
    description=_lazy(
        "同一企业重复建档时合并为一个：保留的客户得到另一个的合同、客户申请、操作日志，"
        "并补上自己缺少的资料；另一个客户随后删除，企业号不再使用。已配置数据源的客户"
        "只能作为保留的一方（两个都已配置数据源时不能合并）。"
    ),
    find=find_customer,
    candidates=merge_candidates,
    key=lambda c: c.enterprise_no,
    label=lambda c: f"{c.enterprise_no} {c.name}".strip(),
    facts=_customer_facts,
    merge=merging.customer_merge,
    done=lambda c: reverse("customers:detail", args=[c.pk]),
    nav="customers",
)


@require_http_methods(["GET", "POST"])
def merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """合并: find the duplicate, compare the two, choose which survives."""
    require_perm(request.user, merging.PERM)
    customer = access_customer(request.user, pk)
    return merge_page(
        request,
        customer,
        MERGE,
        title=_("合并客户：%(no)s %(name)s")
        % {"no": customer.enterprise_no, "name": customer.name},
        back_url=reverse("customers:detail", args=[customer.pk]),
    )
