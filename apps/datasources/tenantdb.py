"""Talking to tenant database servers: MySQL/MariaDB through PyMySQL, PostgreSQL through
psycopg 3.

Every connection has a connect timeout (``TENANT_CONNECT_TIMEOUT``, also bounding the
handshake, so a port that accepts but never answers fails in time) and a read/statement
timeout (``TENANT_QUERY_TIMEOUT``). Failures become ``TenantDBError`` with a Chinese message
built from our own templates: driver messages are never shown raw and never contain the
password (the drivers' exceptions are dropped, ``raise … from None``: psycopg's keeps the
connection parameters, password included).

- ``preflight(...)`` — 检测连接: reachability, version, character set, privileges, database
  state and the connection budget of the server, as findings (code, level, message).
- ``probe(datasource)`` — which tables of the tenant database hold rows, and how many
  communities are online.
- ``Connector`` — the few operations provisioning needs (create/drop database, run the
  baseline schema, verify create/write/drop table).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


def split_sql(text: str) -> list[str]:
    """Split a SQL script into statements on ``;`` outside quotes, comments and
    PostgreSQL dollar-quoted bodies. Comment-only pieces are dropped."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    has_code = False
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "-" and nxt == "-":
            end = text.find("\n", i)
            end = n if end == -1 else end
            i = end
            continue
        if c == "/" and nxt == "*":
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            i = end
            buf.append(" ")
            continue
        if c in ("'", '"', "`"):
            j = i + 1
            while j < n:
                if text[j] == "\\" and c != '"':
                    j += 2
                    continue
                if text[j] == c:
                    if j + 1 < n and text[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            buf.append(text[i : j + 1])
            has_code = True
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$[A-Za-z_]*\$", text[i:])
            if m:
                tag = m.group(0)
                end = text.find(tag, i + len(tag))
                end = n if end == -1 else end + len(tag)
                buf.append(text[i:end])
                has_code = True
                i = end
                continue
        if c == ";":
            if has_code:
                statements.append("".join(buf).strip())
            buf, has_code = [], False
            i += 1
            continue
        buf.append(c)
        if not c.isspace():
            has_code = True
        i += 1
    if has_code and "".join(buf).strip():
        statements.append("".join(buf).strip())
    return statements


def baseline_files(db_type: str) -> list[Path]:
    """The baseline schema files for ``db_type`` in order (empty: no baseline)."""
    root = str(settings.TENANT_BASELINE_DIR or "").strip()
    if not root:
        return []
    folder = Path(root) / db_type
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".sql" and p.is_file())


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


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


