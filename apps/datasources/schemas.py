"""Each tenant's schema version, as the platform knows it: read from the tenant database
(``tenantdb.versions``), compared with the migration files, kept in ``TenantSchema``, and
shown in the 数据源 panel, the customer list's 表结构 filter and the registry.

Reading never writes to a tenant database. A tenant that cannot be reached keeps the
version last seen, with the error beside it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.permissions import require_perm
from apps.core.records import update_each
from apps.customers.services import registry_changed

from . import tenantdb
from .models import DataSource, TenantSchema
from .selectors import MANAGE
from .tenantdb import TenantDBError

logger = logging.getLogger(__name__)

DB_TYPES = (tenantdb.MYSQL, tenantdb.POSTGRESQL)


@dataclass
class SchemaView:
    """What the console and the API show of a tenant's schema."""

    version: str
    latest: str
    checked_at: Any = None
    drift: list[str] = field(default_factory=list)
    adopted: bool = True
    error: str = ""
    known: bool = True  # False until the tenant has been read once

    @property
    def behind(self) -> bool:
        return self.known and self.version < self.latest

    @property
    def state(self) -> str:
        if not self.known:
            return "unknown"
        if self.drift:
            return "drift"
        return "behind" if self.behind else "current"

    @property
    def state_label(self) -> str:
        return {
            "unknown": _("未检查"),
            "drift": _("版本漂移"),
            "behind": _("落后"),
            "current": _("最新"),
        }[self.state]


def schema_view(ds: DataSource, schema: TenantSchema | None = None) -> SchemaView:
    """``ds``'s schema as last seen (``schema``: its row, if already loaded)."""
    if schema is None:
        schema = TenantSchema.objects.filter(datasource_id=ds.pk).first()
    latest = tenantdb.latest_version(ds.db_type)
    if schema is None:
        return SchemaView(version="", latest=latest, known=False)
    return SchemaView(
        version=schema.version,
        latest=latest,
        checked_at=schema.checked_at,
        drift=schema.drift_lines,
        adopted=schema.adopted,
        error=schema.error,
        known=schema.checked_at is not None,
    )


def record(ds: DataSource, state: tenantdb.SchemaState) -> None:
    """Store what was read of ``ds``'s database (after a probe or a migration)."""
    record_many([(ds, state)])


def record_many(items: list[tuple[DataSource, tenantdb.SchemaState]]) -> None:
    """Store what was read of several tenant databases in a fixed number of statements
    (a rollout records its tenants in batches). ``changed_at`` moves only when the version
    or the drift did; a reading clears the last error. A tenant whose version changed moves
    in the registry feed (last: see ``registry_changed``)."""
    if not items:
        return
    now = timezone.now()
    read: dict[int, tuple[str, str, bool]] = {}
    for ds, state in items:
        comparison = tenantdb.compare(state, tenantdb.migrations(ds.db_type))
        read[ds.pk] = (comparison.current, "\n".join(comparison.drift), comparison.adopted)
    customers = {ds.pk: ds.customer_id for ds, _state in items}
    stored = {s.datasource_id: s for s in TenantSchema.objects.filter(datasource_id__in=read)}
    moved: list[int] = []
    changed, new = [], []
    for ds_id, (version, drift, adopted) in read.items():
        schema = stored.get(ds_id)
        if schema is None:
            new.append(
                TenantSchema(
                    datasource_id=ds_id, version=version, drift=drift, adopted=adopted,
                    checked_at=now, changed_at=now,
                )
            )  # fmt: skip
            moved.append(customers[ds_id])
            continue
        if schema.version != version:
            moved.append(customers[ds_id])
        if (schema.version, schema.drift) != (version, drift):
            schema.changed_at = now
        schema.version, schema.drift, schema.adopted = version, drift, adopted
        schema.error, schema.checked_at = "", now
        changed.append(schema)
    update_each(changed, ["version", "drift", "adopted", "error", "checked_at", "changed_at"])
    TenantSchema.objects.bulk_create(new, ignore_conflicts=True)  # a probe may race us
    registry_changed(moved)


def record_error(ds: DataSource, message: str) -> None:
    """Note why ``ds``'s database could not be read; its last version stays."""
    if not TenantSchema.objects.filter(datasource=ds).update(error=message[:500]):
        TenantSchema.objects.get_or_create(datasource=ds, defaults={"error": message[:500]})


def refresh(ds: DataSource) -> TenantSchema:
    """Read ``ds``'s ``schema_version`` table and store what it says; a tenant that cannot
    be read keeps its last version, with the error."""
    try:
        with tenantdb.connector_for(tenantdb.Target.of(ds)) as connector:
            state = connector.schema_state(ds.database)
    except TenantDBError as exc:
        logger.warning("读取租户库 %s 的表结构版本失败：%s", ds.name, exc.message)
        record_error(ds, exc.message)
    else:
        record(ds, state)
    return TenantSchema.objects.get(datasource=ds)


def refresh_all() -> dict[str, int]:
    """Refresh every tenant's version, one at a time (a failure is recorded on that
    tenant and stops nothing). Counts by outcome."""
    counts = {"checked": 0, "failed": 0}
    for ds in DataSource.objects.order_by("pk").iterator(chunk_size=200):
        schema = refresh(ds)
        counts["failed" if schema.error else "checked"] += 1
    return counts


def datasource_check_schema(*, actor, datasource: DataSource) -> SchemaView:
    """检查版本 (console and API): read the tenant's version now."""
    require_perm(actor, MANAGE)
    return schema_view(datasource, refresh(datasource))


# --- The customer list's 表结构 filter --------------------------------------------------------

FILTER_CHOICES = (
    ("behind", gettext_lazy("落后于最新版本")),
    ("current", gettext_lazy("已是最新版本")),
    ("drift", gettext_lazy("版本漂移")),
    ("unknown", gettext_lazy("未检查")),
)


def customer_condition(value: str) -> Q | None:
    """Customers whose tenant schema is in state ``value`` (None: not a known value)."""
    prefix = "datasource__schema__"
    if value == "drift":
        return ~Q(**{f"{prefix}drift": ""}) & Q(**{f"{prefix}checked_at__isnull": False})
    if value == "unknown":
        return Q(datasource__isnull=False) & (
            Q(**{f"{prefix}checked_at__isnull": True}) | Q(**{f"{prefix}isnull": True})
        )
    if value not in ("behind", "current"):
        return None
    condition = Q(pk__in=[])
    for db_type in DB_TYPES:
        latest = tenantdb.latest_version(db_type)
        version = (
            Q(**{f"{prefix}version__lt": latest})
            if value == "behind"
            else Q(**{f"{prefix}version": latest})
        )
        condition |= (
            Q(datasource__db_type=db_type, **{f"{prefix}checked_at__isnull": False}) & version
        )
    if value == "current":
        condition &= Q(**{f"{prefix}drift": ""})
    return condition
