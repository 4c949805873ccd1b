"""Pagination for console lists, matching ``templates/partials/pagination.html``."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


def page_size(request: HttpRequest) -> int:
    """``?per_page=`` when it is one of LIST_PAGE_SIZE_CHOICES, else LIST_PAGE_SIZE."""
    raw = request.GET.get("per_page", "")
    if raw.isdigit() and int(raw) in settings.LIST_PAGE_SIZE_CHOICES:
        return int(raw)
    return settings.LIST_PAGE_SIZE


def paginate(request: HttpRequest, qs: QuerySet, per_page: int | None = None) -> dict:
    """``page_obj`` (two queries: count and page) and ``querystring_without_page`` (the
    current filters, ending in ``&`` when not empty) for the pagination partial."""
    paginator = Paginator(qs, per_page or page_size(request))
    page_obj = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    query = params.urlencode()
    return {"page_obj": page_obj, "querystring_without_page": f"{query}&" if query else ""}
