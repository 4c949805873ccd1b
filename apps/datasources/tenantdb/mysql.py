"""MySQL and MariaDB through PyMySQL."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from django.utils.translation import gettext as _

from .connector import Connector, _fmt_seconds, _probe_result
from .values import (
    MYSQL,
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

# What a schema_version table from before versioning lacks.
VERSION_COLUMNS_MYSQL = (
    ("checksum", "checksum CHAR(64) NULL"),
    ("name", "name VARCHAR(200) NULL"),
    ("execution_ms", "execution_ms INT NULL"),
)


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

    def _translate(
        self, exc: Exception, action: str, elapsed: float | None = None
    ) -> TenantDBError:
        code = exc.args[0] if exc.args else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in (1044, 1142, 1227):
            what = _("权限不足")
        elif code == 1007:
            what = _("数据库已存在")
        elif code in (2013, 2006):
            limit = query_timeout()
            if elapsed is not None and elapsed < limit * 0.9:
                # Not a timeout: the server closed the connection (restart, kill, network).
                what = _("服务器在 %(t)s 秒后断开了连接") % {"t": _fmt_seconds(elapsed)}
            else:
                what = _("服务器 %(t)s 秒内没有响应") % {"t": _fmt_seconds(limit)}
        else:
            what = _("错误码 %(code)s") % {"code": code}
        detail = self._scrub(text).strip()
        message = (
            _("%(action)s失败（%(what)s）：%(detail)s")
            if detail
            else _("%(action)s失败（%(what)s）")
        ) % {"action": action, "what": what, "detail": detail}
        return TenantDBError(f"mysql_{code}", message)

    @property
    def server(self) -> Any:
        if self._server is None:
            self._server = self._connect()
        return self._server

    def query(self, sql: str, params: Sequence[Any] | None = None, *, action: str) -> list:
        import pymysql

        started = time.monotonic()
        try:
            with self.server.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise self._translate(exc, action, time.monotonic() - started) from None

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

    # schema versions (see versions.py)
    def _version_table(self, database: str) -> str:
        return f"{self.quote(_ident_ok(database))}.{self.quote(VERSION_TABLE)}"

    def _version_columns(self, database: str) -> set[str]:
        rows = self.query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            [database, VERSION_TABLE],
            action=_("读取版本记录"),
        )
        return {str(r[0]).lower() for r in rows}

    def _in_database(self, database: str, sql: str, *, action: str) -> list:
        return self.query(sql, action=action)  # the table is named with its database

    def ensure_version_table(self, database: str) -> None:
        """Create ``schema_version``, or give one from before versioning its columns."""
        table = self._version_table(database)
        columns = self._version_columns(database)
        if not columns:
            self.query(
                f"CREATE TABLE {table} (version VARCHAR(32) NOT NULL PRIMARY KEY, "
                "checksum CHAR(64) NULL, name VARCHAR(200) NULL, execution_ms INT NULL, "
                "applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) "
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
                action=_("创建版本记录表"),
            )
            return
        for column, ddl in VERSION_COLUMNS_MYSQL:
            if column not in columns:
                self.query(f"ALTER TABLE {table} ADD COLUMN {ddl}", action=_("补充版本记录表"))

    def record_version(self, database: str, migration: Migration, ms: int) -> None:
        self.query(
            f"INSERT INTO {self._version_table(database)} (version, checksum, name, execution_ms) "
            "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE checksum = VALUES(checksum), "
            "name = VALUES(name), execution_ms = VALUES(execution_ms)",
            [migration.version, migration.checksum, migration.name, ms],
            action=_("记录版本 %(v)s") % {"v": migration.version},
        )

    def apply_migration(self, database: str, migration: Migration) -> int:
        """Run one migration file and record it; milliseconds taken. MySQL commits DDL
        statement by statement: a failure leaves the statements before it applied (and
        the version unrecorded)."""
        started = time.monotonic()
        self.run_script(database, migration.statements)
        ms = int((time.monotonic() - started) * 1000)
        self.record_version(database, migration, ms)
        return ms

    def adopt(self, database: str, files: list[Migration]) -> int:
        """Fill in the checksums of versions recorded before versioning; how many."""
        self.ensure_version_table(database)
        adopted = 0
        for migration in files:
            self.query(
                f"UPDATE {self._version_table(database)} SET checksum = %s, name = %s "
                "WHERE version = %s AND checksum IS NULL",
                [migration.checksum, migration.name, migration.version],
                action=_("补充版本记录"),
            )
            adopted += int(self.server.affected_rows())
        return adopted

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
