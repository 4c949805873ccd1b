"""租户库升级 in the console (开发运维, 系统管理员): the rollouts, a plan to look at before
starting one (nothing is written until 开始升级), and a rollout's progress live — by
server, by wave, each tenant — with 暂停, 继续 and 重试失败的租户. The work itself runs on
the task queue (``rollouts``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import DomainError
from apps.core.excel import table_response
from apps.core.inputs import parse_id
from apps.core.listing import paginate
from apps.core.navigation import hx_redirect
from apps.core.permissions import require_perm

from . import rollouts
from .models import Rollout, RolloutTenant
from .selectors import MANAGE

Status = RolloutTenant.Status
STATUS_ORDER = {
    Status.FAILED: 0,
    Status.RUNNING: 1,
    Status.SKIPPED: 2,
    Status.QUEUED: 3,
    Status.PENDING: 4,
    Status.SUCCEEDED: 5,
}


def _options(query: Any) -> dict[str, Any]:
    """The rollout options from a form or a query string, with defaults."""

    def number(name: str, default: int) -> int:
        value = parse_id(query.get(name))
        if query.get(name) in ("0", "０"):
            return 0
        return value if value is not None else default

    return {
        "target": (query.get("target") or "").strip(),
        "include_online": query.get("include_online") in ("1", "on", "true"),
        "canary_size": number("canary_size", 2),
        "wave_size": number("wave_size", 50),
    }


@require_GET
def rollout_list(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, MANAGE)
    versions = rollouts.versions_available()
    context = {
        "nav": "fleet",
        "rollouts": list(Rollout.objects.select_related("created_by")[:50]),
        "versions": versions,
        "options": {**_options(request.GET), "target": versions[-1] if versions else ""},
        "active": Rollout.objects.exclude(status=Rollout.Status.FINISHED).first(),
    }
    return render(request, "fleet/list.html", context)


@require_GET
def plan_view(request: HttpRequest) -> HttpResponse:
    """The plan for the options typed — read only (the UI's --dry-run)."""
    require_perm(request.user, MANAGE)
    options = _options(request.GET)
    plan, error = None, ""
    try:
        plan = rollouts.plan(**options)
    except DomainError as exc:
        error = exc.message
    return render(request, "fleet/_plan.html", {"plan": plan, "error": error, "options": options})


@require_POST
def start_view(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, MANAGE)
    try:
        rollout = rollouts.rollout_start(actor=request.user, **_options(request.POST))
    except DomainError as exc:
        messages.error(request, exc.message)
        return hx_redirect(request, reverse("fleet:list"))
    messages.success(request, _("已发起租户库升级 #%(n)d，由任务进程执行") % {"n": rollout.pk})
    return hx_redirect(request, reverse("fleet:detail", args=[rollout.pk]))


def _progress_context(rollout: Rollout) -> dict[str, Any]:
    attention = list(
        rollout.tenants.filter(status__in=[Status.FAILED, Status.RUNNING])
        .select_related("datasource")
        .order_by("status", "wave", "id")[:200]
    )
    return {
        "rollout": rollout,
        "progress": rollouts.rollout_progress(rollout),
        "attention": attention,
    }


@require_GET
def rollout_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request.user, MANAGE)
    rollout = get_object_or_404(Rollout.objects.select_related("created_by"), pk=pk)
    status = request.GET.get("status", "")
    tenants = rollout.tenants.select_related("datasource").order_by("wave", "id")
    if status in Status.values:
        tenants = tenants.filter(status=status)
    context = {
        "nav": "fleet",
        **_progress_context(rollout),
        **paginate(request, tenants),
        "status_filter": status,
        "status_choices": Status.choices,
    }
    return render(request, "fleet/detail.html", context)


@require_GET
def export_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Every tenant of the rollout (the status filter applied), its outcome and message."""
    require_perm(request.user, MANAGE)
    rollout = get_object_or_404(Rollout, pk=pk)
    tenants = rollout.tenants.order_by("wave", "id")
    status = request.GET.get("status", "")
    if status in Status.values:
        tenants = tenants.filter(status=status)
    return table_response(
        f"租户库升级-{rollout.pk}",
        [
            (_("批次"), lambda t: _("金丝雀") if t.wave == 0 else t.wave),
            (_("数据源名称"), lambda t: t.name),
            (_("数据源类型"), lambda t: t.get_db_type_display()),
            (_("数据库服务器"), lambda t: t.server),
            (_("已上线"), lambda t: _("是") if t.online else ""),
            (_("状态"), lambda t: t.get_status_display()),
            (_("原版本"), lambda t: t.from_version),
            (_("升级后版本"), lambda t: t.to_version),
            (_("执行次数"), lambda t: t.attempts),
            (_("用时（毫秒）"), lambda t: t.duration_ms),
            (_("开始时间"), lambda t: t.started_at),
            (_("结束时间"), lambda t: t.finished_at),
            (_("说明"), lambda t: t.message),
        ],
        tenants.iterator(chunk_size=2000),
    )


@require_GET
def progress_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the page, polled while the rollout is 进行中. Once it has ended
    or paused, the whole page is reloaded (``HX-Refresh``): its buttons and the list of
    every tenant change with it."""
    require_perm(request.user, MANAGE)
    rollout = get_object_or_404(Rollout, pk=pk)
    response = render(request, "fleet/_progress.html", _progress_context(rollout))
    if request.htmx and rollout.status != Rollout.Status.RUNNING:
        response["HX-Refresh"] = "true"
    return response


@require_POST
def steer_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    require_perm(request.user, MANAGE)
    steer = {
        "pause": (rollouts.rollout_pause, _("已暂停：进行中的租户完成后不再开始新的")),
        "resume": (rollouts.rollout_resume, _("已继续")),
        "retry": (rollouts.rollout_retry_failed, _("失败的租户已重新排队")),
    }.get(action)
    if steer is None:
        return redirect("fleet:detail", pk)
    function, done = steer
    try:
        function(actor=request.user, rollout_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return hx_redirect(request, reverse("fleet:detail", args=[pk]))
