"""Console pages for contracts (合同). Thin: parse, call a selector or service, render.
Permissions and data scope are checked by the selectors and services; a NotFound or
Forbidden they raise becomes the 404/403 page (apps.core.middleware)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.audit.selectors import history
from apps.core.errors import Conflict, NotFound, ProfileIncomplete, ValidationFailed
from apps.core.excel import local_text, xlsx_response
from apps.core.files import serve_private
from apps.core.forms import apply_errors
from apps.core.listing import paginate
from apps.core.permissions import require_perm
from apps.core.records import field_labels
from apps.customers.models import Customer
from apps.customers.selectors import CustomerFilters, access_customer, customer_list
from apps.customers.services import ensure_profile_complete

from . import services
from .forms import ContractForm, StatusForm
from .models import Contract
from .selectors import SORTS, ContractFilters, access_contract, access_contract_scan, contract_list


def _filters(request: HttpRequest) -> ContractFilters:
    sort = request.GET.get("sort", "-created")
    if sort.lstrip("-") not in SORTS:
        sort = "-created"
    return ContractFilters(
        q=request.GET.get("q", "")[:100],
        status=request.GET.get("status", ""),
        expiring=request.GET.get("expiring") == "1",
        customer=request.GET.get("customer", ""),
        sort=sort,
    )


@require_http_methods(["GET"])
def list_view(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    sort = filters.sort
    context = paginate(request, contract_list(user=request.user, filters=filters))
    context.update(
        {
            "nav": "contracts",
            "filters": filters,
            "sort": sort,
            "status_choices": Contract.Status.choices,
            "expiry_days": settings.CONTRACT_EXPIRY_WARNING_DAYS,
        }
    )
    if request.htmx and not request.htmx.boosted:
        return render(request, "contracts/_list_results.html", context)
    return render(request, "contracts/list.html", context)


@require_http_methods(["GET"])
def export_view(request: HttpRequest) -> HttpResponse:
    """The filtered contracts as Excel: the same selector, so the same rows the user may
    see (the bank account in full: exporting is a manager's permission)."""
    require_perm(request.user, "contracts.export_contract")
    qs = contract_list(user=request.user, filters=_filters(request)).select_related(
        "customer", "created_by"
    )
    headers = [
        "企业号", "企业名称", "开户行", "法人代表", "账号", "合作开始时间", "合作截止时间",
        "授权小区数", "合同金额", "甲方对接人", "甲方电话", "乙方对接人", "乙方电话", "状态",
        "创建人", "创建时间",
    ]  # fmt: skip

    def to_row(c: Contract) -> list:
        return [
            c.customer.enterprise_no,
            c.customer.name,
            c.bank_name,
            c.legal_representative,
            c.account_no,
            c.start_date,
            c.end_date,
            c.communities,
            c.amount,
            c.party_a_contact,
            c.party_a_phone,
            c.party_b_contact,
            c.party_b_phone,
            c.get_status_display(),
            c.created_by.display_name if c.created_by_id else "",
            local_text(c.created_at),
        ]

    return xlsx_response("合同", headers, qs.iterator(chunk_size=2000), to_row)


@require_http_methods(["GET"])
def detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    contract = access_contract(request.user, pk)
    return render(
        request,
        "contracts/detail.html",
        {
            "nav": "contracts",
            "contract": contract,
            "history": history(contract, viewer=request.user),
        },
    )


def _gate_redirect(request: HttpRequest, customer: Customer, exc: ProfileIncomplete):
    """Back to the customer page, which opens the completeness modal for ?gate=contract."""
    messages.warning(request, exc.message)
    return redirect(reverse("customers:detail", args=[customer.pk]) + "?gate=contract")


def _choose_customer(request: HttpRequest) -> HttpResponse:
    """/contracts/new/ without a customer: find the customer the contract is for."""
    q = request.GET.get("q", "")[:100]
    customers = customer_list(user=request.user, filters=CustomerFilters(q=q))[:20] if q else []
    return render(
        request,
        "contracts/choose_customer.html",
        {"nav": "contracts", "q": q, "customers": customers},
    )


@require_http_methods(["GET", "POST"])
def create_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, "contracts.add_contract")
    customer_pk = request.GET.get("customer", "")
    if not customer_pk:
        return _choose_customer(request)
    customer = access_customer(request.user, customer_pk)
    if request.method == "POST":
        form = ContractForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                contract = services.contract_create(
                    actor=request.user,
                    customer=customer,
                    data=form.service_data(),
                    scan=form.cleaned_data["scan"],
                )
            except ProfileIncomplete as exc:
                return _gate_redirect(request, customer, exc)
            except ValidationFailed as exc:
                apply_errors(form, exc, labels=field_labels(Contract))
            else:
                messages.success(request, _("合同已创建"))
                return redirect("contracts:detail", pk=contract.pk)
    else:
        form = None
    # The completeness gate (DESIGN §3.2): no form for an incomplete customer.
    try:
        ensure_profile_complete(customer, _("添加合同"))
    except ProfileIncomplete as exc:
        return _gate_redirect(request, customer, exc)
    if form is None:
        user = request.user
        form = ContractForm(
            initial={
                "party_a_contact": customer.contact_name,
                "party_a_phone": customer.contact_phone,
                "party_b_contact": user.display_name,
                "party_b_phone": user.phone,
                "intro": customer.intro,
            }
        )
    return render(
        request,
        "contracts/form.html",
        {"nav": "contracts", "form": form, "customer": customer, "contract": None},
    )


