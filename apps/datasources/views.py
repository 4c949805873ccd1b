"""Data-source console: the 数据源 panel on the customer page, and the modals to
configure (with 检测连接), advance 实施状态, delete and 检测数据. Views are thin: parse,
call a selector or service, render. Every action needs ``datasources.manage_datasource``
(开发运维, 系统管理员); the panel itself shows 运营 the status only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.errors import DomainError, ErrorCode, NotFound, ValidationFailed
from apps.core.forms import apply_errors, submit
from apps.core.inputs import parse_id
from apps.core.navigation import hx_redirect
from apps.core.permissions import has_perm, require_perm
from apps.core.tasks import worker_seen_seconds
from apps.customers.models import Customer
from apps.customers.selectors import access_customer

from . import clearing, provisioning, relocation, rotation, schemas, selectors, services
from .forms import ClearTablesForm, DataSourceForm, DeleteForm, RotationForm
from .models import DataSource, ProvisioningRun, TableClearing
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
        runs = list(selectors.provisioning_runs(user=user, customer=customer, limit=5))
        context["ds_runs"] = runs
        active = next((r for r in runs if r.active), None)
        context["ds_active_run"] = active
        if active is not None:
            context["ds_active_steps"] = provisioning.run_progress(active)
        context["ds_history"] = list(selectors.datasource_history(customer, limit=20))
        if ds is not None:
            context["ds_schema"] = schemas.schema_view(ds)
        context.update(_clearings_context(user, customer, ds))
        context.update(_relocation_context(user, customer))
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
    """配置数据源: the form, 检测连接 (``check_view``) and 保存, which queues the
    provisioning for a worker and shows its steps live (``run_view``). Wrong input is
    refused on the form, naming the fields; the password is never sent back. ``?from=<run>``
    fills the form again from a failed run (without its password)."""
    customer = _managed_customer(request, pk)
    existing = selectors.datasource_of(user=request.user, customer=customer)
    form = DataSourceForm(
        request.POST if request.method == "POST" else None,
        initial=_initial_from_run(request, customer),
    )
    error = ""
    if existing is not None:
        error = _("该客户已配置数据源 %(n)s；数据源保存后不可修改，如需更换请先删除") % {
            "n": existing.name
        }
    elif request.method == "POST" and form.is_valid():
        try:
            run = services.datasource_queue(
                actor=request.user, customer=customer, data=form.service_data()
            )
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except DomainError as exc:
            error = exc.message
        else:
            if not request.htmx:
                return redirect("datasources:run", customer.pk, run.pk)
            return _run_fragment(request, customer, run)
    name, database = services.peek_names(customer)
    context = {
        "customer": customer,
        "form": form,
        "error": error,
        "existing": existing,
        "preview_name": name,
        "preview_database": database,
    }
    if request.method == "POST" and request.htmx:
        return render(request, "datasources/_configure_form.html", context)
    return _dialog(request, "datasources/_configure_form.html", context)


def _initial_from_run(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    run_id = parse_id(request.GET.get("from"))
    if request.method != "GET" or run_id is None:
        return {}
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
    fields = ("db_type", "host", "port", "username", "max_connections", "min_connections")
    return {name: getattr(run, name) for name in fields} | {"remarks": run.remarks}


def _run_context(customer: Customer, run: ProvisioningRun, **extra: Any) -> dict[str, Any]:
    waiting = None
    if run.status == ProvisioningRun.Status.QUEUED:
        waiting = int((timezone.now() - (run.progress_at or run.started_at)).total_seconds())
    return {
        "customer": customer,
        "run": run,
        "steps": provisioning.run_progress(run),
        "waiting": waiting,
        "worker_seen": worker_seen_seconds() if waiting and waiting > 15 else None,
        **extra,
    }


def _run_fragment(
    request: HttpRequest, customer: Customer, run: ProvisioningRun, *, where: str = "modal"
) -> HttpResponse:
    """The live view of a run: polls itself while the run is queued or running; once it
    has finished, tells the page (``datasource-changed``) so the 数据源 panel reloads."""
    template = "datasources/_run_live.html" if where == "panel" else "datasources/_run.html"
    response = render(request, template, _run_context(customer, run))
    if not run.active:
        response["HX-Trigger"] = "datasource-changed"
    return response


@require_GET
def run_view(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """One provisioning run, live: the steps recorded so far, the one under way and those
    to come. The modal and the 数据源 panel poll it (``?in=panel`` for the panel's compact
    view); without HTMX it is a page of its own."""
    customer = _managed_customer(request, pk)
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
    if request.htmx:
        where = "panel" if request.GET.get("in") == "panel" else "modal"
        return _run_fragment(request, customer, run, where=where)
    return _dialog(request, "datasources/_run.html", _run_context(customer, run))


@require_POST
def retry_view(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """重试 a failed run: it is queued again and shown live in the modal."""
    customer = _managed_customer(request, pk)
    error = ""
    try:
        services.datasource_retry(actor=request.user, customer=customer, run_id=run_id)
    except DomainError as exc:
        error = exc.message
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
    response = _dialog(request, "datasources/_run.html", _run_context(customer, run, error=error))
    if request.htmx:
        response["HX-Retarget"] = "#modal"
        response["HX-Reswap"] = "innerHTML"
        response["HX-Trigger"] = "datasource-changed"
    return response


@require_http_methods(["GET", "POST"])
def cleanup_view(request: HttpRequest, pk: int, run_id: int) -> HttpResponse:
    """清理 a failed run (confirm): what it created on the tenant server and the password
    it kept are removed."""
    customer = _managed_customer(request, pk)
    run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
    error = ""
    if request.method == "POST":
        try:
            services.datasource_cleanup(actor=request.user, customer=customer, run_id=run.pk)
        except DomainError as exc:
            error = exc.message
            run = selectors.provisioning_run(user=request.user, customer=customer, run_id=run_id)
        else:
            return _done(request, customer, _("已清理配置记录 %(n)s") % {"n": run.name})
    context = {"customer": customer, "run": run, "error": error}
    return _dialog(request, "datasources/_cleanup_form.html", context)


@require_POST
def check_view(request: HttpRequest, pk: int) -> HttpResponse:
    """检测连接 with what is typed in the form; saves nothing (an audit row only)."""
    customer = _managed_customer(request, pk)
    return _check(
        request,
        customer,
        lambda data: services.datasource_check(actor=request.user, customer=customer, data=data),
    )


def _check(request: HttpRequest, customer: Customer, run: Any) -> HttpResponse:
    """The 检测连接 report of the form posted (configure or relocate)."""
    form = DataSourceForm(request.POST)
    report, errors, error = None, {}, ""
    if not form.is_valid():
        errors = {
            form.fields[k].label if k in form.fields else k: v for k, v in form.errors.items()
        }
    else:
        try:
            report = run(form.service_data())
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


@require_POST
def relocate_check_view(request: HttpRequest, pk: int) -> HttpResponse:
    """检测目标: the pre-flight against the relocation target typed in the form."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    return _check(
        request,
        customer,
        lambda data: relocation.relocation_check(
            actor=request.user, datasource=ds, data={**data, "db_type": ds.db_type}
        ),
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