class MySQLConnector(Connector):
    label = "MySQL/MariaDB"
    db_type = MYSQL

    # connections
    def _connect(self) -> Any:
        import pymysql

        t = self.target
        ct = connect_timeout()
        try:
            conn = pymysql.connect(
                host=t.host,
                port=int(t.port),
                user=t.username,
                password=t.password,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=ct,
                # The handshake is read with the read timeout: keep it short until connected.
                read_timeout=ct,
                write_timeout=ct,
                local_infile=False,
            )
        # pymysql.MySQLError / OperationalError, not pymysql.err.*: with PyMySQL installed as
        # MySQLdb for Django, importing MySQLdb.err replaces the pymysql.err attribute with
        # a second copy whose classes the driver never raises.
        except pymysql.OperationalError as exc:
            raise self._translate_connect(exc) from None
        except Exception as exc:
            logger.info("MySQL handshake with %s failed: %s", t.address, type(exc).__name__)
            raise TenantDBError("not_mysql", self._msg_not_this_type()) from None
        # Connected: statements may take longer than the handshake. PyMySQL keeps these
        # per connection in attributes with no public setter.
        qt = query_timeout()
        conn._read_timeout = qt
        conn._write_timeout = qt
        return conn

    def _translate_connect(self, exc: Exception) -> TenantDBError:
        code = exc.args[0] if exc.args else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
        lowered = text.lower()
        if code == 1045:
            return TenantDBError("auth_failed", self._msg_auth())
        if code == 1040:
            return TenantDBError("too_many_connections", self._msg_too_many())
        if code == 1129:
            return TenantDBError(
                "host_blocked",
                _("本平台地址已被 %(addr)s 封锁（连接错误过多），请 DBA 执行 FLUSH HOSTS")
                % {"addr": self.target.address},
            )
        if code == 2003:
            if "timed out" in lowered:
                return TenantDBError("timeout", self._msg_timeout())
            if "errno -2" in lowered or "errno -3" in lowered or "name or service" in lowered:
                return TenantDBError("dns", self._msg_dns())
            return TenantDBError("refused", self._msg_refused())
        if code in (2013, 2006):
            return TenantDBError("timeout", self._msg_timeout())
        return TenantDBError(
            "connect_failed",
            _("连接 %(addr)s 失败（错误码 %(code)s）：%(detail)s")
            % {"addr": self.target.address, "code": code, "detail": self._scrub(text)},
        )

    def _translate(self, exc: Exception, action: str) -> TenantDBError:
        code = exc.args[0] if exc.args else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in (1044, 1142, 1227):
            what = _("权限不足")
        elif code == 1007:
            what = _("数据库已存在")
        elif code in (2013, 2006):
            what = _("服务器 %(t)s 秒内没有响应") % {"t": _fmt_seconds(query_timeout())}
        else:
            what = _("错误码 %(code)s") % {"code": code}
        return TenantDBError(
            f"mysql_{code}",
            _("%(action)s失败（%(what)s）：%(detail)s")
            % {"action": action, "what": what, "detail": self._scrub(text)},
        )

    @property
    def server(self) -> Any:
        if self._server is None:
            self._server = self._connect()
        return self._server

    def query(self, sql: str, params: Sequence[Any] | None = None, *, action: str) -> list:
        import pymysql

        try:
            with self.server.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise self._translate(exc, action) from None

    @staticmethod
    def quote(name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    # facts
    def server_facts(self) -> dict[str, Any]:
        row = self.query(
            "SELECT VERSION(), @@character_set_server, @@collation_server, "
            "@@max_connections, @@max_user_connections",
            action=_("读取服务器信息"),
        )[0]
        raw_version = str(row[0])
        product = "MariaDB" if "mariadb" in raw_version.lower() else "MySQL"
        number = raw_version.split("-")[0]
        return {
            "version": f"{product} {number}",
            "product": product,
            "version_tuple": _version_tuple(number),
            "charset": str(row[1]),
            "collation": str(row[2]),
            "max_connections": int(row[3]),
            "max_user_connections": int(row[4] or 0),
        }

    def grants(self) -> list[str]:
        """The current account's grants (never logged or shown: MariaDB prints the
        password hash on the USAGE line)."""
        rows = self.query("SHOW GRANTS", action=_("读取账号权限"))
        lines = [str(r[0]) for r in rows]
        for role in self._granted_roles(lines):
            try:
                rows = self.query(f"SHOW GRANTS FOR {self.quote(role)}", action="")
                lines.extend(str(r[0]) for r in rows)
            except TenantDBError:
                lines.append(f"-- ROLE-UNREADABLE {role}")
        return lines

    @staticmethod
    def _granted_roles(lines: list[str]) -> list[str]:
        roles = []
        for line in lines:
            m = re.match(r"^GRANT\s+`([^`]+)`\s+TO\s+", line, re.I)
            if m and " ON " not in line.upper():
                roles.append(m.group(1))
        return roles

    def database_state(self, name: str) -> tuple[bool, int, str]:
        """(exists, number of tables and views, default character set)."""
        rows = self.query(
            "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA "
            "WHERE SCHEMA_NAME = %s",
            [name],
            action=_("检查数据库"),
        )
        if not rows:
            return False, 0, ""
        count = self.query(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            [name],
            action=_("检查数据库"),
        )[0][0]
        return True, int(count), str(rows[0][0])

    def objects(self, name: str) -> list[tuple[str, str]]:
        rows = self.query(
            "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
            [name],
            action=_("读取表清单"),
        )
        return [(str(r[0]), "view" if "VIEW" in str(r[1]).upper() else "table") for r in rows]

    # operations
    def create_database(self, name: str) -> None:
        self.query(
            f"CREATE DATABASE {self.quote(_ident_ok(name))} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            action=_("创建数据库 %(n)s ") % {"n": name},
        )

    def drop_database(self, name: str) -> None:
        self.query(
            f"DROP DATABASE {self.quote(_ident_ok(name))}",
            action=_("删除数据库 %(n)s ") % {"n": name},
        )

    def run_script(self, database: str, statements: list[tuple[str, int, str]]) -> None:
        """Run baseline statements in ``database`` (MySQL commits DDL one by one; the
        caller removes what was created if a statement fails)."""
        self.query(f"USE {self.quote(_ident_ok(database))}", action=_("切换数据库"))
        for filename, number, statement in statements:
            self.query(
                statement,
                action=_("执行 %(f)s 第 %(i)d 条语句") % {"f": filename, "i": number},
            )

    def drop_objects(self, database: str, objects: list[tuple[str, str]]) -> None:
        db = self.quote(_ident_ok(database))
        self.query("SET FOREIGN_KEY_CHECKS = 0", action="")
        try:
            for obj, kind in objects:
                keyword = "VIEW" if kind == "view" else "TABLE"
                self.query(
                    f"DROP {keyword} IF EXISTS {db}.{self.quote(obj)}",
                    action=_("删除 %(o)s") % {"o": obj},
                )
        finally:
            self.query("SET FOREIGN_KEY_CHECKS = 1", action="")

    def verify(self, database: str) -> None:
        table = f"{self.quote(_ident_ok(database))}.{VERIFY_TABLE_PREFIX}{secrets.token_hex(4)}"
        self.query(
            f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(32)) DEFAULT CHARSET=utf8mb4",
            action=_("建表"),
        )
        try:
            self.query(f"INSERT INTO {table} (id, note) VALUES (1, %s)", ["验证"], action=_("写入"))
            rows = self.query(f"SELECT note FROM {table} WHERE id = 1", action=_("读取"))
            if not rows or rows[0][0] != "验证":
                raise TenantDBError("verify_mismatch", _("写入后读回的数据不一致（字符集问题）"))
        finally:
            self.query(f"DROP TABLE {table}", action=_("删除表"))

    def tables_with_rows(self, database: str, tables: list[str]) -> list[str]:
        db = self.quote(_ident_ok(database))
        found: list[str] = []
        for start in range(0, len(tables), 50):
            chunk = tables[start : start + 50]
            sql = " UNION ALL ".join(
                f"(SELECT %s FROM {db}.{self.quote(t).replace('%', '%%')} LIMIT 1)" for t in chunk
            )
            found.extend(str(r[0]) for r in self.query(sql, chunk, action=_("检查表数据")))
        return sorted(found)

    def count_online(self, database: str, table: str, column: str) -> int | None:
        rows = self.query(
            "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s AND COLUMN_NAME = %s",
            [database, table, column],
            action=_("检查小区表"),
        )
        if not rows:
            return None
        db = self.quote(_ident_ok(database))
        return int(
            self.query(
                f"SELECT COUNT(*) FROM {db}.{self.quote(table)} WHERE {self.quote(column)} <> 0",
                action=_("统计已上线小区"),
            )[0][0]
        )

    def probe(self, database: str) -> ProbeResult:
        exists, _count, _charset = self.database_state(database)
        if not exists:
            return ProbeResult(database_exists=False)
        tables = [name for name, kind in self.objects(database) if kind == "table"]
        return _probe_result(self, database, tables)


