"""Shared list-page helpers: pagination with a page-size choice and sort links."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


def page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("page_size", settings.LIST_PAGE_SIZE))
    except ValueError:
        return settings.LIST_PAGE_SIZE
    return size if size in settings.LIST_PAGE_SIZE_CHOICES else settings.LIST_PAGE_SIZE


def paginate(request: HttpRequest, qs: QuerySet) -> dict:
    """Context for a list page: ``page_obj``, ``rows`` and query strings for links."""
    paginator = Paginator(qs, page_size(request))
    try:
        page: Page = paginator.page(request.GET.get("page") or 1)
    except PageNotAnInteger:
        page = paginator.page(1)
    except EmptyPage:
        page = paginator.page(paginator.num_pages)
    params = request.GET.copy()
    params.pop("page", None)
    without_page = params.urlencode()
    params.pop("sort", None)
    without_sort = params.urlencode()
    return {
        "page_obj": page,
        "rows": list(page.object_list),
        "querystring_without_page": f"{without_page}&" if without_page else "",
        "querystring_without_sort": f"{without_sort}&" if without_sort else "",
        "page_size": paginator.per_page,
        "page_size_choices": settings.LIST_PAGE_SIZE_CHOICES,
    }
