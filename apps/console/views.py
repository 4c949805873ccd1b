from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import inbox
from .dashboard import dashboard_context


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "console/dashboard.html", dashboard_context(request.user))


@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    """待办: each section with its one-click actions."""
    sections = inbox.sections(request.user)
    return render(
        request,
        "console/inbox.html",
        {"sections": sections, "total": sum(s.count for s in sections), "nav": "inbox"},
    )


@require_GET
def inbox_count_view(request: HttpRequest) -> HttpResponse:
    """The menu's 待办 count, loaded after the page (the page itself stays cheap)."""
    n = inbox.count(request.user)
    return HttpResponse(str(n) if n else "", content_type="text/plain; charset=utf-8")
