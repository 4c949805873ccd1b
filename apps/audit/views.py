"""操作日志: the filtered list of audit rows (login log included) and its Excel export."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.excel import xlsx_response
from apps.core.listing import paginate
from apps.core.permissions import has_perm

from . import selectors
from .forms import AuditFilterForm

EXPORT_HEADERS = [
    "时间",
    "操作人",
    "来源 IP",
    "请求号",
    "操作",
    "对象类型",
    "对象编号",
    "对象",
    "变更",
    "说明",
]


def _filtered(request: HttpRequest):
    actors = selectors.actor_choices(request.user)  # checks the reader's permission
    form = AuditFilterForm(request.GET or None, actors=actors, user=request.user)
    return form, selectors.audit_list(user=request.user, filters=form.filters())


@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered(request)
    context = paginate(request, qs)
    context.update(
        form=form,
        rows=selectors.present(context["page_obj"].object_list, viewer=request.user),
        customer_label=selectors.customer_label(form.filters().customer)
        if form.filters().customer
        else "",
        reads_all=has_perm(request.user, selectors.VIEW_PERM),
        reads_tallies=bool(selectors.tally_actions(request.user)),
        nav="audit",
    )
    return render(request, "audit/list.html", context)


@require_GET
def read_tallies(request: HttpRequest) -> HttpResponse:
    """读取汇总: counted machine reads (the tenant registry), per token and tenant."""
    q = request.GET.get("q", "")
    context = paginate(request, selectors.read_tallies(user=request.user, q=q))
    context.update(
        q=q.strip()[:100],
        flush_seconds=settings.AUDIT_TALLY_FLUSH_SECONDS,
        nav="audit",
    )
    return render(request, "audit/reads.html", context)


@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as an .xlsx workbook with Chinese headers."""
    _form, qs = _filtered(request)

    def to_row(row: selectors.AuditRow) -> list:
        log = row.log
        return [
            log.at,
            log.actor_name,
            log.ip or "",
            log.request_id,
            row.action_label,
            row.type_label,
            log.object_id,
            log.object_repr,
            row.changes_text,
            log.message,
        ]

    return xlsx_response(
        "操作日志",
        EXPORT_HEADERS,
        selectors.export_rows(qs),
        to_row,
        title="操作日志",
        widths=(20, 14, 16, 34, 12, 10, 10, 30, 60, 30),
    )
