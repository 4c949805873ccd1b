from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .dashboard import dashboard_context


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "console/dashboard.html", dashboard_context(request.user))
