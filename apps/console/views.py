from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.core.permissions import has_perm

from . import figures, inbox
from .dashboard import dashboard_context
from .forms import FiguresForm


def dashboard(request: HttpRequest) -> HttpResponse:
    """工作台: the counts, the charts of ``figures`` for the filters in the query string."""
    form = FiguresForm(request.GET or None, user=request.user)
    filters = form.filters() if form.is_valid() else figures.Filters()
    context = dashboard_context(request.user)
    context.update(
        {
            "figures": figures.figures(request.user, filters),
            "figures_form": form,
            "show_leads": has_perm(request.user, "leads.view_lead"),
            "show_customers": has_perm(request.user, "customers.view_customer"),
            "show_contracts": has_perm(request.user, "contracts.view_contract"),
            "figures_links": {
                "leads": reverse("leads:list"),
                "customers": reverse("customers:list"),
                "contracts": reverse("contracts:list"),
                "query": form.list_query() if form.is_valid() else "",
            },
        }
    )
    return render(request, "console/dashboard.html", context)


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
