"""PostgreSQL through psycopg 3."""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .connector import Connector, _fmt_seconds, _pct, _pg_label, _probe_result
from .values import (
    POSTGRESQL,
    VERIFY_TABLE_PREFIX,
    ProbeResult,
    TenantDBError,
    _ident_ok,
    _version_tuple,
    connect_timeout,
    query_timeout,
)
from .versions import VERSION_TABLE, Migration

logger = logging.getLogger(__name__)


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

    # schema versions (see versions.py)
    def _version_columns(self, database: str) -> set[str]:
        rows = self.query_in(
            database,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            [VERSION_TABLE],
            action=_("读取版本记录"),
        )
        return {str(r[0]).lower() for r in rows}

    def _version_table(self, database: str) -> str:
        return VERSION_TABLE  # a connection serves one database

    def _in_database(self, database: str, sql: str, *, action: str) -> list:
        return self.query_in(database, sql, action=action)

    def ensure_version_table(self, database: str) -> None:
        """Create ``schema_version``, or give one from before versioning its columns."""
        self.query_in(
            database,
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version varchar(32) PRIMARY KEY, "
            "checksum char(64), name varchar(200), execution_ms integer, "
            "applied_at timestamptz NOT NULL DEFAULT now())",
            action=_("创建版本记录表"),
        )
        for ddl in ("checksum char(64)", "name varchar(200)", "execution_ms integer"):
            self.query_in(
                database,
                f"ALTER TABLE {VERSION_TABLE} ADD COLUMN IF NOT EXISTS {ddl}",
                action=_("补充版本记录表"),
            )

    def _record_sql(self) -> str:
        return (
            f"INSERT INTO {VERSION_TABLE} (version, checksum, name, execution_ms) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO UPDATE SET "
            "checksum = EXCLUDED.checksum, name = EXCLUDED.name, "
            "execution_ms = EXCLUDED.execution_ms"
        )

    def apply_migration(self, database: str, migration: Migration) -> int:
        """Run one migration file and record it in one transaction (PostgreSQL DDL is
        transactional: a failure leaves nothing of the file behind); milliseconds taken."""
        import psycopg

        conn = self.database_conn(database)
        started = time.monotonic()
        try:
            with conn.transaction(), conn.cursor() as cur:
                for filename, number, statement in migration.statements:
                    try:
                        cur.execute(statement)
                    except psycopg.Error as exc:
                        raise self._translate(
                            exc,
                            _("执行 %(f)s 第 %(i)d 条语句") % {"f": filename, "i": number},
                        ) from None
                ms = int((time.monotonic() - started) * 1000)
                cur.execute(
                    self._record_sql(),
                    [migration.version, migration.checksum, migration.name, ms],
                )
        except psycopg.Error as exc:
            raise self._translate(exc, _("提交迁移 %(v)s") % {"v": migration.version}) from None
        return ms

    def adopt(self, database: str, files: list[Migration]) -> int:
        """Fill in the checksums of versions recorded before versioning; how many."""
        self.ensure_version_table(database)
        adopted = 0
        for migration in files:
            rows = self.query_in(
                database,
                f"UPDATE {VERSION_TABLE} SET checksum = %s, name = %s "
                "WHERE version = %s AND checksum IS NULL RETURNING version",
                [migration.checksum, migration.name, migration.version],
                action=_("补充版本记录"),
            )
            adopted += len(rows)
        return adopted

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