@require_POST
def schema_view(request: HttpRequest, pk: int) -> HttpResponse:
    """检查版本: read the tenant's schema version now; the panel is shown again."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    schemas.datasource_check_schema(actor=request.user, datasource=ds)
    return render(
        request,
        "datasources/_panel.html",
        {"customer": customer, **panel_context(request, customer)},
    )


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


# --- 清空数据表 -------------------------------------------------------------------------------


def _clearings_context(user: Any, customer: Customer, ds: DataSource | None) -> dict[str, Any]:
    clearings = list(selectors.table_clearings(user=user, customer=customer))
    in_implementation = ds is not None and ds.impl_status == Status.IN_PROGRESS
    now = timezone.now()
    for c in clearings:
        c.can_restore = in_implementation and c.restorable(now)
    return {
        "ds_clearings": clearings,
        "ds_clearing_active": any(c.status in TableClearing.ACTIVE for c in clearings),
        "ds_can_clear": in_implementation,
    }


@require_GET
def clearings_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The 清空数据表 records of the panel, polled while one is under way."""
    customer = _managed_customer(request, pk)
    ds = selectors.datasource_of(user=request.user, customer=customer)
    context = {"customer": customer, **_clearings_context(request.user, customer, ds)}
    response = render(request, "datasources/_clearings.html", context)
    if not context["ds_clearing_active"] and request.GET.get("was") == "active":
        response["HX-Trigger"] = "datasource-changed"  # the history gained its rows
    return response


@require_http_methods(["GET", "POST"])
def clear_view(request: HttpRequest, pk: int) -> HttpResponse:
    """清空数据表: the tenant's business tables with their rows (read now), the choice and
    the typed name; 提交 queues the clearing for a worker."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    tables, error = [], ""
    try:
        tables = clearing.clearable_tables(actor=request.user, datasource=ds)
    except DomainError as exc:
        error = exc.message
    form = ClearTablesForm(request.POST if request.method == "POST" else None, tables=tables)
    done = submit(
        request,
        form,
        lambda: clearing.clearing_request(
            actor=request.user,
            datasource=ds,
            tables=form.cleaned_data["tables"],
            confirm_name=form.cleaned_data["confirm_name"],
        ),
        banner=True,
    )
    if done:
        return _done(
            request,
            customer,
            _("已提交清空 %(n)d 张数据表，完成后在「清空数据表记录」中查看")
            % {"n": len(done.value.tables)},
        )
    context = {
        "customer": customer,
        "datasource": ds,
        "form": form,
        "tables": tables,
        "retention_days": settings.TENANT_CLEAR_RETENTION_DAYS,
        "error": done.error or error,
    }
    return _dialog(request, "datasources/_clear_form.html", context)


@require_http_methods(["GET", "POST"])
def restore_view(request: HttpRequest, pk: int, clearing_id: int) -> HttpResponse:
    """恢复: put a clearing's rows back while its backups are kept."""
    customer = _managed_customer(request, pk)
    record = selectors.table_clearing(user=request.user, customer=customer, clearing_id=clearing_id)
    error = ""
    if request.method == "POST":
        try:
            clearing.clearing_restore(actor=request.user, clearing=record)
        except DomainError as exc:
            error = exc.message
        else:
            return _done(request, customer, _("已提交恢复，完成后在「清空数据表记录」中查看"))
    context = {"customer": customer, "clearing": record, "error": error}
    return _dialog(request, "datasources/_restore_form.html", context)


