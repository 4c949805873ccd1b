"""API authentication: staff sessions (with CSRF) and Bearer tokens for machines."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from apps.accounts.models import ApiToken

# Refresh last_used_at at most once a minute per token, not on every call.
_LAST_USED_RESOLUTION_S = 60


class SessionAuth(APIKeyCookie):
    """Signed-in console staff; unsafe methods require the CSRF token (X-CSRFToken)."""

    param_name = "sessionid"

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a signed-in user there is nothing to protect: answer 401, not a CSRF 403.
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


def token_for(raw: str) -> ApiToken | None:
    """The active token matching ``raw`` (constant-time via hash lookup), or None."""
    if not raw or len(raw) > 200:
        return None
    try:
        token = ApiToken.objects.select_related("user").get(key_hash=ApiToken.hash_key(raw))
    except ApiToken.DoesNotExist:
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if not token.last_used_at or (now - token.last_used_at).total_seconds() > (
        _LAST_USED_RESOLUTION_S
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``; acts as the token's user, limited to its scopes."""

    def __init__(self, scope: str = ApiToken.SCOPE_API) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str):
        found = token_for(token)
        if found is None or self.scope not in (found.scopes or []):
            return None
        request.user = found.user
        request.api_token = found
        return found.user


session_auth = SessionAuth()
token_auth = TokenAuth(ApiToken.SCOPE_API)
registry_auth = TokenAuth(ApiToken.SCOPE_REGISTRY)
