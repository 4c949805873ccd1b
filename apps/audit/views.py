"""操作日志: the filtered list of audit rows (login log included) and its Excel export."""

from __future__ import annotations

from io import BytesIO

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

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
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
        nav="audit",
    )
    return render(request, "audit/list.html", context)


@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as an .xlsx workbook with Chinese headers."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    _form, qs = _filtered(request)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("操作日志")
    for col, width in zip("ABCDEFGHIJ", (20, 14, 16, 34, 12, 10, 10, 30, 60, 30), strict=True):
        ws.column_dimensions[col].width = width
    ws.append(EXPORT_HEADERS)

    def text(value: str) -> WriteOnlyCell:
        # Always a string cell: a value starting with "=" must never become a formula.
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell

    for row in selectors.export_rows(qs):
        log = row.log
        at = WriteOnlyCell(ws, value=timezone.localtime(log.at).replace(tzinfo=None))
        at.number_format = "yyyy-mm-dd hh:mm:ss"
        ws.append(
            [
                at,
                text(log.actor_name),
                text(log.ip or ""),
                text(log.request_id),
                text(row.action_label),
                text(row.type_label),
                text(log.object_id),
                text(log.object_repr),
                text(row.changes_text),
                text(log.message),
            ]
        )
    buffer = BytesIO()
    wb.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.xlsx"'
    response["Cache-Control"] = "private, no-store"
    return response
