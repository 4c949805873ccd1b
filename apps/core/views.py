from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import regions
from .errors import ErrorCode


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


_probe_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


def _database_answers() -> bool:
    """One ``SELECT 1`` on the control database, on a pool thread with its own connection."""
    from django.db import close_old_connections, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        return False
    finally:
        connection.close()
        close_old_connections()


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the control database answers a query within ``READYZ_TIMEOUT`` seconds.
    A database that accepts connections and never answers gives 503 in that time, never a
    hung probe: the query runs on a small pool of threads and is waited for, not joined."""
    from django.conf import settings

    future = _probe_pool.submit(_database_answers)
    try:
        ok = future.result(timeout=settings.READYZ_TIMEOUT)
    except FutureTimeout:
        ok = False
    if not ok:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def cities(request: HttpRequest) -> HttpResponse:
    """The city ``<option>`` list for ``?province=CODE`` (HTMX cascade: the province select
    does ``hx-get`` here and swaps the result into the city select). ``?city=CODE`` marks
    that city selected. An unknown or empty province gives just the placeholder. The
    list is public reference data (GB/T 2260): any member of staff with a role may read it."""
    if not request.user.groups.exists():
        raise PermissionDenied
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
    """An unhandled error. A control database that cannot be reached or timed out is a 503
    (try again), not a 500; under /api/ the answer keeps the API's JSON error format."""
    from django.db import DatabaseError, InterfaceError, OperationalError

    exc = sys.exc_info()[1]
    unavailable = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "timeout" in str(exc).lower()
    )
    status = 503 if unavailable else 500
    if request.path.startswith("/api/"):
        code, message = (
            (ErrorCode.DATABASE_UNAVAILABLE, "数据库暂时无法访问，请稍后重试")
            if unavailable
            else (ErrorCode.SERVER_ERROR, "服务器内部错误，请稍后重试；如持续出现请联系管理员")
        )
        response = JsonResponse(
            {"code": code, "message": message, "fields": {}},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    else:
        template = "errors/503.html" if unavailable else "errors/500.html"
        response = render(request, template, status=status)
    if unavailable:
        response["Retry-After"] = "10"
    return response
