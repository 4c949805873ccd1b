"""Reads on data sources. Credentials never leave through here except via
``DataSource.get_password()`` in the engine itself."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from apps.audit.models import AuditLog
from apps.core import crypto
from apps.core.errors import NotFound
from apps.core.inputs import parse_id
from apps.core.permissions import require_perm
from apps.customers.models import Customer
from apps.customers.selectors import visible_customers

from .models import (
    CredentialRotation,
    DataSource,
    DataSourceTombstone,
    ProvisioningRun,
    Relocation,
    RetiredDataSource,
    TableClearing,
)

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
            .get(pk=parse_id(pk))
        )
    except (DataSource.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def provisioning_runs(*, user, customer: Customer, limit: int = 20) -> QuerySet[ProvisioningRun]:
    require_perm(user, MANAGE)
    return _runs(customer).order_by("-started_at", "-id")[:limit]


def _runs(customer: Customer) -> QuerySet[ProvisioningRun]:
    has_secret = ExpressionWrapper(~Q(secret_encrypted=""), output_field=BooleanField())
    return (
        customer.datasource_runs.select_related("started_by")
        .defer("secret_encrypted")
        .annotate(has_secret=has_secret)
    )


def provisioning_run(*, user, customer: Customer, run_id: int) -> ProvisioningRun:
    """One of the customer's provisioning runs (404 otherwise), without its secret."""
    require_perm(user, MANAGE)
    run = _runs(customer).filter(pk=run_id).first()
    if run is None:
        raise NotFound(_("配置记录不存在"))
    return run


def active_run(*, user, customer: Customer) -> ProvisioningRun | None:
    """The customer's queued or running provisioning run, if any."""
    require_perm(user, MANAGE)
    return _runs(customer).filter(status__in=ProvisioningRun.ACTIVE).order_by("-pk").first()


# The customer's data-source jobs and earlier generations: each list newest first, without
# the secrets they keep; one record of it, or 404. Manage permission for all of them.
_JOBS: dict[str, tuple[type, tuple[str, ...], str, tuple[str, ...], str]] = {
    # name: (model, related, secret, order, what is missing)
    "relocation": (Relocation, ("started_by",), "secret_encrypted",
                   ("-started_at", "-id"), "迁移记录不存在"),
    "rotation": (CredentialRotation, ("started_by",), "admin_secret_encrypted",
                 ("-started_at", "-id"), "轮换记录不存在"),
    "retired": (RetiredDataSource, ("retired_by", "removed_by"), "password_encrypted",
                ("-generation", "-id"), "历代数据源记录不存在"),
    "clearing": (TableClearing, ("started_by", "restored_by"), "",
                 ("-started_at", "-id"), "清空数据表记录不存在"),
}  # fmt: skip


def _jobs(kind: str, user, customer: Customer) -> QuerySet:
    require_perm(user, MANAGE)
    model, related, secret, order, _missing = _JOBS[kind]
    qs = model.objects.filter(customer=customer).select_related(*related).order_by(*order)
    return qs.defer(secret) if secret else qs


def _job(kind: str, user, customer: Customer, pk: int) -> Any:
    found = _jobs(kind, user, customer).filter(pk=pk).first()
    if found is None:
        raise NotFound(_(_JOBS[kind][4]))
    return found


def relocations(*, user, customer: Customer, limit: int = 5) -> QuerySet[Relocation]:
    return _jobs("relocation", user, customer)[:limit]


def relocation(*, user, customer: Customer, relocation_id: int) -> Relocation:
    return _job("relocation", user, customer, relocation_id)


def rotations(*, user, customer: Customer, limit: int = 5) -> QuerySet[CredentialRotation]:
    return _jobs("rotation", user, customer)[:limit]


def rotation(*, user, customer: Customer, rotation_id: int) -> CredentialRotation:
    return _job("rotation", user, customer, rotation_id)


def retired_datasources(*, user, customer: Customer) -> QuerySet[RetiredDataSource]:
    return _jobs("retired", user, customer)


def retired_datasource(*, user, customer: Customer, retired_id: int) -> RetiredDataSource:
    return _job("retired", user, customer, retired_id)


def table_clearings(*, user, customer: Customer, limit: int = 5) -> QuerySet[TableClearing]:
    return _jobs("clearing", user, customer)[:limit]


def table_clearing(*, user, customer: Customer, clearing_id: int) -> TableClearing:
    return _job("clearing", user, customer, clearing_id)


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


# --- 租户注册表 (the business system's read) -----------------------------------------------

IMPL_STATUS_CODES = {
    DataSource.ImplStatus.NOT_STARTED: "not_started",
    DataSource.ImplStatus.IN_PROGRESS: "in_progress",
    DataSource.ImplStatus.ONLINE: "online",
}
CUSTOMER_STATUS_CODES = {
    Customer.Status.CLOSED: "closed",
    Customer.Status.OPEN: "open",
    Customer.Status.NOT_OPENED: "not_opened",
}

REGISTRY_FIELDS = (
    "pk",
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
    "schema__version",
    "customer__enterprise_no",
    "customer__name",
    "customer__status",
    "customer__service_state",
    "customer__service_ends_on",
    "customer__licensed_communities",
    "customer__package__name",
    "customer__package__max_accounts",
    "customer__package__max_communities",
    "customer__package__modules",
    "customer__modules",
)
# The JSON columns, decoded by hand when the query runs without the ORM.
_JSON_AT = (len(REGISTRY_FIELDS) - 2, len(REGISTRY_FIELDS) - 1)
_MARK = "__enterprise_no__"
# The registry's one query, compiled by the ORM once per database connection settings and
# then only executed: compiling it costs ~15× running it, on the business system's hot path.
_ENTRY_SQL: dict[str, str] = {}


