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


def owners_holding(perm: str) -> QuerySet:
    """Active staff who may own records guarded by ``perm`` (``app_label.codename``, held
    through a role): the choices of every 负责人 picker and 批量分配."""
    from .models import User

    app_label, codename = perm.split(".")
    return (
        User.objects.filter(
            is_active=True,
            groups__permissions__codename=codename,
            groups__permissions__content_type__app_label=app_label,
        )
        .distinct()
        .order_by("username")
    )


def check_owner(owner, *, perm: str, what: str) -> None:
    """Refuse an owner who is not an active member of staff holding ``perm`` (None is the
    pool, always allowed). ``what`` names the records: 「该员工不能负责客户申请」."""
    from django.utils.translation import gettext as _

    from apps.core.errors import ValidationFailed
    from apps.core.permissions import has_perm

    if owner is not None and not (owner.is_active and has_perm(owner, perm)):
        message = _("该员工不能负责%(what)s") % {"what": what}
        raise ValidationFailed(_("负责人：") + message, fields={"owner": [message]})
