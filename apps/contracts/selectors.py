"""Reads on contracts: a contract is visible when its customer is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.scope import scope_filter
from apps.core import search
from apps.core.errors import NotFound
from apps.core.inputs import parse_id
from apps.core.permissions import has_perm, require_perm
from apps.customers.models import Customer
from apps.customers.selectors import SEARCH_INDEX as CUSTOMER_SEARCH_INDEX

from .models import Contract


@dataclass
class ContractFilters:
    q: str = ""
    status: str = ""
    expiring: bool = False
    customer: str = ""
    sort: str = "-created"


SORTS = {"created": "created_at", "end": "end_date", "amount": "amount", "start": "start_date"}


def visible_contracts(user) -> QuerySet[Contract]:
    if not (
        has_perm(user, "contracts.view_contract") and has_perm(user, "customers.view_customer")
    ):
        return Contract.objects.none()
    return Contract.objects.filter(scope_filter(user, "customer__owner"))


def expiring_window(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or timezone.localdate()
    return today, today + dt.timedelta(days=settings.CONTRACT_EXPIRY_WARNING_DAYS)


def contract_list(*, user, filters: ContractFilters) -> QuerySet[Contract]:
    require_perm(user, "contracts.view_contract")
    qs = visible_contracts(user).select_related("customer")
    q = filters.q.strip()
    if q:
        # The customer's name through the customers' search index (apps.core.search).
        named = Customer.objects.filter(
            search.contains(Customer, ("name",), q, index=CUSTOMER_SEARCH_INDEX)
        ).values("pk")
        qs = qs.filter(
            Q(customer_id__in=named)
            | Q(customer__enterprise_no=q.upper())
            | Q(legal_representative__icontains=q)
        )
    if filters.status in {c for c, _l in Contract.Status.choices}:
        qs = qs.filter(status=filters.status)
    if filters.expiring:
        start, end = expiring_window()
        qs = qs.filter(status=Contract.Status.OPEN, end_date__gte=start, end_date__lte=end)
    if parse_id(filters.customer) is not None:
        qs = qs.filter(customer_id=parse_id(filters.customer))
    key = filters.sort.lstrip("-")
    column = SORTS.get(key, "created_at")
    desc = filters.sort.startswith("-") or key not in SORTS
    return qs.order_by(f"-{column}" if desc else column, "-id" if desc else "id")


def access_contract(user, pk: int | str, *, perm: str = "contracts.view_contract") -> Contract:
    """The contract ``pk`` if the user holds ``perm`` and may see it; the same NotFound for
    missing and out-of-scope records."""
    require_perm(user, "contracts.view_contract", perm)
    try:
        return visible_contracts(user).select_related("customer", "created_by").get(pk=parse_id(pk))
    except (Contract.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def access_contract_scan(user, pk: int | str) -> Contract:
    """A contract whose scan the user may download: the file permission, the contract in
    scope, and a scan on file (NotFound otherwise)."""
    contract = access_contract(user, pk, perm="contracts.view_contract_file")
    if not contract.scan:
        raise NotFound(_("该合同没有上传扫描件"))
    return contract


def customer_panel(request, customer) -> dict | None:
    """The 合同 card of the customer page (registered in ``apps.py``)."""
    if not has_perm(request.user, "contracts.view_contract"):
        return None
    return {"contracts": customer_contracts(user=request.user, customer=customer)}


def customer_contracts(*, user, customer) -> QuerySet[Contract]:
    """A customer's contracts for its detail page, latest end date first (one query)."""
    if not has_perm(user, "contracts.view_contract"):
        return Contract.objects.none()
    return visible_contracts(user).filter(customer=customer).order_by("-end_date", "-id")


def service_periods(customer_ids: list[int]) -> dict[int, list[tuple[dt.date, dt.date, int]]]:
    """The paid service periods of these customers: their open (开通) contracts' terms and
    授权小区数."""
    periods: dict[int, list[tuple[dt.date, dt.date, int]]] = {}
    rows = Contract.objects.filter(
        customer_id__in=customer_ids, status=Contract.Status.OPEN
    ).values_list("customer_id", "start_date", "end_date", "communities")
    for customer_id, start, end, communities in rows:
        periods.setdefault(customer_id, []).append((start, end, communities))
    return periods
