"""The 工作台: counts and to-do lists for the signed-in member of staff, within their scope."""

from __future__ import annotations

from django.db.models import Count, Q

from apps.contracts.selectors import expiring_window, visible_contracts
from apps.customers.models import Customer
from apps.customers.selectors import visible_customers
from apps.leads.selectors import lead_counts


def dashboard_context(user) -> dict:
    customers = visible_customers(user)
    counts = customers.aggregate(
        total=Count("id"),
        open=Count("id", filter=Q(status=Customer.Status.OPEN)),
        mine=Count("id", filter=Q(owner=user)),
        pool=Count("id", filter=Q(owner__isnull=True)),
    )
    start, end = expiring_window()
    expiring = (
        visible_contracts(user)
        .filter(status="open", end_date__gte=start, end_date__lte=end)
        .select_related("customer")
        .order_by("end_date")[:10]
    )
    recent = customers.select_related("owner").order_by("-created_at", "-id")[:8]
    return {
        "counts": counts,
        "lead_counts": lead_counts(user),
        "expiring": expiring,
        "recent": recent,
        "nav": "dashboard",
    }
