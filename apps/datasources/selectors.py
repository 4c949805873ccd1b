"""Reads on data sources. Credentials never leave through here except via
``DataSource.get_password()`` in the engine itself."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet, Sum

from apps.audit.models import AuditLog
from apps.core.errors import NotFound
from apps.core.permissions import require_perm
from apps.customers.models import Customer
from apps.customers.selectors import visible_customers

from .models import DataSource, DataSourceTombstone, ProvisioningRun

VIEW = "datasources.view_datasource"
MANAGE = "datasources.manage_datasource"


def normalise_host(host: str) -> str:
    return (host or "").strip().lower()


def pools_configured_on(host: str, port: int | str, *, exclude_pk: int | None = None) -> int:
    """Sum of the max pool sizes of the data sources configured on ``host:port``."""
    qs = DataSource.objects.filter(host=normalise_host(host), port=int(port))
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return int(qs.aggregate(total=Sum("max_connections"))["total"] or 0)


def datasource_of(*, user, customer: Customer) -> DataSource | None:
    """The customer's data source (None: 暂未配置数据源), for a user allowed to see its
    status and the customer."""
    require_perm(user, VIEW)
    if not visible_customers(user).filter(pk=customer.pk).exists():
        raise NotFound()
    return (
        DataSource.objects.filter(customer_id=customer.pk).select_related("configured_by").first()
    )


def access_datasource(user, pk: int | str, *, perm: str = VIEW) -> DataSource:
    """The data source ``pk`` if the user may see it (same NotFound for missing and
    out-of-scope)."""
    require_perm(user, perm)
    try:
        return (
            DataSource.objects.select_related("customer", "configured_by")
            .filter(customer__in=visible_customers(user))
            .get(pk=int(pk))
        )
    except (DataSource.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def provisioning_runs(*, user, customer: Customer, limit: int = 20) -> QuerySet[ProvisioningRun]:
    require_perm(user, MANAGE)
    return customer.datasource_runs.select_related("started_by").order_by("-started_at", "-id")[
        :limit
    ]


def datasource_history(customer: Customer, limit: int = 50) -> QuerySet[AuditLog]:
    """Audit rows about the customer's data sources — the current one, deleted ones, and
    checks and failed attempts recorded against the customer."""
    ds_type = ContentType.objects.get_for_model(DataSource)
    customer_type = ContentType.objects.get_for_model(Customer)
    ids = [
        str(pk)
        for pk in [
            *DataSource.objects.filter(customer_id=customer.pk).values_list("pk", flat=True),
            *DataSourceTombstone.objects.filter(customer_id=customer.pk).values_list(
                "datasource_id", flat=True
            ),
        ]
    ]
    return (
        AuditLog.objects.filter(
            Q(content_type=ds_type, object_id__in=ids)
            | Q(
                content_type=customer_type,
                object_id=str(customer.pk),
                action__startswith="datasource_",
            )
        )
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
