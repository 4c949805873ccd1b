"""Reads on staff accounts and API tokens. Both lists are for administrators only: the
permission is checked here, so pages, exports and API calls cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.core.inputs import parse_id
from apps.core.permissions import require_perm

from .models import ApiToken, User
from .roles import ROLES

STAFF_PERM = "accounts.manage_staff"
TOKEN_PERM = "accounts.manage_api_tokens"


@dataclass
class StaffFilters:
    q: str = ""  # username, 姓名 or 手机号
    role: str = ""  # a role code, or "none" for accounts without a role
    active: str = ""  # "1" active, "0" disabled, "" both


def staff_list(*, user, filters: StaffFilters) -> QuerySet[User]:
    require_perm(user, STAFF_PERM)
    qs = User.objects.prefetch_related("groups")
    q = filters.q.strip()
    if q:
        qs = qs.filter(Q(username__icontains=q) | Q(name__icontains=q) | Q(phone__icontains=q))
    if filters.role in ROLES:
        qs = qs.filter(groups__name=filters.role)
    elif filters.role == "none":
        qs = qs.filter(groups__isnull=True)
    if filters.active in {"0", "1"}:
        qs = qs.filter(is_active=filters.active == "1")
    return qs.order_by("username", "id")


def access_staff(user, pk: int | str) -> User:
    """A staff account for the administrator ``user``; NotFound for unknown ids."""
    require_perm(user, STAFF_PERM)
    try:
        return User.objects.prefetch_related("groups").get(pk=parse_id(pk))
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def staff_locked(member: User) -> bool:
    """Whether failed logins have locked the account on some IP (django-axes)."""
    from axes.models import AccessAttempt
    from django.conf import settings

    return AccessAttempt.objects.filter(
        username=member.username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).exists()


def staff_roles(member: User) -> list[str]:
    """Role codes of ``member`` from its prefetched groups (no query when prefetched)."""
    return sorted(g.name for g in member.groups.all())


@dataclass
class TokenFilters:
    status: str = ""  # "active", "revoked", "expired" or "" for all


def token_list(*, user, filters: TokenFilters | None = None) -> QuerySet[ApiToken]:
    require_perm(user, TOKEN_PERM)
    qs = ApiToken.objects.select_related("user", "created_by")
    status = (filters or TokenFilters()).status
    now = timezone.now()
    if status == "active":
        qs = qs.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
    elif status == "revoked":
        qs = qs.filter(revoked_at__isnull=False)
    elif status == "expired":
        qs = qs.filter(revoked_at__isnull=True, expires_at__lte=now)
    return qs.order_by("-created_at", "-id")


def access_token(user, pk: int | str) -> ApiToken:
    require_perm(user, TOKEN_PERM)
    try:
        return ApiToken.objects.select_related("user").get(pk=parse_id(pk))
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def token_owner_choices(user) -> QuerySet[User]:
    """Accounts a token may be issued for: active staff."""
    require_perm(user, TOKEN_PERM)
    return User.objects.filter(is_active=True).order_by("username")
