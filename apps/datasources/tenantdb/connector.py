"""The interface every tenant database server type implements, and what its probes
return."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .values import ProbeResult, Target, TenantDBError, connect_timeout, scrub
from .versions import Applied, SchemaState

logger = logging.getLogger(__name__)

# --- connectors -------------------------------------------------------------------------


class Connector:
    """Per-type operations against one target. Use as a context manager; connections are
    opened lazily and closed on exit."""

    label = ""
    db_type = ""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._server: Any = None
        self._databases: dict[str, Any] = {}

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in [self._server, *self._databases.values()]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._server = None
        self._databases = {}

    def close_database(self, name: str) -> None:
        conn = self._databases.pop(name, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # schema versions (see versions.py); each type says how to reach a database's table
    def _version_table(self, database: str) -> str:
        raise NotImplementedError

    def _in_database(self, database: str, sql: str, *, action: str) -> list:
        raise NotImplementedError

    def _version_columns(self, database: str) -> set[str]:
        raise NotImplementedError

    def schema_state(self, database: str) -> SchemaState:
        """What ``database``'s ``schema_version`` records (read only)."""
        table = self._version_table(database)
        # The usual case in one round trip; a table missing or from before versioning
        # (no checksum column) fails it, and the catalogue says which.
        try:
            rows = self._in_database(
                database, f"SELECT version, checksum FROM {table}", action=_("读取版本记录")
            )
        except TenantDBError:
            pass
        else:
            return SchemaState(True, True, [Applied(str(v), c or None) for v, c in rows])
        columns = self._version_columns(database)
        if not columns:
            return SchemaState()
        has = "checksum" in columns
        rows = self._in_database(
            database,
            f"SELECT version, {'checksum' if has else 'NULL'} FROM {table}",
            action=_("读取版本记录"),
        )
        return SchemaState(True, has, [Applied(str(v), c or None) for v, c in rows])

    # messages shared by both types
    def _msg_timeout(self) -> str:
        return _(
            "连接 %(addr)s 超时：%(t)s 秒内没有完成连接，请检查地址、端口、防火墙，"
            "并确认该端口是 %(label)s 服务"
        ) % {"addr": self.target.address, "t": _fmt_seconds(connect_timeout()), "label": self.label}

    def _msg_refused(self) -> str:
        return _("无法连接 %(addr)s：连接被拒绝，请检查地址和端口，以及数据库服务是否在运行") % {
            "addr": self.target.address
        }

    def _msg_dns(self) -> str:
        return _("无法解析主机名 %(host)s，请检查数据库地址") % {"host": self.target.host}

    def _msg_auth(self) -> str:
        return _("账号或密码错误，或账号 %(user)s 不允许从本平台所在地址登录 %(addr)s") % {
            "user": self.target.username,
            "addr": self.target.address,
        }

    def _msg_not_this_type(self) -> str:
        return _("%(addr)s 不是 %(label)s 服务，请检查端口和数据源类型") % {
            "addr": self.target.address,
            "label": self.label,
        }

    def _msg_too_many(self) -> str:
        return _("服务器 %(addr)s 的连接数已满，暂时无法连接") % {"addr": self.target.address}

    def _scrub(self, text: str) -> str:
        return scrub(text, self.target.password)


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _pct(quoted: str) -> str:
    """Escape ``%`` in a quoted identifier of a statement that also has parameters."""
    return quoted.replace("%", "%%")


def _pg_label(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


def _probe_result(connector: Any, database: str, tables: list) -> ProbeResult:
    labels = [_pg_label(*t) if isinstance(t, tuple) else t for t in tables]
    with_rows = connector.tables_with_rows(database, tables) if tables else []
    metadata = {t.lower() for t in settings.TENANT_METADATA_TABLES}
    online = None
    community = settings.TENANT_COMMUNITY_TABLE
    if community and community in labels:
        online = connector.count_online(
            database, community, settings.TENANT_COMMUNITY_ONLINE_COLUMN
        )
    return ProbeResult(
        database_exists=True,
        tables=labels,
        tables_with_rows=[t for t in with_rows if t.lower() not in metadata],
        metadata_tables_with_rows=[t for t in with_rows if t.lower() in metadata],
        communities_online=online,
    )
