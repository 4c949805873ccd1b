"""Writes on staff accounts (create, change roles, disable, reset password) and on API
tokens (issue, revoke)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit import services as audit
from apps.core.errors import Conflict, ErrorCode, ValidationFailed
from apps.core.permissions import require_perm
from apps.core.validators import normalize_mobile, validate_mobile

from .models import ApiToken, User
from .roles import ROLES

TOKEN_PREFIX = "hgj"


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


def _clean_phone(phone: str) -> str:
    """手机号 is optional for staff; when given it must be a mainland mobile (stored as digits)."""
    phone = (phone or "").strip()
    if not phone:
        return ""
    try:
        validate_mobile(phone)
    except ValidationError as exc:
        raise ValidationFailed(
            _("手机号：%(m)s") % {"m": "；".join(exc.messages)}, fields={"phone": exc.messages}
        ) from exc
    return normalize_mobile(phone)


def _full_clean(user: User) -> None:
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        labels = {f.name: str(f.verbose_name) for f in User._meta.concrete_fields}
        raise ValidationFailed.from_django(exc, labels) from exc


def _roles_snapshot(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


def _roles_audited(user: User) -> dict[str, list[str]]:
    """The roles, audited beside the user's columns."""
    return {"roles": _roles_snapshot(user)}


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
            code=ErrorCode.DUPLICATE,
            fields={"username": [_("用户名已存在")]},
        )
    roles = _check_roles(roles)
    user = User(
        username=username,
        name=(name or "").strip(),
        phone=_clean_phone(phone),
        email=(email or "").strip(),
    )
    _full_clean(user)
    _check_password(password, user)
    user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    after = audit.snapshot(user) | {"roles": sorted(roles)}
    audit.record(actor=actor, action="create", obj=user, after=after)
    return user


def _staff_action(changes: dict[str, list[Any]]) -> str:
    """停用 / 启用 when that is all that changed; 修改 otherwise."""
    if set(changes) == {"is_active"}:
        return "enable" if changes["is_active"][1] else "disable"
    return "update"


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
    if is_active is False and user.pk == actor.pk:
        raise Conflict(_("不能停用自己的账号"), code=ErrorCode.SELF_DISABLE)
    was_admin = "admin" in _roles_snapshot(user)
    with audit.tracked(user, actor=actor, action=_staff_action, extra=_roles_audited):
        for attr, value in (("name", name), ("email", email)):
            if value is not None:
                setattr(user, attr, value.strip())
        if phone is not None:
            user.phone = _clean_phone(phone)
        if is_active is not None:
            user.is_active = is_active
        _full_clean(user)
        user.save()
        if roles is not None:
            roles = _check_roles(roles)
            if user.pk == actor.pk and "admin" not in roles and was_admin:
                raise Conflict(_("不能移除自己的系统管理员角色"), code=ErrorCode.SELF_DEMOTE)
            user.groups.set(Group.objects.filter(name__in=roles))
    return user


@transaction.atomic
def staff_unlock(*, actor: User, user: User) -> int:
    """解除锁定: clear the failed-login lockouts of ``user`` (every IP) before they expire."""
    from axes.utils import reset

    require_perm(actor, "accounts.manage_staff")
    cleared = reset(username=user.username)
    audit.record(
        actor=actor,
        action="unlock",
        obj=user,
        changes={},
        message=_("解除登录锁定（%(n)d 条失败记录）") % {"n": cleared},
    )
    return cleared


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


# --- API tokens -------------------------------------------------------------------------


def _new_raw_token() -> tuple[str, str]:
    """``(prefix, raw)``: raw is ``hgj_<prefix>_<secret>``; the prefix identifies the token
    in lists and logs, the secret is never stored."""
    prefix = secrets.token_hex(4)
    return prefix, f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    allowed = [code for code, _label in ApiToken.SCOPE_CHOICES]
    scopes = list(dict.fromkeys(scopes or []))
    if not scopes:
        raise ValidationFailed(_("权限范围：至少选择一项"), fields={"scopes": [_("至少选择一项")]})
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        msg = _("未知权限范围：%(s)s") % {"s": "、".join(unknown)}
        raise ValidationFailed(_("权限范围：%(m)s") % {"m": msg}, fields={"scopes": [msg]})
    return [s for s in allowed if s in scopes]


@transaction.atomic
def token_issue(
    *,
    actor: User | None,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a bearer token acting as ``user``. Returns the token and the raw key, which is
    shown once and never stored (only its SHA-256). ``actor=None`` only from trusted
    commands (issue_api_token)."""
    if actor is not None:
        require_perm(actor, "accounts.manage_api_tokens")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("名称：不能为空"), fields={"name": [_("不能为空")]})
    scopes = _check_scopes(scopes)
    owner = User.objects.filter(pk=getattr(user, "pk", None)).first()
    if owner is None or not owner.is_active:
        raise ValidationFailed(
            _("所属账号：账号不存在或已停用"), fields={"user": [_("账号不存在或已停用")]}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            _("过期时间：应晚于当前时间"), fields={"expires_at": [_("应晚于当前时间")]}
        )
    prefix, raw = _new_raw_token()
    token = ApiToken(
        name=name,
        user=owner,
        prefix=prefix,
        key_hash=ApiToken.hash_key(raw),
        scopes=scopes,
        created_by=actor,
        expires_at=expires_at,
    )
    try:
        token.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        labels = {f.name: str(f.verbose_name) for f in ApiToken._meta.concrete_fields}
        raise ValidationFailed.from_django(exc, labels) from exc
    token.save()
    audit.record(actor=actor, action="issue_token", obj=token, after=audit.snapshot(token))
    return token, raw


@transaction.atomic
def token_revoke(*, actor: User | None, token: ApiToken) -> ApiToken:
    """Revoke a token at once; it stops authenticating on the next request."""
    if actor is not None:
        require_perm(actor, "accounts.manage_api_tokens")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise Conflict(_("该令牌已吊销"), code=ErrorCode.ALREADY_REVOKED)
    with audit.tracked(token, actor=actor, action="revoke_token"):
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
