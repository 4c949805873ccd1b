from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import regions
from .permissions import require_perm


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the control database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def cities(request: HttpRequest) -> HttpResponse:
    """The city ``<option>`` list for ``?province=CODE`` (HTMX cascade: the province select
    does ``hx-get`` here and swaps the result into the city select). ``?city=CODE`` marks
    that city selected. An unknown or empty province gives just the placeholder."""
    require_perm(request.user, "customers.view_customer")
    selected = request.GET.get("city", "")
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (code, " selected" if code == selected else "", name)
            for code, name in regions.cities(request.GET.get("province", ""))
        ),
    )
    placeholder = format_html('<option value="">{}</option>', _("请选择城市"))
    return HttpResponse(placeholder + options, content_type="text/html; charset=utf-8")


@login_not_required
def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A malformed or oversized submission (Django's SuspiciousOperation, RequestDataTooBig):
    a page in Chinese instead of Django's English one."""
    from django.conf import settings

    upload_mb = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
    return render(request, "errors/400.html", {"upload_mb": upload_mb}, status=400)


@login_not_required
def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


@login_not_required
def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)


@login_not_required
def error_500(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/500.html", status=500)
