"""Data-source generations: the one place a tenant's data source is replaced.

A data source is never edited. A relocation (迁移数据源) or a credential rotation (轮换账号)
replaces it by its next generation, in the caller's transaction: the current row is kept as
a ``RetiredDataSource`` (what it was, why, by whom), deleted — its schema row with it — and
the new row inserted under new names, with the same 实施状态; the tenant moves in the
registry feed. Everything reading "the tenant's data source" keeps reading one row.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.customers.models import Customer

from . import schemas, tenantdb
from .models import DataSource, RetiredDataSource, TableClearing
from .provisioning import _StepFailed


def replace(
    *,
    customer_id: int,
    expected: DataSource,
    new: DataSource,
    password: str,
    reason: str,
    actor,
    state: tenantdb.SchemaState,
    checksums: dict[str, str] | None = None,
    keep_secret: bool = True,
) -> tuple[DataSource, RetiredDataSource]:
    """Replace ``expected`` — still the customer's data source, or the step fails — by
    ``new`` (unsaved; names, connection and pools set by the caller). ``keep_secret``
    keeps the old password (encrypted) on the retired row, to probe the old database
    before it is removed. Call inside the caller's transaction, which records what it did
    and then moves the tenant in the registry feed (``registry_changed``), last."""
    with transaction.atomic():  # the caller's, or its own savepoint
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        current = DataSource.objects.select_for_update().filter(customer=customer).first()
        if current is None or current.pk != expected.pk:
            raise _StepFailed(_("数据源在此期间被删除或替换，未切换"))
        if TableClearing.objects.filter(
            datasource=current, status__in=TableClearing.ACTIVE
        ).exists():
            raise _StepFailed(_("此期间有清空数据表的操作，未切换"))
        retired = RetiredDataSource.objects.create(
            customer=customer,
            datasource_id=current.pk,
            generation=current.generation,
            name=current.name,
            database=current.database,
            db_type=current.db_type,
            host=current.host,
            port=current.port,
            username=current.username,
            password_encrypted=current.password_encrypted if keep_secret else "",
            max_connections=current.max_connections,
            min_connections=current.min_connections,
            impl_status=current.impl_status,
            database_created=current.database_created,
            configured_by=current.configured_by,
            configured_at=current.configured_at,
            reason=reason,
            replaced_by_name=new.name,
            retired_by=actor,
            checksums=checksums or {},
        )
        # The model's own delete guard is for people deleting a data source in use; a
        # replacement is neither.
        models.QuerySet.delete(DataSource.objects.filter(pk=current.pk))
        new.customer = customer
        new.impl_status = current.impl_status
        new.generation = current.generation + 1
        new.configured_by = actor
        new.configured_at = timezone.now()
        new.set_password(password)
        new.save()
        RetiredDataSource.objects.filter(pk=retired.pk).update(replaced_by=new)
        retired.replaced_by = new
        schemas.record(new, state)
    return new, retired
