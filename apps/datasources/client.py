"""RegistryClient: how a Python service reads the tenant registry of the onboarding platform.

Standard library only (no Django), so it can be copied into or imported by any Python 3.11
service::

    from apps.datasources.client import RegistryClient, TenantNotFound

    registry = RegistryClient("http://onboarding.internal", token=os.environ["HGJ_REGISTRY_TOKEN"])
    tenant = registry.tenant("HGJ100001")
    ds = tenant["datasource"]  # type, host, port, database, username, password, pools …

    registry.sync()      # every tenant: the whole registry the first time, then only
    registry.tenants()   # what changed since (a single 304 when nothing did)

- Answers are kept in process for ``ttl`` seconds; after that the next call revalidates
  with ``If-None-Match`` and a 304 keeps the cached answer for another ``ttl``.
- ``sync()`` keeps a map of every tenant current from the registry feed (call it on start
  and then every few seconds); the tenants it brings also fill the ``tenant()`` cache.
  A tenant removed from the registry (its data source deleted) leaves the map.
- Thread-safe: one lock guards the cache, and concurrent calls for the same tenant wait for
  one request instead of each sending their own.
- Errors: ``TenantNotFound`` (404: unknown tenant or no data source yet),
  ``RegistryAuthError`` (401/403: token missing, revoked, expired or without the
  ``registry`` scope), ``RegistryUnavailable`` (network errors, timeouts, 5xx, answers
  that are not the registry's JSON). With ``stale_if_error`` > 0 a cached answer up to that
  many seconds past its TTL is returned instead of raising ``RegistryUnavailable``.
- The token and the passwords in the answers never appear in exception messages or repr().
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryUnavailable",
    "SyncResult",
    "TenantNotFound",
]

_PATH = "/api/v1/registry/tenants/"
_FEED = "/api/v1/registry/tenants"
_FEED_ONLY = ("etag", "changed_at", "removed")  # what a feed item adds to a tenant's entry


class RegistryError(Exception):
    """Base class of the registry client's errors."""


class TenantNotFound(RegistryError):
    """The registry knows no such tenant, or the tenant has no data source yet (404)."""


class RegistryAuthError(RegistryError):
    """The token was refused (401/403)."""


class RegistryUnavailable(RegistryError):
    """The registry could not be reached or gave an unusable answer."""


@dataclass
class _Entry:
    data: dict[str, Any] | None = None
    etag: str = ""
    fresh_until: float = 0.0
    stored_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class SyncResult:
    full: bool  # the whole registry was walked (first sync, or full=True)
    changed: int  # tenants added or updated
    removed: int  # tenants no longer in the registry
    total: int  # tenants in the map now


class RegistryClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        ttl: float = 30,
        timeout: float = 3,
        *,
        stale_if_error: float = 0,
        page_size: int = 500,
        clock: Any = time.monotonic,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.ttl = float(ttl)
        self.timeout = float(timeout)
        self.stale_if_error = float(stale_if_error)
        self._clock = clock
        self.page_size = int(page_size)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        # The synced map (``sync``): every tenant, and where the feed was left.
        self._tenants: dict[str, dict[str, Any]] = {}
        self._cursor = ""
        self._poll_etag = ""
        self._sync_lock = threading.Lock()
        self.requests_sent = 0  # for monitoring and tests

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r}, ttl={self.ttl:g}, timeout={self.timeout:g})"

    # --- public -----------------------------------------------------------------------

    def tenant(self, enterprise_no: str) -> dict[str, Any]:
        """The registry entry of ``enterprise_no`` (a fresh copy; safe to modify)."""
        key = (enterprise_no or "").strip().upper()
        if not key:
            raise TenantNotFound("企业号为空")
        entry = self._entry(key)
        with entry.lock:
            now = self._clock()
            if entry.data is not None and now < entry.fresh_until:
                return _copy(entry.data)
            try:
                self._refresh(key, entry)
            except RegistryUnavailable:
                if (
                    entry.data is not None
                    and self.stale_if_error > 0
                    and now < entry.fresh_until + self.stale_if_error
                ):
                    return _copy(entry.data)
                raise
            except (TenantNotFound, RegistryAuthError):
                entry.data, entry.etag, entry.fresh_until = None, "", 0.0
                raise
            assert entry.data is not None
            return _copy(entry.data)

    def sync(self, *, full: bool = False) -> SyncResult:
        """Bring the local map of every tenant (``tenants()``) up to date from the feed. The
        first call (or ``full=True``) walks the whole registry; later calls fetch only what
        changed since the last one — a single request answered 304 when nothing did. Each
        tenant synced also fills the ``tenant()`` cache, fresh for ``ttl``. Raises like
        ``tenant()``; a failed sync leaves the map as it was."""
        with self._sync_lock:
            fresh = full or not self._cursor
            items, cursor, etag = self._walk(
                "" if fresh else self._cursor, poll_etag="" if fresh else self._poll_etag
            )
            now = self._clock()
            tenants: dict[str, dict[str, Any]] = {} if fresh else dict(self._tenants)
            changed = removed = 0
            for item in items:
                key = str(item.get("enterprise_no") or "").upper()
                if not key:
                    continue
                if item.get("removed"):
                    removed += tenants.pop(key, None) is not None
                    self.invalidate(key)
                    continue
                data = {k: v for k, v in item.items() if k not in _FEED_ONLY}
                if "datasource" not in data:
                    raise RegistryUnavailable("租户注册表的应答格式不正确")
                tenants[key] = data
                changed += 1
                entry = self._entry(key)
                with entry.lock:
                    entry.data, entry.etag = data, str(item.get("etag") or "")
                    entry.stored_at, entry.fresh_until = now, now + self.ttl
            if fresh:
                removed = len(set(self._tenants) - set(tenants))
            self._tenants, self._cursor, self._poll_etag = tenants, cursor, etag
            return SyncResult(full=fresh, changed=changed, removed=removed, total=len(tenants))

    def tenants(self) -> dict[str, dict[str, Any]]:
        """Every tenant as of the last ``sync()``, by enterprise number (fresh copies)."""
        tenants = self._tenants  # replaced whole by ``sync``, never changed in place
        return {key: _copy(data) for key, data in tenants.items()}

    def invalidate(self, enterprise_no: str | None = None) -> None:
        """Forget one tenant's cached answer (or all of them)."""
        with self._lock:
            if enterprise_no is None:
                self._entries.clear()
            else:
                self._entries.pop(enterprise_no.strip().upper(), None)

    # --- internals ----------------------------------------------------------------------

    def _entry(self, key: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            return entry

    def _refresh(self, key: str, entry: _Entry) -> None:
        headers = {}
        if entry.data is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        status, body, etag = self._get(_PATH + urllib.parse.quote(key, safe=""), headers)
        now = self._clock()
        if status == 304 and entry.data is not None:
            entry.etag = etag or entry.etag
            entry.fresh_until = now + self.ttl
            return
        if status == 200:
            data = _json(body)
            if not isinstance(data, dict) or "datasource" not in data:
                raise RegistryUnavailable("租户注册表的应答格式不正确")
            entry.data, entry.etag = data, etag
            entry.stored_at, entry.fresh_until = now, now + self.ttl
            return
        if status == 404:
            raise TenantNotFound(f"租户注册表中没有 {key}（未知租户或尚未配置数据源）")
        _raise_for(status)

    def _get(self, path: str, extra: dict[str, str]) -> tuple[int, bytes, str]:
        """(status, body, ETag) of ``GET path``; network failures as RegistryUnavailable."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": "hgj-registry-client/1",
            **extra,
        }
        request = urllib.request.Request(self.base_url + path, headers=headers, method="GET")  # noqa: S310
        self.requests_sent += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read(), response.headers.get("ETag", "")
        except urllib.error.HTTPError as exc:
            etag = exc.headers.get("ETag", "") if exc.headers else ""
            exc.close()
            return exc.code, b"", etag
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnavailable(
                f"无法连接租户注册表 {self.base_url}：{type(reason).__name__}"
            ) from None

    # --- the feed -----------------------------------------------------------------------

    def _walk(self, cursor: str, *, poll_etag: str = "") -> tuple[list[dict[str, Any]], str, str]:
        """Every item from ``cursor`` ("" = the start) to the head, the cursor to carry on
        from, and the ETag of the last page (for the next poll). With ``poll_etag``, a 304
        on the first page means nothing changed."""
        items: list[dict[str, Any]] = []
        etag = ""
        while True:
            query = {"limit": str(self.page_size), **({"cursor": cursor} if cursor else {})}
            headers = {"If-None-Match": poll_etag} if poll_etag and not items else {}
            status, body, etag = self._get(_FEED + "?" + urllib.parse.urlencode(query), headers)
            if status == 304:
                return items, cursor, poll_etag
            if status != 200:
                _raise_for(status)
            page = _json(body)
            if not (
                isinstance(page, dict)
                and isinstance(page.get("items"), list)
                and isinstance(page.get("next_cursor"), str)
            ):
                raise RegistryUnavailable("租户注册表的应答格式不正确")
            items += page["items"]
            cursor = page["next_cursor"]
            if not page.get("has_more"):
                # The tag answers a request from ``cursor`` only if the page was empty.
                return items, cursor, "" if page["items"] else etag
            poll_etag = ""


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RegistryUnavailable("租户注册表的应答不是有效的 JSON") from None


def _raise_for(status: int) -> None:
    if status in (401, 403):
        raise RegistryAuthError(f"租户注册表拒绝了令牌（HTTP {status}）")
    raise RegistryUnavailable(f"租户注册表暂不可用（HTTP {status}）")


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {
        **data,
        "modules": list(data.get("modules") or []),
        "datasource": dict(data["datasource"]),
    }
