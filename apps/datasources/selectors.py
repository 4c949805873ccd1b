"""Reads on data sources. Credentials never leave through here except via
``DataSource.get_password()`` in the engine itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

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


def customer_history(customer: Customer, limit: int = 50) -> QuerySet[AuditLog]:
    """The customer's own history without the data-source rows (检测连接 and failed
    configure attempts are recorded against the customer and name the server and account;
    they are shown in the data-source panel, to those who may see connection details)."""
    ct = ContentType.objects.get_for_model(customer)
    return (
        AuditLog.objects.filter(content_type=ct, object_id=str(customer.pk))
        .exclude(action__startswith="datasource_")
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )


# --- 租户注册表 (the business system's read) -----------------------------------------------

IMPL_STATUS_CODES = {
    DataSource.ImplStatus.NOT_STARTED: "not_started",
    DataSource.ImplStatus.IN_PROGRESS: "in_progress",
    DataSource.ImplStatus.ONLINE: "online",
}
CUSTOMER_STATUS_CODES = {Customer.Status.CLOSED: "closed", Customer.Status.OPEN: "open"}

_REGISTRY_FIELDS = (
    "name",
    "db_type",
    "host",
    "port",
    "database",
    "username",
    "password_encrypted",
    "min_connections",
    "max_connections",
    "impl_status",
    "customer__enterprise_no",
    "customer__name",
    "customer__status",
    "customer__modules",
)


@dataclass(frozen=True)
class RegistryEntry:
    """One tenant as the business system sees it. ``etag`` is computed without
    decrypting anything (over the public fields and the stored ciphertext), so a
    revalidation (304) never touches the secret, and no hash of the password is ever
    published. The data source is immutable, so the tag changes only with 实施状态, the
    customer's status or modules — or when the secret is re-encrypted under a new key."""

    datasource: DataSource
    public: dict[str, Any]
    etag: str

    def payload(self) -> dict[str, Any]:
        """The full answer, password decrypted."""
        data = {**self.public, "datasource": dict(self.public["datasource"])}
        data["datasource"]["password"] = self.datasource.get_password()
        return data


def registry_entry(enterprise_no: str) -> RegistryEntry | None:
    """The registry entry of a tenant (one query), or None for an unknown tenant or one
    without a data source. No user check here: the caller is the registry API, which
    admits only tokens holding the ``registry`` scope."""
    no = (enterprise_no or "").strip().upper()
    if not no or len(no) > 20:
        return None
    ds = (
        DataSource.objects.select_related("customer")
        .only(*_REGISTRY_FIELDS)
        .filter(customer__enterprise_no=no)
        .first()
    )
    if ds is None:
        return None
    customer = ds.customer
    public = {
        "enterprise_no": customer.enterprise_no,
        "name": customer.name,
        "status": CUSTOMER_STATUS_CODES.get(customer.status, str(customer.status)),
        "modules": list(customer.modules or []),
        "datasource": {
            "name": ds.name,
            "type": ds.db_type,
            "host": ds.host,
            "port": ds.port,
            "database": ds.database,
            "username": ds.username,
            "min_connections": ds.min_connections,
            "max_connections": ds.max_connections,
            "impl_status": IMPL_STATUS_CODES.get(ds.impl_status, str(ds.impl_status)),
        },
    }
    digest = hashlib.sha256(
        json.dumps(public, sort_keys=True, ensure_ascii=False).encode()
        + b"\0"
        + ds.password_encrypted.encode()
    ).hexdigest()
    return RegistryEntry(datasource=ds, public=public, etag=f'"{digest[:40]}"')