@dataclass(frozen=True)
class RegistryEntry:
    """One tenant as the business system sees it. ``etag`` is computed without
    decrypting anything (over the public fields and the stored ciphertext), so a
    revalidation (304) never touches the secret, and no hash of the password is ever
    published. The data source is immutable, so the tag changes only with 实施状态, the
    tenant's schema version, the customer's status or modules — or when the secret is
    re-encrypted under a new key. ``ciphertext`` is the stored password, decrypted only
    by ``payload``."""

    ciphertext: str
    public: dict[str, Any]
    etag: str

    def __repr__(self) -> str:
        return f"RegistryEntry({self.public['enterprise_no']!r}, etag={self.etag})"

    def payload(self) -> dict[str, Any]:
        """The full answer, password decrypted."""
        data = {**self.public, "datasource": dict(self.public["datasource"])}
        data["datasource"]["password"] = crypto.decrypt(self.ciphertext)
        return data


def _entry_sql() -> str:
    key = f"{connection.alias}:{connection.vendor}"
    sql = _ENTRY_SQL.get(key)
    if sql is None:
        qs = (
            DataSource.objects.filter(customer__enterprise_no=_MARK)
            .order_by()
            .values_list(*REGISTRY_FIELDS)[:1]
        )
        sql, params = qs.query.get_compiler(connection=connection).as_sql()
        if list(params) != [_MARK]:
            raise RuntimeError(f"unexpected parameters of the registry query: {params!r}")
        _ENTRY_SQL[key] = sql
    return sql


def _prepared_row(sql: str, no: str) -> tuple | None:
    """The registry query as a server-side prepared statement: PostgreSQL plans this
    three-table join once per connection instead of on every read (planning is about two
    thirds of its cost). Django's cursors bind parameters on the client, which cannot be
    prepared; this one binds on the server, on Django's connection (same transaction,
    loaders, error mapping and query log). Django's own cursors never prepare, so with the
    threshold at 0 only such cursors — this query — are prepared."""
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = 0
    start = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, [no])
        row = cursor.fetchone()
    if connection.queries_logged:  # DEBUG, and the query counts of tests
        connection.queries_log.append(
            {
                "sql": connection.ops.compose_sql(sql, [no]),
                "time": f"{time.monotonic() - start:.3f}",
            }
        )
    return row


def _entry_row(no: str) -> tuple | None:
    sql = _entry_sql()
    if connection.vendor == "postgresql" and settings.DB_PREPARED_REGISTRY:
        row = _prepared_row(sql, no)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [no])
            row = cursor.fetchone()
    if row is None:
        return None
    json_field = Customer._meta.get_field("modules")
    return tuple(
        json_field.from_db_value(value, None, connection) if i in _JSON_AT else value
        for i, value in enumerate(row)
    )


def registry_entry(enterprise_no: str) -> RegistryEntry | None:
    """The registry entry of a tenant (one query), or None for an unknown tenant or one
    without a data source. No user check here: the caller is the registry API, which
    admits only tokens holding the ``registry`` scope."""
    no = (enterprise_no or "").strip().upper()
    if not no or len(no) > 20:
        return None
    row = _entry_row(no)
    return None if row is None else entry_of(row)


def _iso_date(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.isoformat()


def _communities(package: str | None, package_limit: int | None, licensed: int | None):
    """The community limit: the package's, raised by the contracts' 授权小区数 where larger;
    None is 不限 (a package without a limit, or no package and no contract)."""
    if package is not None and package_limit is None:
        return None
    limits = [n for n in (package_limit, licensed) if n is not None]
    return max(limits) if limits else None


def entry_of(row: tuple) -> RegistryEntry:
    """A registry entry from a row of ``_REGISTRY_FIELDS`` (modules already decoded)."""
    (
        _pk, name, db_type, host, port, database, username, ciphertext, min_conn, max_conn,
        impl_status, schema_version, customer_no, customer_name, customer_status,
        state, ends_on, licensed, package, max_accounts, max_communities, package_modules,
        modules,
    ) = row  # fmt: skip
    # A package's modules are the customer's: changing the package changes what is published.
    granted = list((package_modules if package is not None else modules) or [])
    public = {
        "enterprise_no": customer_no,
        "name": customer_name,
        "status": CUSTOMER_STATUS_CODES.get(customer_status, str(customer_status)),
        "modules": granted,
        "schema_version": schema_version or None,
        "service": {
            "state": state or None,
            "ends_on": _iso_date(ends_on),
            "package": package,
            "modules": granted,
            "limits": {
                "accounts": max_accounts if package is not None else None,
                "communities": _communities(package, max_communities, licensed),
            },
        },
        "datasource": {
            "name": name,
            "type": db_type,
            "host": host,
            "port": port,
            "database": database,
            "username": username,
            "min_connections": min_conn,
            "max_connections": max_conn,
            "impl_status": IMPL_STATUS_CODES.get(impl_status, str(impl_status)),
        },
    }
    digest = hashlib.sha256(
        json.dumps(public, sort_keys=True, ensure_ascii=False).encode()
        + b"\0"
        + ciphertext.encode()
    ).hexdigest()
    return RegistryEntry(ciphertext=ciphertext, public=public, etag=f'"{digest[:40]}"')
