"""Data scope: which owners' records a user may see. Applied in one place for every list,
export, detail page and API call."""

from __future__ import annotations

from django.db.models import Q, QuerySet

SCOPE_ALL_PERM = "accounts.data_scope_all"


def sees_all(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(SCOPE_ALL_PERM))


def scope_filter(user, owner_field: str = "owner") -> Q:
    """Q for rows the user may see: all, or their own plus the unassigned pool."""
    if sees_all(user):
        return Q()
    return Q(**{owner_field: user}) | Q(**{f"{owner_field}__isnull": True})


def scoped(qs: QuerySet, user, owner_field: str = "owner") -> QuerySet:
    if not (user and user.is_authenticated):
        return qs.none()
    return qs.filter(scope_filter(user, owner_field))
