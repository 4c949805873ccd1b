"""套餐 (packages): the modules and limits a customer is entitled to. Managers and admins
keep the catalogue; activation and the free trial pick from the packages that are 可选用.
Every change is audited; nothing is deleted (a package in use must keep meaning what it
meant), it is switched off instead."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import NotFound
from apps.core.inputs import parse_id
from apps.core.permissions import require_perm
from apps.core.records import apply_fields, validated_save

from .models import Package
from .services import registry_changed, valid_modules

VIEW = "customers.view_package"
MANAGE = "customers.manage_package"
EDITABLE = ("name", "modules", "max_accounts", "max_communities", "is_active", "remarks")


def package_list(*, user, active_only: bool = False) -> QuerySet[Package]:
    require_perm(user, VIEW)
    qs = Package.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def access_package(user, pk: Any) -> Package:
    require_perm(user, VIEW)
    package = Package.objects.filter(pk=parse_id(pk)).first() if parse_id(pk) else None
    if package is None:
        raise NotFound(_("套餐不存在"))
    return package


def _apply(package: Package, data: dict[str, Any]) -> None:
    data = dict(data)
    if "modules" in data:
        data["modules"] = valid_modules(data["modules"] or [], label=_("包含模块"))
    apply_fields(package, data, EDITABLE)
    validated_save(package)


@transaction.atomic
def package_create(*, actor, data: dict[str, Any]) -> Package:
    require_perm(actor, MANAGE)
    package = Package(created_by=actor)
    _apply(package, {"modules": [], **data})
    audit.record(actor=actor, action="create", obj=package, after=audit.snapshot(package))
    return package


@transaction.atomic
def package_update(*, actor, package: Package, data: dict[str, Any]) -> Package:
    """Rename, change modules or limits, or switch a package off (customers on it keep it)."""
    require_perm(actor, MANAGE)
    package = Package.objects.select_for_update().get(pk=package.pk)
    before = (package.name, package.modules, package.max_accounts, package.max_communities)
    with audit.tracked(package, actor=actor):
        _apply(package, data)
    if (package.name, package.modules, package.max_accounts, package.max_communities) != before:
        # The registry publishes the package: its customers move in the feed (last).
        registry_changed(package.customers.values_list("pk", flat=True))
    return package
