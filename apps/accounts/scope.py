"""Data scope: which owners' records a user may see. Applied in one place for every list,
export, detail page and API call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import Forbidden, ValidationFailed
from apps.core.permissions import has_perm

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
    if owner is not None and not (owner.is_active and has_perm(owner, perm)):
        message = _("该员工不能负责%(what)s") % {"what": what}
        raise ValidationFailed(_("负责人：") + message, fields={"owner": [message]})


def reassign(
    model: type,
    records: Iterable[Any],
    owner,
    *,
    actor,
    stamp: Callable[[Any, int | None, Any], None] | None = None,
    stamp_fields: tuple[str, ...] = (),
) -> int:
    """Give ``records`` of ``model`` to ``owner`` (None: the pool) — the one bulk change of
    owner behind every 批量分配. The rows are locked in id order (concurrent assignments
    cannot deadlock), one UPDATE writes those whose owner changes and one INSERT their
    audit rows (「分配给 王磊」). A record that has gone is refused (403). ``stamp(row,
    previous_owner_id, now)`` sets ``stamp_fields`` on each changed row (a lead's 领取时间).
    Returns how many changed."""

    ids = {record.pk for record in records}
    locked = list(model.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    if len(locked) != len(ids):
        raise Forbidden()
    new_owner_id = owner.pk if owner else None
    changed = [row for row in locked if row.owner_id != new_owner_id]
    now = timezone.now()
    entries = []
    for row in changed:
        entries.append((row, {"owner": [row.owner_id, new_owner_id]}))
        previous = row.owner_id
        row.owner = owner
        row.updated_at = now
        if stamp is not None:
            stamp(row, previous, now)
    if changed:
        model.objects.bulk_update(changed, ["owner", "updated_at", *stamp_fields])
        who = owner.display_name if owner else _("公海（未分配）")
        message = _("分配给 %(who)s") % {"who": who}
        audit.record_many(actor=actor, action="assign", entries=entries, message=message)
    return len(changed)


class OwnerNames:
    """Who an import's 负责人 cell may name, among ``people``: a display name or a username.
    ``find(text)`` gives (the member, "") or (None, why not) — two people with one name
    must be named by username."""

    def __init__(self, people: Iterable[Any], *, unknown: str) -> None:
        self.unknown = unknown
        self.people: dict[str, Any] = {}
        for user in people:
            for key in {user.display_name, user.username}:
                taken = self.people.get(key, user)
                self.people[key] = user if taken == user else None

    def find(self, text: str) -> tuple[Any, str]:
        user = self.people.get(text)
        if user is not None:
            return user, ""
        if text in self.people:
            return None, _("有多名员工叫这个名字，请填写用户名")
        return None, self.unknown
