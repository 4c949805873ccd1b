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


# Past this offset a page is read in two steps (see DeferredJoinPaginator).
DEFERRED_JOIN_OFFSET = 1000


def page_rows(qs: QuerySet, start: int, stop: int) -> list:
    """Rows ``start:stop`` of ``qs``. Deep pages are read without dragging whole rows
    through a large OFFSET: first the page's primary keys (the database walks only the
    index), then those rows with their joins — same rows, same order, one query more."""
    if start < DEFERRED_JOIN_OFFSET:
        return list(qs[start:stop])
    ids = list(qs.values_list("pk", flat=True)[start:stop])
    by_pk = {obj.pk: obj for obj in qs.filter(pk__in=ids)}
    return [by_pk[pk] for pk in ids if pk in by_pk]


class DeferredJoinPaginator(Paginator):
    """Django's paginator with ``page_rows`` for the page's rows."""

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if not isinstance(self.object_list, QuerySet):
            return super().page(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(page_rows(self.object_list, bottom, top), number, self)


def paginate(request: HttpRequest, qs: QuerySet) -> dict:
    """Context for a list page: ``page_obj``, ``rows`` and query strings for links."""
    paginator = DeferredJoinPaginator(qs, page_size(request))
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
