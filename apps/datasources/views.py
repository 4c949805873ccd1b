"""Data-source console: the 数据源 panel on the customer page, and the modals to
configure (with 检测连接), advance 实施状态, delete and 检测数据. Views are thin: parse,
call a selector or service, render. Every action needs ``datasources.manage_datasource``
(开发运维, 系统管理员); the panel itself shows 运营 the status only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DomainError, ErrorCode, NotFound, ValidationFailed
from apps.core.forms import apply_errors, submit
from apps.core.navigation import hx_redirect
from apps.core.permissions import has_perm, require_perm
from apps.customers.models import Customer
from apps.customers.selectors import access_customer

from . import selectors, services
from .forms import DataSourceForm, DeleteForm
from .models import DataSource
from .selectors import MANAGE, VIEW

Status = DataSource.ImplStatus


def next_status(ds: DataSource | None) -> Status | None:
    if ds is None or ds.impl_status >= Status.ONLINE:
        return None
    return Status(ds.impl_status + 1)


def panel_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """What the 数据源 panel of the customer page needs (the customer is already
    access-checked by the caller). 运营 get the status only; the connection details, the
    provisioning runs and the data-source history need the manage permission."""
    user = request.user
    if not has_perm(user, VIEW):
        return {"ds_panel": False}
    ds = selectors.datasource_of(user=user, customer=customer)
    manage = has_perm(user, MANAGE)
    context: dict[str, Any] = {
        "ds_panel": True,
        "ds_manage": manage,
        "datasource": ds,
        "ds_next": next_status(ds),
    }
    if manage:
        context["ds_runs"] = list(
            selectors.provisioning_runs(user=user, customer=customer, limit=5)
        )
        context["ds_history"] = list(selectors.datasource_history(customer, limit=20))
    return context


def _detail_url(customer: Customer) -> str:
    return reverse("customers:detail", args=[customer.pk])


def _done(request: HttpRequest, customer: Customer, message: str) -> HttpResponse:
    messages.success(request, message)
    return hx_redirect(request, _detail_url(customer))


def _managed_customer(request: HttpRequest, pk: int) -> Customer:
    require_perm(request.user, MANAGE)
    return access_customer(request.user, pk)


def _existing(request: HttpRequest, customer: Customer) -> DataSource:
    ds = selectors.datasource_of(user=request.user, customer=customer)
    if ds is None:
        raise NotFound(_("暂未配置数据源"), code=ErrorCode.DATASOURCE_NOT_CONFIGURED)
    return ds


def _dialog(request: HttpRequest, body: str, context: dict[str, Any]) -> HttpResponse:
    """A modal fragment for HTMX; the same content as a page otherwise."""
    context = {**context, "body": body, "nav": "customers"}
    template = "datasources/_modal.html" if request.htmx else "datasources/page.html"
    return render(request, template, context)


@require_GET
def panel_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, VIEW)
    customer = access_customer(request.user, pk)
    return render(
        request,
        "datasources/_panel.html",
        {"customer": customer, **panel_context(request, customer)},
    )


@require_http_methods(["GET", "POST"])
def configure_view(request: HttpRequest, pk: int) -> HttpResponse:
    """配置数据源: the form, 检测连接 (``check_view``) and 保存. On failure the non-secret
    fields are kept, the failed step and its cause shown; the password is never sent back."""
    customer = _managed_customer(request, pk)
    existing = selectors.datasource_of(user=request.user, customer=customer)
    form = DataSourceForm(request.POST if request.method == "POST" else None)
    error, failed_run = "", None
    if existing is not None:
        error = _("该客户已配置数据源 %(n)s；数据源保存后不可修改，如需更换请先删除") % {
            "n": existing.name
        }
    elif request.method == "POST" and form.is_valid():
        try:
            ds = services.datasource_configure(
                actor=request.user, customer=customer, data=form.service_data()
            )
        except services.ProvisioningFailed as exc:
            error, failed_run = exc.message, exc.run
            if exc.fields:
                apply_errors(form, exc)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except DomainError as exc:
            error = exc.message
        else:
            return _done(request, customer, _("已配置数据源 %(n)s") % {"n": ds.name})
    name, database = services.peek_names(customer)
    context = {
        "customer": customer,
        "form": form,
        "error": error,
        "existing": existing,
        "failed_run": failed_run,
        "preview_name": name,
        "preview_database": database,
    }
    if request.method == "POST" and request.htmx:
        return render(request, "datasources/_configure_form.html", context)
    return _dialog(request, "datasources/_configure_form.html", context)


@require_POST
def check_view(request: HttpRequest, pk: int) -> HttpResponse:
    """检测连接 with what is typed in the form; saves nothing (an audit row only)."""
    customer = _managed_customer(request, pk)
    form = DataSourceForm(request.POST)
    report, errors, error = None, {}, ""
    if not form.is_valid():
        errors = {
            form.fields[k].label if k in form.fields else k: v for k, v in form.errors.items()
        }
    else:
        try:
            report = services.datasource_check(
                actor=request.user, customer=customer, data=form.service_data()
            )
        except ValidationFailed as exc:
            labels = services.field_labels()
            errors = {labels.get(k, k): v for k, v in exc.fields.items()} or {"": [exc.message]}
        except DomainError as exc:
            error = exc.message
    return render(
        request,
        "datasources/_check_result.html",
        {"customer": customer, "report": report, "errors": errors, "error": error},
    )


@require_http_methods(["GET", "POST"])
def status_view(request: HttpRequest, pk: int) -> HttpResponse:
    """推进到下一状态 (confirm). The form carries the target, so a repeated submit is
    refused (409) rather than moving two steps."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    error = ""
    if request.method == "POST":
        try:
            ds = services.datasource_advance(
                actor=request.user, datasource=ds, to_status=request.POST.get("to", "")
            )
        except DomainError as exc:
            error = exc.message
            ds = _existing(request, customer)
        else:
            return _done(
                request,
                customer,
                _("实施状态已更新为「%(s)s」") % {"s": ds.get_impl_status_display()},
            )
    context = {"customer": customer, "datasource": ds, "ds_next": next_status(ds), "error": error}
    return _dialog(request, "datasources/_status_form.html", context)


@require_http_methods(["GET", "POST"])
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """删除数据源: only in 未实施, after typing its name; the service probes the tenant
    database for rows first."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    form = DeleteForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: services.datasource_delete(
            actor=request.user,
            datasource=ds,
            confirm_name=form.cleaned_data["confirm_name"],
        ),
        banner=True,
    )
    error = done.error
    if done:
        return _done(request, customer, _("已删除数据源 %(n)s") % {"n": ds.name})
    context = {"customer": customer, "datasource": ds, "form": form, "error": error}
    return _dialog(request, "datasources/_delete_form.html", context)


@require_GET
def probe_view(request: HttpRequest, pk: int) -> HttpResponse:
    """检测数据: which tenant tables hold rows and how many communities are online."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    result, error = None, ""
    try:
        result = services.datasource_probe(actor=request.user, datasource=ds)
    except DomainError as exc:
        error = exc.message
    return render(
        request,
        "datasources/_probe.html",
        {"customer": customer, "datasource": ds, "result": result, "error": error},
    )
