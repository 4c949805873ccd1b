"""Reads on customers, narrowed by the caller's permission and data scope in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.accounts.scope import owners_holding, scoped
from apps.core import registry, search
from apps.core import validators as v
from apps.core.errors import NotFound
from apps.core.inputs import ascii_digits, parse_id
from apps.core.permissions import has_perm, require_perm

from .models import Customer, ServiceState

# The substring search's index (apps.core.search; migration 0014_name_search).
SEARCH_COLUMNS = ("name", "contact_name")
SEARCH_INDEX = 1

SORTS = {
    "created": "created_at",
    "name": "name",
    "enterprise_no": "enterprise_no",
    "status": "status",
    "province": "province",
}


@dataclass
class CustomerFilters:
    q: str = ""
    status: str = ""
    service: str = ""  # a ServiceState value
    province: str = ""
    owner: str = ""  # user id, "none" for the pool, "me" for the caller
    sort: str = "-created"
    # Filters other apps register (core.registry.CustomerFilter): param -> value.
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, query: Any) -> CustomerFilters:
        """From a query string (``request.GET``)."""
        return cls(
            q=query.get("q", ""),
            status=query.get("status", ""),
            service=query.get("service", ""),
            province=query.get("province", ""),
            owner=query.get("owner", ""),
            sort=query.get("sort", "-created"),
            extra={
                f.param: query.get(f.param, "")
                for f in registry.customer_filters()
                if query.get(f.param)
            },
        )


def extra_filters(user) -> list[registry.CustomerFilter]:
    """The registered filters ``user`` may use."""
    return [f for f in registry.customer_filters() if not f.perm or has_perm(user, f.perm)]


def search_condition(q: str) -> Q:
    """What the search box means. Identifiers (企业号, 营业执照号, a phone) are matched
    exactly through their unique or plain indexes; anything else is a substring of the
    company or contact name."""
    upper = v.normalize_license_no(q)
    if re.fullmatch(rf"{re.escape(settings.ENTERPRISE_NO_PREFIX)}\d+", upper):
        return Q(enterprise_no=upper)
    if (
        len(upper) in (15, 18)
        and re.fullmatch(r"[0-9A-Z]+", upper)
        and any(c.isdigit() for c in upper)
    ):
        return Q(license_no=upper)
    digits = re.sub(r"[\s\-()（）+]", "", ascii_digits(q))
    if digits.isascii() and digits.isdigit() and len(digits) >= 7:
        phone = v.normalize_mobile(digits) if v.is_mobile(digits) else q
        return Q(contact_phone=phone)
    return search.contains(Customer, SEARCH_COLUMNS, q, index=SEARCH_INDEX)


def visible_customers(user) -> QuerySet[Customer]:
    """Every customer the user may see (permission + data scope)."""
    if not has_perm(user, "customers.view_customer"):
        return Customer.objects.none()
    return scoped(Customer.objects.all(), user)


def customer_list(*, user, filters: CustomerFilters) -> QuerySet[Customer]:
    require_perm(user, "customers.view_customer")
    qs = visible_customers(user).select_related("owner")
    q = filters.q.strip()
    if q:
        qs = qs.filter(search_condition(q))
    if filters.status in {str(v) for v in Customer.Status.values}:
        qs = qs.filter(status=int(filters.status))
    if filters.service in ServiceState.values:
        qs = qs.filter(service_state=filters.service)
    if filters.province:
        qs = qs.filter(province=filters.province)
    if filters.owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif filters.owner == "me":
        qs = qs.filter(owner=user)
    elif parse_id(filters.owner) is not None:
        qs = qs.filter(owner_id=parse_id(filters.owner))
    for extra in extra_filters(user):
        value = filters.extra.get(extra.param, "")
        condition = extra.condition(value) if value else None
        if condition is not None:
            qs = qs.filter(condition)
    key = filters.sort.lstrip("-")
    column = SORTS.get(key, "created_at")
    desc = filters.sort.startswith("-") or key not in SORTS
    order = f"-{column}" if desc else column
    return qs.order_by(order, "-id" if desc else "id")


def access_customer(user, pk: int | str, *, perm: str = "customers.view_customer") -> Customer:
    """The customer ``pk`` if the user may see it; the same NotFound for missing and
    out-of-scope records, so ids cannot be probed."""
    require_perm(user, perm)
    try:
        return (
            visible_customers(user)
            .select_related("owner", "activated_by", "package")
            .get(pk=parse_id(pk))
        )
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def access_customer_by_no(user, enterprise_no: str) -> Customer:
    require_perm(user, "customers.view_customer")
    try:
        return visible_customers(user).get(enterprise_no=enterprise_no.upper())
    except Customer.DoesNotExist:
        raise NotFound() from None


def assignable_owners() -> QuerySet:
    """Active staff who may own customers (the rule of ``services.OWNER_PERM``)."""
    from .services import OWNER_PERM

    return owners_holding(OWNER_PERM)


def find_customer(user, text: str) -> Customer | None:
    """The customer a 合并 form names — by 企业号 or number — if the user may see it."""
    text = (text or "").strip().upper()
    if not text:
        return None
    customers = visible_customers(user).select_related("owner")
    found = customers.filter(enterprise_no=text).first()
    if found is None and parse_id(text.lstrip("#")) is not None:
        found = customers.filter(pk=parse_id(text.lstrip("#"))).first()
    return found


def merge_candidates(user, customer: Customer, limit: int = 5) -> list[Customer]:
    """Customers that look like the same company: the same name or contact phone."""
    match = Q(pk__in=[])
    if customer.name:
        match |= Q(name=customer.name)
    if customer.contact_phone:
        match |= Q(contact_phone=customer.contact_phone)
    return list(
        visible_customers(user)
        .filter(match)
        .exclude(pk=customer.pk)
        .select_related("owner")
        .order_by("-created_at", "-pk")[:limit]
    )
