from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import context
from .clientip import client_ip

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (kept from X-Request-ID when sane) and records the IP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = context.set_current(context.RequestContext(request_id, client_ip(request)))
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class DomainErrorMiddleware:
    """Console pages: a NotFound/Forbidden raised by a selector or service becomes the 404/403
    page (for HTMX, a small fragment). The API has its own handlers (``apps.api``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        from django.shortcuts import render

        from .errors import DomainError, Forbidden, NotFound

        if request.path.startswith("/api/") or not isinstance(exception, DomainError):
            return None
        if isinstance(exception, NotFound):
            template, status = "errors/404.html", 404
        elif isinstance(exception, Forbidden):
            template, status = "errors/403.html", 403
        else:
            template, status = "errors/generic.html", exception.status
        return render(request, template, {"error": exception}, status=status)


class ConsoleLoginRequiredMiddleware:
    """Deny by default: every console view needs a signed-in user unless it is marked
    ``@login_not_required``. The API under /api/ authenticates on its own (session or
    Bearer token) and answers 401 in JSON instead of redirecting."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.contrib.auth.middleware import LoginRequiredMiddleware

        self.get_response = get_response
        self._inner = LoginRequiredMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.path.startswith("/api/"):
            return None
        return self._inner.process_view(request, view_func, view_args, view_kwargs)
