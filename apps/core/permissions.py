"""Permission checks shared by services, selectors, console views and API endpoints."""

from __future__ import annotations

from .errors import Forbidden


def has_perm(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def require_perm(user, *perms: str) -> None:
    """Raise ``Forbidden`` unless the user holds every listed permission."""
    for perm in perms:
        if not has_perm(user, perm):
            raise Forbidden()
