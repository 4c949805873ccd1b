"""Builders for staff and API tokens: real models on the real database."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import Group

from apps.accounts.models import ApiToken, User


def make_staff(username: str, role: str | None, *, name: str = "", password: str = "Pa$$w0rd!x"):
    user = User.objects.create_user(username=username, password=password, name=name)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_token(user, *, scopes=(ApiToken.SCOPE_API,), **fields: Any) -> str:
    """Issue a token for ``user``; returns the raw secret (only its hash is stored)."""
    raw = "hgj_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(
        name="测试令牌",
        user=user,
        prefix=raw[:8],
        key_hash=ApiToken.hash_key(raw),
        scopes=list(scopes),
        **fields,
    )
    return raw


def grant(user, perm: str) -> None:
    """Give ``user`` one permission (``app_label.codename``) beyond their role."""
    from django.contrib.auth.models import Permission

    app_label, codename = perm.split(".", 1)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