# --- 迁移数据源 and the earlier generations ----------------------------------------------------


def _relocation_context(user: Any, customer: Customer) -> dict[str, Any]:
    moves = list(selectors.relocations(user=user, customer=customer))
    active = next((m for m in moves if m.active), None)
    rotations = list(selectors.rotations(user=user, customer=customer))
    rotating = next((r for r in rotations if r.active), None)
    return {
        "ds_rotations": rotations,
        "ds_rotation_active": rotating,
        "ds_rotation_steps": rotation.rotation_progress(rotating) if rotating else [],
        "ds_relocations": moves,
        "ds_relocation_active": active,
        "ds_relocation_steps": relocation.relocation_progress(active) if active else [],
        "ds_retired": list(selectors.retired_datasources(user=user, customer=customer)),
    }


@require_http_methods(["GET", "POST"])
def relocate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """迁移数据源: the target server's address, account and pools; 开始迁移 queues the move
    for a worker, which the panel then follows."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    form = DataSourceForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: relocation.relocation_request(
            actor=request.user,
            datasource=ds,
            data={**form.service_data(), "db_type": ds.db_type},
        ),
        banner=True,
    )
    if done:
        return _done(
            request,
            customer,
            _("已开始迁移到 %(a)s，新数据源 %(n)s；进度见数据源面板")
            % {"a": f"{done.value.host}:{done.value.port}", "n": done.value.name},
        )
    context = {
        "customer": customer,
        "datasource": ds,
        "form": form,
        "preview_name": services.peek_names(customer)[0],
        "error": done.error,
    }
    return _dialog(request, "datasources/_relocate_form.html", context)


@require_GET
def relocation_view(request: HttpRequest, pk: int, relocation_id: int) -> HttpResponse:
    """A move's live progress (polled by the panel while it runs)."""
    customer = _managed_customer(request, pk)
    move = selectors.relocation(user=request.user, customer=customer, relocation_id=relocation_id)
    response = render(
        request,
        "datasources/_relocation_live.html",
        {"customer": customer, "move": move, "steps": relocation.relocation_progress(move)},
    )
    if not move.active:
        response["HX-Trigger"] = "datasource-changed"
    return response


@require_http_methods(["GET", "POST"])
def retired_remove_view(request: HttpRequest, pk: int, retired_id: int) -> HttpResponse:
    """删除旧库: type the old data source's name; the old database is probed first."""
    customer = _managed_customer(request, pk)
    retired = selectors.retired_datasource(
        user=request.user, customer=customer, retired_id=retired_id
    )
    form = DeleteForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: relocation.retired_remove(
            actor=request.user, retired=retired, confirm_name=form.cleaned_data["confirm_name"]
        ),
        banner=True,
    )
    if done:
        return _done(request, customer, done.value.removal_note)
    context = {"customer": customer, "retired": retired, "form": form, "error": done.error}
    return _dialog(request, "datasources/_retired_remove_form.html", context)


@require_http_methods(["GET", "POST"])
def rotate_view(request: HttpRequest, pk: int) -> HttpResponse:
    """轮换账号: a DBA account for the server; 开始轮换 queues the rotation."""
    customer = _managed_customer(request, pk)
    ds = _existing(request, customer)
    form = RotationForm(request.POST if request.method == "POST" else None)
    done = submit(
        request,
        form,
        lambda: rotation.rotation_request(
            actor=request.user,
            datasource=ds,
            admin_username=form.cleaned_data["admin_username"],
            admin_password=form.cleaned_data["admin_password"],
        ),
        banner=True,
    )
    if done:
        return _done(
            request,
            customer,
            _("已开始轮换账号：%(o)s → %(n)s；进度见数据源面板")
            % {"o": done.value.old_username, "n": done.value.new_username},
        )
    context = {
        "customer": customer,
        "datasource": ds,
        "form": form,
        "grace_minutes": settings.ROTATION_GRACE_SECONDS // 60,
        "error": done.error,
    }
    return _dialog(request, "datasources/_rotate_form.html", context)


@require_GET
def rotation_view(request: HttpRequest, pk: int, rotation_id: int) -> HttpResponse:
    """A rotation's live progress (polled by the panel while it runs)."""
    customer = _managed_customer(request, pk)
    record = selectors.rotation(user=request.user, customer=customer, rotation_id=rotation_id)
    response = render(
        request,
        "datasources/_rotation_live.html",
        {"customer": customer, "rot": record, "steps": rotation.rotation_progress(record)},
    )
    if not record.active:
        response["HX-Trigger"] = "datasource-changed"
    return response
