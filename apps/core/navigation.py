"""Where a console request goes next: the one safe-redirect helper and the one HTMX-aware
redirect, used by every app's views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` of the request (POST, then GET) when it points into this site, else
    ``default``. Built on Django's own check, so ``//evil.com``, ``/\\evil.com``,
    ``https://evil.com`` and schemes like ``javascript:`` never pass."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def hx_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """Go to ``url``: an ``HX-Redirect`` (204) for an HTMX request — the modal that asked
    leaves with the page — a plain redirect otherwise."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
