"""API authentication: staff sessions (with CSRF) and Bearer tokens for machines."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyCookie, HttpBearer

from apps.accounts.models import ApiToken
from apps.core.errors import Forbidden

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
    """``Authorization: Bearer <token>``; acts as the token's user, limited to its scopes.

    ``cache_setting`` names a setting of seconds for which a found token is kept in this
    process (0: look it up every time). Only the registry uses it — it is on the business
    system's hot path — so a revoked or expired registry token keeps working in a process
    for at most that long."""

    _CACHE_MAX = 1024

    def __init__(self, scope: str = ApiToken.SCOPE_API, *, cache_setting: str = "") -> None:
        super().__init__()
        self.scope = scope
        self.cache_setting = cache_setting
        self._cache: dict[str, tuple[float, ApiToken]] = {}
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _lookup(self, raw: str) -> ApiToken | None:
        ttl = float(getattr(settings, self.cache_setting, 0) or 0) if self.cache_setting else 0
        if ttl <= 0 or not raw or len(raw) > 200:
            return token_for(raw)
        key = ApiToken.hash_key(raw)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now and hit[1].is_active:
            return hit[1]
        found = token_for(raw)
        with self._lock:
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            if found is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = (now + ttl, found)
        return found

    def authenticate(self, request: HttpRequest, token: str):
        found = self._lookup(token)
        if found is None:
            return None
        if self.scope not in (found.scopes or []):
            # A valid token of another scope: known, but not allowed here (403, not 401).
            label = dict(ApiToken.SCOPE_CHOICES).get(self.scope, self.scope)
            raise Forbidden(f"该令牌没有此接口所需的权限范围：{label}")
        request.user = found.user
        request.api_token = found
        return found.user


session_auth = SessionAuth()
token_auth = TokenAuth(ApiToken.SCOPE_API)
registry_auth = TokenAuth(ApiToken.SCOPE_REGISTRY, cache_setting="REGISTRY_TOKEN_CACHE_SECONDS")
