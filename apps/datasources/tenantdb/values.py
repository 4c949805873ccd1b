"""Values every part of tenant-database work shares: server types, findings and
reports, the error type, timeouts and identifier and secret hygiene."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

MYSQL = "mysql"
POSTGRESQL = "postgresql"
OK, WARN, ERROR = "ok", "warn", "error"
LEVEL_LABELS = {OK: "通过", WARN: "提示", ERROR: "不通过"}

# PostgreSQL predefined roles that reach beyond one database.
PG_DANGEROUS_ROLES = (
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
)
MYSQL_SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys", "%")
VERIFY_TABLE_PREFIX = "hgj_verify_"


# --- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect. The password is excluded from repr()."""

    db_type: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    database: str = ""

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def of(cls, datasource: Any) -> Target:
        return cls(
            db_type=datasource.db_type,
            host=datasource.host,
            port=datasource.port,
            username=datasource.username,
            password=datasource.get_password(),
            database=datasource.database,
        )


@dataclass(frozen=True)
class Finding:
    code: str
    level: str  # ok | warn | error
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "level": self.level, "message": self.message}


@dataclass
class PreflightReport:
    """The result of 检测连接: findings in check order plus the facts learned."""

    db_type: str
    address: str
    username: str
    database: str
    findings: list[Finding] = field(default_factory=list)
    reachable: bool = False
    server_version: str = ""
    charset: str = ""
    database_exists: bool | None = None
    database_tables: int | None = None
    server_max_connections: int | None = None
    pools_configured: int = 0
    max_pool: int = 0
    elapsed_ms: int = 0

    def add(self, code: str, level: str, message: str) -> None:
        self.findings.append(Finding(code, level, message))

    @property
    def ok(self) -> bool:
        return self.reachable and not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARN]

    def summary(self) -> str:
        if self.ok:
            text = _("检测通过")
            if self.warnings:
                text += _("（%(n)d 项提示）") % {"n": len(self.warnings)}
            return text
        return _("检测未通过：%(r)s") % {"r": "；".join(f.message for f in self.errors)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "db_type": self.db_type,
            "address": self.address,
            "username": self.username,
            "database": self.database,
            "server_version": self.server_version,
            "charset": self.charset,
            "database_exists": self.database_exists,
            "database_tables": self.database_tables,
            "server_max_connections": self.server_max_connections,
            "pools_configured": self.pools_configured,
            "max_pool": self.max_pool,
            "elapsed_ms": self.elapsed_ms,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class ProbeResult:
    """What the tenant database holds (for delete and for the status panel)."""

    database_exists: bool
    tables: list[str] = field(default_factory=list)
    tables_with_rows: list[str] = field(default_factory=list)
    metadata_tables_with_rows: list[str] = field(default_factory=list)
    communities_online: int | None = None

    @property
    def has_data(self) -> bool:
        return bool(self.tables_with_rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database_exists": self.database_exists,
            "tables": self.tables,
            "tables_with_rows": self.tables_with_rows,
            "has_data": self.has_data,
            "communities_online": self.communities_online,
        }


class TenantDBError(Exception):
    """A failure on a tenant server. ``message`` is Chinese and safe to show and log."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


# --- helpers ---------------------------------------------------------------------------


def connect_timeout() -> float:
    return float(settings.TENANT_CONNECT_TIMEOUT)


def query_timeout() -> float:
    return float(settings.TENANT_QUERY_TIMEOUT)


def scrub(text: str, *secrets_: str) -> str:
    """``text`` with every given secret replaced, one line, at most 300 characters."""
    for secret in secrets_:
        if secret:
            text = text.replace(secret, "******")
    text = " ".join(str(text).split())
    return text[:300]


def _ident_ok(name: str) -> str:
    """Generated identifiers only: [a-z0-9_], starting with a letter (defence in depth;
    they are quoted as well)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name or ""):
        raise TenantDBError("bad_identifier", _("数据库名称不合法：%(n)s") % {"n": name})
    return name


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()
