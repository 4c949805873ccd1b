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


_probe_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _database_answers() -> tuple[bool, float | None]:
    """One ``SELECT 1`` on the control database, on a pool thread with its own connection,
    and the age of the workers' last heartbeat."""
    from django.db import close_old_connections, connection

    from .tasks import worker_seen_seconds

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        connection.close()
        return False, None
    try:
        return True, worker_seen_seconds()
    except Exception:  # not migrated yet: the database still answers
        return True, None
    finally:
        connection.close()
        close_old_connections()


def _broker_answers() -> bool:
    """The task queue's broker accepts a connection (for the filesystem queue: its folder
    is there and writable)."""
    import os

    from celery import current_app

    try:
        options = current_app.conf.broker_transport_options or {}
        folder = options.get("data_folder_in")
        if current_app.conf.broker_url.startswith("filesystem:"):
            return bool(folder) and os.access(folder, os.W_OK)
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1, timeout=current_app.conf.broker_connection_timeout
            )
        return True
    except Exception:
        return False


@login_not_required
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the control database answers a query and the task queue's broker accepts
    a connection, both within ``READYZ_TIMEOUT`` seconds. A database or broker that accepts
    connections and never answers gives 503 in that time, never a hung probe: the probes
    run on a small pool of threads and are waited for, not joined. ``worker_seen_seconds``
    says how long ago a worker last ran the heartbeat beat queues (null: never) — the
    proof that queued work is being done, reported but not judged here (a web process is
    ready without workers)."""
    import time

    from django.conf import settings

    deadline = time.monotonic() + settings.READYZ_TIMEOUT
    database = _probe_pool.submit(_database_answers)
    broker = _probe_pool.submit(_broker_answers)

    def wait(future, failed):
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            return failed

    db_ok, seen = wait(database, (False, None))
    queue_ok = wait(broker, False)
    body = {
        "status": "ok" if db_ok and queue_ok else "unavailable",
        "database": "ok" if db_ok else "down",
        "queue": "ok" if queue_ok else "down",
        "worker_seen_seconds": None if seen is None else round(seen, 1),
    }
    return JsonResponse(body, status=200 if db_ok and queue_ok else 503)


@login_not_required
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (``apps/core/metrics.py``), for the networks and token settings
    allow; anyone else gets 403."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from . import metrics as platform_metrics

    if not platform_metrics.allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(platform_metrics.render(), content_type=CONTENT_TYPE_LATEST)


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
