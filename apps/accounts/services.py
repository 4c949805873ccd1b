"""Writes on staff accounts: create, change roles, disable, reset password."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import Conflict, ValidationFailed
from apps.core.permissions import require_perm

from .models import User
from .roles import ROLES


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValidationFailed(
            _("角色：未知角色 %(r)s") % {"r": "、".join(unknown)},
            fields={"roles": [_("未知角色：%(r)s") % {"r": "、".join(unknown)}]},
        )
    return roles


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(
            _("密码：%(m)s") % {"m": "；".join(exc.messages)}, fields={"password": exc.messages}
        ) from exc


def _roles_snapshot(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


@transaction.atomic
def staff_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    roles: Iterable[str],
    name: str = "",
    phone: str = "",
    email: str = "",
) -> User:
    """Create a member of staff. ``actor=None`` only from trusted commands (create_staff)."""
    if actor is not None:
        require_perm(actor, "accounts.manage_staff")
    username = (username or "").strip()
    if not username:
        raise ValidationFailed(_("用户名：不能为空"), fields={"username": [_("不能为空")]})
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(
            _("用户名已存在：%(u)s") % {"u": username},
            code="duplicate",
            fields={"username": [_("用户名已存在")]},
        )
    roles = _check_roles(roles)
    user = User(username=username, name=(name or "").strip(), phone=phone, email=email)
    _check_password(password, user)
    user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ValidationFailed.from_django(exc) from exc
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    after = audit.snapshot(user) | {"roles": roles}
    audit.record(actor=actor, action="create", obj=user, after=after)
    return user


@transaction.atomic
def staff_update(
    *,
    actor: User,
    user: User,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    roles: Iterable[str] | None = None,
    is_active: bool | None = None,
) -> User:
    require_perm(actor, "accounts.manage_staff")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = audit.snapshot(user) | {"roles": _roles_snapshot(user)}
    if is_active is False and user.pk == actor.pk:
        raise Conflict(_("不能停用自己的账号"), code="self_disable")
    for attr, value in (("name", name), ("phone", phone), ("email", email)):
        if value is not None:
            setattr(user, attr, value.strip())
    if is_active is not None:
        user.is_active = is_active
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise ValidationFailed.from_django(exc) from exc
    user.save()
    if roles is not None:
        roles = _check_roles(roles)
        if user.pk == actor.pk and "admin" not in roles and "admin" in before["roles"]:
            raise Conflict(_("不能移除自己的系统管理员角色"), code="self_demote")
        user.groups.set(Group.objects.filter(name__in=roles))
    after = audit.snapshot(user) | {"roles": _roles_snapshot(user)}
    changes = audit.diff(before, after)
    if changes:
        action = "update"
        if set(changes) == {"is_active"}:
            action = "enable" if user.is_active else "disable"
        audit.record(actor=actor, action=action, obj=user, changes=changes)
    return user


@transaction.atomic
def staff_set_password(*, actor: User | None, user: User, password: str) -> User:
    if actor is not None:
        require_perm(actor, "accounts.manage_staff")
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action="set_password", obj=user, changes={})
    return user