class PostgresConnector(Connector):
    label = "PostgreSQL"
    db_type = POSTGRESQL

    def _connect(self, dbname: str) -> Any:
        import psycopg

        t = self.target
        try:
            return psycopg.connect(
                host=t.host,
                port=int(t.port),
                user=t.username,
                password=t.password,
                dbname=dbname,
                connect_timeout=max(2, math.ceil(connect_timeout())),
                application_name="hgj-onboarding",
                options=f"-c statement_timeout={int(query_timeout() * 1000)} "
                f"-c lock_timeout={int(query_timeout() * 1000)}",
                autocommit=True,
            )
        except psycopg.errors.ConnectionTimeout:
            raise TenantDBError("timeout", self._msg_timeout()) from None
        except psycopg.Error as exc:
            raise self._translate_connect(exc, dbname) from None

    def _translate_connect(self, exc: Exception, dbname: str) -> TenantDBError:
        text = str(exc)
        lowered = text.lower()
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate == "28P01" or "password authentication failed" in lowered:
            return TenantDBError("auth_failed", self._msg_auth())
        if "no pg_hba.conf entry" in lowered:
            return TenantDBError(
                "hba_rejected",
                _("服务器不允许账号 %(user)s 从本平台所在地址连接（pg_hba.conf 无对应规则）")
                % {"user": self.target.username},
            )
        if sqlstate == "28000" or re.search(r'role ".*" does not exist', lowered):
            return TenantDBError("auth_failed", self._msg_auth())
        if sqlstate == "3D000" or re.search(r'database ".*" does not exist', lowered):
            return TenantDBError("database_missing", _("数据库 %(n)s 不存在") % {"n": dbname})
        if sqlstate == "42501" or "permission denied for database" in lowered:
            return TenantDBError(
                "database_denied",
                _("账号 %(user)s 无权连接数据库 %(n)s")
                % {"user": self.target.username, "n": dbname},
            )
        if "too many" in lowered and "connections" in lowered:
            return TenantDBError("too_many_connections", self._msg_too_many())
        if "timeout expired" in lowered or "timed out" in lowered:
            return TenantDBError("timeout", self._msg_timeout())
        if "connection refused" in lowered:
            return TenantDBError("refused", self._msg_refused())
        if "resolve host" in lowered or "translate host name" in lowered:
            return TenantDBError("dns", self._msg_dns())
        if (
            "ssl negotiation" in lowered
            or "closed the connection unexpectedly" in lowered
            or "invalid response" in lowered
            or "expected authentication request" in lowered
        ):
            return TenantDBError("not_postgresql", self._msg_not_this_type())
        first = text.split("\n")[0]
        first = re.sub(r"^connection failed: ", "", first)
        return TenantDBError(
            "connect_failed",
            _("连接 %(addr)s 失败：%(detail)s")
            % {"addr": self.target.address, "detail": self._scrub(first)},
        )

    def _translate(self, exc: Exception, action: str) -> TenantDBError:
        import psycopg

        sqlstate = getattr(exc, "sqlstate", None) or ""
        diag = getattr(exc, "diag", None)
        detail = (getattr(diag, "message_primary", None) if diag else None) or str(exc)
        if isinstance(exc, psycopg.errors.QueryCanceled):
            what = _("超过 %(t)s 秒未完成") % {"t": _fmt_seconds(query_timeout())}
        elif sqlstate == "42501":
            what = _("权限不足")
        elif sqlstate == "42P04":
            what = _("数据库已存在")
        elif sqlstate == "55006":
            what = _("数据库仍有其他连接")
        else:
            what = _("错误码 %(code)s") % {"code": sqlstate or "-"}
        return TenantDBError(
            f"pg_{sqlstate or 'error'}",
            _("%(action)s失败（%(what)s）：%(detail)s")
            % {"action": action, "what": what, "detail": self._scrub(detail)},
        )

    @property
    def server(self) -> Any:
        if self._server is None:
            self._server = self._connect(settings.TENANT_PG_MAINTENANCE_DB)
        return self._server

    def database_conn(self, name: str) -> Any:
        if name not in self._databases:
            self._databases[name] = self._connect(name)
        return self._databases[name]

    def _run(self, conn: Any, sql: Any, params: Sequence[Any] | None, action: str) -> list:
        import psycopg

        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise self._translate(exc, action) from None

    def query(self, sql: Any, params: Sequence[Any] | None = None, *, action: str) -> list:
        return self._run(self.server, sql, params, action)

    def query_in(self, database: str, sql: Any, params=None, *, action: str) -> list:
        return self._run(self.database_conn(database), sql, params, action)

    @staticmethod
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def server_facts(self) -> dict[str, Any]:
        row = self.query(
            "SELECT current_setting('server_version'), current_setting('server_encoding'), "
            "current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int, "
            "coalesce(current_setting('reserved_connections', true), '0')::int, "
            "(SELECT pg_encoding_to_char(encoding) FROM pg_database "
            " WHERE datname = 'template1')",
            action=_("读取服务器信息"),
        )[0]
        number = str(row[0]).split(" ")[0]
        return {
            "version": f"PostgreSQL {number}",
            "product": "PostgreSQL",
            "version_tuple": _version_tuple(number),
            "charset": str(row[5] or row[1]),
            "max_connections": int(row[2]) - int(row[3]) - int(row[4]),
            "raw_max_connections": int(row[2]),
        }

    def roles(self) -> list[dict[str, Any]]:
        """The account and every role it is a member of (it can SET ROLE to them)."""
        rows = self.query(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
            "rolbypassrls, rolconnlimit, rolname = current_user "
            "FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER') "
            "ORDER BY rolname = current_user DESC, rolname",
            action=_("读取账号权限"),
        )
        keys = (
            "name",
            "super",
            "createrole",
            "createdb",
            "replication",
            "bypassrls",
            "connlimit",
            "is_self",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def database_state(self, name: str) -> tuple[bool, int, str]:
        rows = self.query(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = %s",
            [name],
            action=_("检查数据库"),
        )
        if not rows:
            return False, 0, ""
        count = self.query_in(
            name,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%%'",
            action=_("检查数据库"),
        )[0][0]
        return True, int(count), str(rows[0][0])

    def user_tables(self, database: str) -> list[tuple[str, str]]:
        rows = self.query_in(
            database,
            "SELECT n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%%' ORDER BY 1, 2",
            action=_("读取表清单"),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def objects(self, database: str) -> list[tuple[str, str]]:
        """Tables, views and sequences outside the system schemas, as
        ("schema"."name", kind)."""
        rows = self.query_in(
            database,
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%%' ORDER BY 1, 2",
            action=_("读取表清单"),
        )
        kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence"}
        return [
            (f"{self.quote(str(r[0]))}.{self.quote(str(r[1]))}", kinds[str(r[2])]) for r in rows
        ]

    def drop_objects(self, database: str, objects: list[tuple[str, str]]) -> None:
        order = {"view": 0, "materialized view": 1, "table": 2, "sequence": 3}
        for obj, kind in sorted(objects, key=lambda o: order[o[1]]):
            self.query_in(
                database,
                f"DROP {kind.upper()} IF EXISTS {obj} CASCADE",
                action=_("删除 %(o)s") % {"o": obj},
            )

    def create_database(self, name: str, *, template0: bool) -> None:
        sql = f"CREATE DATABASE {self.quote(_ident_ok(name))}"
        if template0:
            sql += " TEMPLATE template0 ENCODING 'UTF8'"
        self.query(sql, action=_("创建数据库 %(n)s ") % {"n": name})

    def drop_database(self, name: str) -> None:
        self.close_database(name)
        self.query(
            f"DROP DATABASE {self.quote(_ident_ok(name))}",
            action=_("删除数据库 %(n)s ") % {"n": name},
        )

    def run_script(self, database: str, statements: list[tuple[str, int, str]]) -> None:
        """Run the baseline in one transaction (PostgreSQL DDL is transactional: a
        failure leaves nothing behind)."""
        import psycopg

        conn = self.database_conn(database)
        try:
            with conn.transaction(), conn.cursor() as cur:
                for filename, number, statement in statements:
                    try:
                        cur.execute(statement)
                    except psycopg.Error as exc:
                        raise self._translate(
                            exc,
                            _("执行 %(f)s 第 %(i)d 条语句") % {"f": filename, "i": number},
                        ) from None
        except psycopg.Error as exc:
            raise self._translate(exc, _("提交表结构")) from None

    def verify(self, database: str) -> None:
        table = f"{VERIFY_TABLE_PREFIX}{secrets.token_hex(4)}"
        q = self.quote(table)
        self.query_in(
            database,
            f"CREATE TABLE {q} (id integer PRIMARY KEY, note varchar(32))",
            action=_("建表"),
        )
        try:
            self.query_in(
                database, f"INSERT INTO {q} (id, note) VALUES (1, %s)", ["验证"], action=_("写入")
            )
            rows = self.query_in(database, f"SELECT note FROM {q} WHERE id = 1", action=_("读取"))
            if not rows or rows[0][0] != "验证":
                raise TenantDBError("verify_mismatch", _("写入后读回的数据不一致（字符集问题）"))
        finally:
            self.query_in(database, f"DROP TABLE {q}", action=_("删除表"))

    def tables_with_rows(self, database: str, tables: list[tuple[str, str]]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(tables), 50):
            chunk = tables[start : start + 50]
            sql = " UNION ALL ".join(
                f"(SELECT %s::text FROM {_pct(self.quote(s))}.{_pct(self.quote(t))} LIMIT 1)"
                for s, t in chunk
            )
            labels = [_pg_label(s, t) for s, t in chunk]
            found.extend(
                str(r[0]) for r in self.query_in(database, sql, labels, action=_("检查表数据"))
            )
        return sorted(found)

    def count_online(self, database: str, table: str, column: str) -> int | None:
        rows = self.query_in(
            database,
            "SELECT table_schema, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = %s "
            "ORDER BY table_schema = 'public' DESC LIMIT 1",
            [table, column],
            action=_("检查小区表"),
        )
        if not rows:
            return None
        schema, data_type = str(rows[0][0]), str(rows[0][1])
        condition = "IS TRUE" if data_type == "boolean" else "<> 0"
        return int(
            self.query_in(
                database,
                f"SELECT count(*) FROM {self.quote(schema)}.{self.quote(table)} "
                f"WHERE {self.quote(column)} {condition}",
                action=_("统计已上线小区"),
            )[0][0]
        )

    def probe(self, database: str) -> ProbeResult:
        rows = self.query(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database], action=_("检查数据库")
        )
        if not rows:
            return ProbeResult(database_exists=False)
        pairs = self.user_tables(database)
        return _probe_result(self, database, pairs)


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


def connector_for(target: Target) -> Connector:
    if target.db_type == MYSQL:
        return MySQLConnector(target)
    if target.db_type == POSTGRESQL:
        return PostgresConnector(target)
    raise TenantDBError("bad_type", _("不支持的数据源类型：%(t)s") % {"t": target.db_type})


# --- 检测连接 ------------------------------------------------------------------------------


def preflight(
    host: str,
    port: int,
    db_type: str,
    username: str,
    password: str,
    database: str,
    max_pool: int,
    *,
    pools_configured: int | None = None,
) -> PreflightReport:
    """Check a prospective data source without changing anything on the server.

    ``pools_configured``: the sum of max pool sizes already configured on this host:port
    (looked up in the control database when not given)."""
    target = Target(db_type, host, int(port), username, password, database)
    with connector_for(target) as connector:
        return check_with(connector, max_pool=max_pool, pools_configured=pools_configured)


def check_with(
    connector: Connector, *, max_pool: int, pools_configured: int | None = None
) -> PreflightReport:
    """Run the pre-flight checks on an open connector (provisioning reuses it)."""
    target = connector.target
    report = PreflightReport(
        db_type=target.db_type,
        address=target.address,
        username=target.username,
        database=target.database,
        max_pool=int(max_pool),
    )
    if pools_configured is None:
        from .selectors import pools_configured_on

        pools_configured = pools_configured_on(target.host, target.port)
    report.pools_configured = pools_configured
    started = time.monotonic()
    try:
        _run_checks(connector, report)
    except TenantDBError as exc:
        report.add(exc.code, ERROR, exc.message)
    finally:
        report.elapsed_ms = int((time.monotonic() - started) * 1000)
    logger.info(
        "检测连接 %s %s@%s 数据库 %s：%s",
        target.db_type,
        target.username,
        target.address,
        target.database,
        report.summary(),
    )
    return report


def _run_checks(connector: Connector, report: PreflightReport) -> None:
    t0 = time.monotonic()
    facts = connector.server_facts()  # opens the connection
    report.reachable = True
    report.add(
        "reachable",
        OK,
        _("已连接 %(addr)s（%(ms)d 毫秒）")
        % {"addr": report.address, "ms": int((time.monotonic() - t0) * 1000)},
    )
    _check_version(report, facts)
    if isinstance(connector, MySQLConnector):
        _check_mysql(connector, report, facts)
    else:
        _check_postgres(connector, report, facts)
    _check_budget(report, facts["max_connections"])


def _check_version(report: PreflightReport, facts: dict[str, Any]) -> None:
    report.server_version = facts["version"]
    minimum = {"MySQL": (5, 7), "MariaDB": (10, 3), "PostgreSQL": (12,)}[facts["product"]]
    if facts["version_tuple"] and facts["version_tuple"] < minimum:
        report.add(
            "version",
            WARN,
            _("服务器版本 %(v)s 较旧（建议 %(p)s %(m)s 及以上）")
            % {
                "v": facts["version"],
                "p": facts["product"],
                "m": ".".join(str(x) for x in minimum),
            },
        )
    else:
        report.add("version", OK, _("服务器版本：%(v)s") % {"v": facts["version"]})


def _check_mysql(connector: MySQLConnector, report: PreflightReport, facts: dict) -> None:
    report.charset = facts["charset"]
    if facts["charset"].lower() == "utf8mb4":
        report.add("charset", OK, _("服务器字符集：utf8mb4"))
    else:
        report.add(
            "charset",
            WARN,
            _("服务器默认字符集为 %(c)s；新建的数据库会明确使用 utf8mb4") % {"c": facts["charset"]},
        )
    grants = connector.grants()
    for finding in mysql_grant_findings(grants):
        report.add(*finding)
    limit = _mysql_user_limit(grants) or facts["max_user_connections"]
    if limit and limit < report.max_pool:
        report.add(
            "account_connection_limit",
            ERROR,
            _("账号最多只能建立 %(l)d 个连接，小于最大连接数 %(m)d")
            % {"l": limit, "m": report.max_pool},
        )
    exists, tables, charset = connector.database_state(report.database)
    _database_findings(report, exists, tables, charset, wanted="utf8mb4")


def mysql_grant_findings(lines: list[str]) -> list[tuple[str, str, str]]:
    """Judge SHOW GRANTS output: refuse global privileges (ON *.* beyond USAGE), SUPER,
    GRANT OPTION and privileges on system schemas; warn about PROXY. Lines are never
    echoed (they may hold the password hash); privilege names are."""
    findings: list[tuple[str, str, str]] = []
    global_privs: list[str] = []
    system: list[str] = []
    grant_option = False
    proxy = False
    unreadable_roles: list[str] = []
    for line in lines:
        if line.startswith("-- ROLE-UNREADABLE "):
            unreadable_roles.append(line.split(" ", 2)[2])
            continue
        upper = line.upper()
        if re.search(r"\bWITH\b.*\bGRANT\s+OPTION\b", upper):
            grant_option = True
        m = re.match(r"^GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+", line, re.I | re.S)
        if not m:
            continue
        privs, target = m.group(1).strip(), m.group(2).strip()
        if privs.upper().startswith("PROXY"):
            proxy = True
            continue
        target = re.sub(r"^(PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE)\s+", "", target, flags=re.I)
        schema = target.split(".")[0].strip("`'\"")
        if target.replace("`", "") == "*.*":
            if privs.upper() != "USAGE":
                global_privs.extend(p.strip() for p in privs.split(",") if p.strip())
        elif schema.replace("\\", "").lower() in MYSQL_SYSTEM_SCHEMAS:
            system.append(schema.replace("\\", ""))
    if global_privs:
        names = "、".join(dict.fromkeys(global_privs))
        if len(names) > 120:
            names = names[:120] + "…"
        has_super = any(p.upper() in ("SUPER", "ALL", "ALL PRIVILEGES") for p in global_privs)
        findings.append(
            (
                "global_privileges",
                ERROR,
                _("账号拥有全局权限（ON *.*：%(p)s）%(s)s，请只授予该客户数据库的权限")
                % {"p": names, "s": _("，含 SUPER") if has_super else ""},
            )
        )
    if grant_option:
        findings.append(
            (
                "grant_option",
                ERROR,
                _("账号拥有 GRANT OPTION（可把权限转授他人），请去掉 WITH GRANT OPTION"),
            )
        )
    if system:
        findings.append(
            (
                "system_schema",
                ERROR,
                _("账号拥有系统库或全部库的权限（%(s)s），请只授予该客户数据库的权限")
                % {"s": "、".join(dict.fromkeys(system))},
            )
        )
    if proxy:
        findings.append(("proxy", WARN, _("账号拥有 PROXY 权限，可以代理其他账号，建议收回")))
    if unreadable_roles:
        findings.append(
            (
                "roles_unchecked",
                WARN,
                _("无法读取账号所属角色 %(r)s 的权限，请人工确认")
                % {"r": "、".join(unreadable_roles)},
            )
        )
    if not findings:
        findings.append(
            ("privileges", OK, _("账号权限：只有数据库级授权，无全局权限、SUPER 或 GRANT OPTION"))
        )
    return findings


def _mysql_user_limit(lines: list[str]) -> int:
    for line in lines:
        m = re.search(r"MAX_USER_CONNECTIONS\s+(\d+)", line, re.I)
        if m and int(m.group(1)) > 0:
            return int(m.group(1))
    return 0


def pg_role_findings(roles: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Judge the account's role attributes and memberships: refuse SUPERUSER, CREATEROLE,
    REPLICATION and the predefined roles that reach every database or the server's files
    (held directly or through a role the account can SET ROLE to); warn on BYPASSRLS."""
    me = next((r for r in roles if r["is_self"]), None) or {}
    if me.get("super"):
        # A superuser is a member of every role; one finding says it all.
        return [("superuser", ERROR, _("账号是超级用户（SUPERUSER），请改用普通账号"))]
    findings: list[tuple[str, str, str]] = []

    def holders(flag: str) -> str:
        return "、".join(r["name"] for r in roles if r[flag])

    if any(r["super"] for r in roles):
        findings.append(
            (
                "superuser",
                ERROR,
                _("账号属于超级用户角色（%(r)s），可切换为超级用户，请收回")
                % {"r": holders("super")},
            )
        )
    if any(r["createrole"] for r in roles):
        findings.append(
            (
                "createrole",
                ERROR,
                _("账号拥有 CREATEROLE（可创建和修改其他账号）：%(r)s，请收回")
                % {"r": holders("createrole")},
            )
        )
    if any(r["replication"] for r in roles):
        findings.append(
            (
                "replication",
                ERROR,
                _("账号拥有 REPLICATION（可读取整个实例的数据）：%(r)s，请收回")
                % {"r": holders("replication")},
            )
        )
    dangerous = [r["name"] for r in roles if r["name"] in PG_DANGEROUS_ROLES]
    if dangerous:
        findings.append(
            (
                "predefined_roles",
                ERROR,
                _("账号属于可访问全部数据库或服务器文件的预置角色：%(r)s，请收回")
                % {"r": "、".join(dangerous)},
            )
        )
    if any(r["bypassrls"] for r in roles):
        # Tenant databases do not rely on row-level security, so this is a warning.
        findings.append(
            (
                "bypassrls",
                WARN,
                _("账号拥有 BYPASSRLS（可绕过行级安全策略）；租户库不依赖行级安全，建议收回"),
            )
        )
    if not any(level == ERROR for _c, level, _m in findings):
        findings.append(("privileges", OK, _("账号权限：非超级用户，无 CREATEROLE、REPLICATION")))
    return findings


def _check_postgres(connector: PostgresConnector, report: PreflightReport, facts: dict) -> None:
    report.charset = facts["charset"]
    if facts["charset"].upper() in ("UTF8", "UTF-8"):
        report.add("charset", OK, _("服务器字符集：UTF8"))
    else:
        report.add(
            "charset",
            WARN,
            _("服务器默认编码为 %(c)s；新建的数据库会明确使用 UTF8") % {"c": facts["charset"]},
        )
    roles = connector.roles()
    me = next((r for r in roles if r["is_self"]), None) or {}
    for code, level, message in pg_role_findings(roles):
        report.add(code, level, message)
    limit = -1 if me.get("connlimit") is None else int(me["connlimit"])
    if 0 <= limit < report.max_pool:
        report.add(
            "account_connection_limit",
            ERROR,
            _("账号最多只能建立 %(l)d 个连接（CONNECTION LIMIT），小于最大连接数 %(m)d")
            % {"l": limit, "m": report.max_pool},
        )
    try:
        exists, tables, charset = connector.database_state(report.database)
    except TenantDBError as exc:
        report.database_exists = True
        report.add(exc.code, ERROR, exc.message)
        return
    if not exists and not me.get("createdb"):
        report.add(
            "createdb",
            ERROR,
            _("数据库 %(d)s 不存在，账号需要 CREATEDB 权限才能创建它") % {"d": report.database},
        )
    _database_findings(report, exists, tables, charset, wanted="UTF8")


def _database_findings(
    report: PreflightReport, exists: bool, tables: int, charset: str, *, wanted: str
) -> None:
    report.database_exists = exists
    report.database_tables = tables if exists else 0
    name = report.database
    if not exists:
        report.add(
            "database",
            OK,
            _("数据库 %(d)s 尚不存在，保存时创建（%(c)s）") % {"d": name, "c": wanted},
        )
        return
    if tables:
        report.add(
            "database_not_empty",
            ERROR,
            _("数据库 %(d)s 已存在且有 %(n)d 张表，不能用作新客户的数据库")
            % {"d": name, "n": tables},
        )
        return
    if charset.replace("-", "").lower() != wanted.replace("-", "").lower():
        report.add(
            "database_charset",
            ERROR,
            _("已存在的数据库 %(d)s 字符集为 %(c)s，应为 %(w)s")
            % {"d": name, "c": charset, "w": wanted},
        )
        return
    report.add(
        "database",
        WARN,
        _("数据库 %(d)s 已存在且为空，将直接使用（删除数据源时不会删除该库）") % {"d": name},
    )


def _check_budget(report: PreflightReport, server_max: int) -> None:
    report.server_max_connections = server_max
    total = report.pools_configured + report.max_pool
    values = {
        "s": server_max,
        "c": report.pools_configured,
        "m": report.max_pool,
        "t": total,
        "addr": report.address,
    }
    if total > server_max:
        report.add(
            "connection_budget",
            ERROR,
            _(
                "连接数超出预算：%(addr)s 可用连接数 %(s)d，已配置的连接池上限合计 %(c)d，"
                "加上本数据源 %(m)d 共 %(t)d"
            )
            % values,
        )
    else:
        report.add(
            "connection_budget",
            OK,
            _("连接数预算：已配置 %(c)d + 本数据源 %(m)d = %(t)d，服务器可用 %(s)d") % values,
        )


# --- probe ---------------------------------------------------------------------------------


def probe(datasource: Any) -> ProbeResult:
    """Which tables of the tenant database hold rows (``EXISTS``-style ``LIMIT 1`` per
    table, not statistics) and how many communities are online. Raises TenantDBError
    when the server cannot be asked."""
    target = Target.of(datasource)
    with connector_for(target) as connector:
        return connector.probe(target.database)