@require_http_methods(["GET", "POST"])
def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    contract = access_contract(request.user, pk, perm="contracts.change_contract")
    has_scan = bool(contract.scan)
    if request.method == "POST":
        form = ContractForm(request.POST, request.FILES, has_scan=has_scan)
        if form.is_valid():
            try:
                services.contract_update(
                    actor=request.user,
                    contract=contract,
                    data=form.service_data(),
                    scan=form.cleaned_data["scan"],
                )
            except ValidationFailed as exc:
                apply_errors(form, exc, labels=field_labels(Contract))
            else:
                messages.success(request, _("合同已保存"))
                return redirect("contracts:detail", pk=contract.pk)
    else:
        form = ContractForm(initial=ContractForm.initial_for(contract), has_scan=has_scan)
    return render(
        request,
        "contracts/form.html",
        {"nav": "contracts", "form": form, "customer": contract.customer, "contract": contract},
    )


@require_http_methods(["GET", "POST"])
def status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation (a modal fragment for HTMX); POST: switch to the state asked."""
    contract = access_contract(request.user, pk, perm="contracts.change_contract")
    open_ = contract.status == Contract.Status.OPEN
    target = Contract.Status.CLOSED if open_ else Contract.Status.OPEN
    if request.method == "POST":
        form = StatusForm(request.POST)
        if not form.is_valid():
            messages.error(request, "；".join(form.error_summary()))
            return redirect("contracts:detail", pk=contract.pk)
        wanted = form.cleaned_data["status"]
        try:
            services.contract_set_status(
                actor=request.user,
                contract=contract,
                status=wanted,
                reason=form.cleaned_data["reason"],
            )
        except (Conflict, ValidationFailed) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("合同已%(s)s") % {"s": Contract.Status(wanted).label})
        return redirect("contracts:detail", pk=contract.pk)
    context = {
        "contract": contract,
        "target": target,
        "target_label": Contract.Status(target).label,
        "form": StatusForm(initial={"status": target}),
    }
    if request.htmx:
        return render(request, "contracts/_status_modal.html", context)
    return render(request, "contracts/status_confirm.html", {"nav": "contracts", **context})


@require_http_methods(["GET"])
def scan_view(request: HttpRequest, pk: int) -> HttpResponse:
    contract = access_contract_scan(request.user, pk)
    ext = contract.scan.name.rsplit(".", 1)[-1].lower() if "." in contract.scan.name else "bin"
    name = f"合同扫描件-{contract.customer.enterprise_no}-{contract.pk}.{ext}"
    try:
        return serve_private(contract.scan, name)
    except FileNotFoundError:
        raise NotFound(_("扫描件文件不存在，请重新上传")) from None
