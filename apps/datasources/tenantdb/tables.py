"""清空数据表 on the tenant server: list a tenant's business tables with their rows and
foreign keys, keep the chosen tables' rows in backup tables and clear them in one
transaction, put them back, drop the backups.

The backups are tables beside the originals (``hgj_bak_<clearing>_<n>``, same database and
schema), so the rows never leave the tenant's server and keep their exact types; listing
and probing leave them out. Clearing is one transaction: the chosen tables are locked
against writes, copied, counted against the copy and emptied — a failure (a lost
connection, a copy that does not match) rolls it all back and drops the copies.

MySQL/MariaDB: the copies are created first (``CREATE TABLE … LIKE``, DDL commits on its
own); then, in one transaction, ``SELECT COUNT(*) … FOR UPDATE`` locks every row and gap,
``INSERT … SELECT`` copies, ``DELETE`` clears with foreign-key checks off for the session
(the caller has refused a choice that a table left out still references). PostgreSQL: all
of it in one transaction — ``CREATE TABLE … (LIKE …)``, ``LOCK TABLE … IN SHARE ROW
EXCLUSIVE MODE``, ``INSERT … SELECT``, one ``TRUNCATE`` of every chosen table (which also
handles tables that reference each other).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .connector import Connector, _pg_label
from .values import MYSQL, VERIFY_TABLE_PREFIX, TenantDBError, _ident_ok

BACKUP_PREFIX = "hgj_bak_"


@dataclass(frozen=True)
class TableInfo:
    """A business table: its label (``name``, or ``schema.name`` outside PostgreSQL's
    ``public``), exact row count, the chosen-set-relevant foreign keys."""

    label: str
    rows: int
    references: tuple[str, ...] = ()  # tables this one points to
    referenced_by: tuple[str, ...] = ()  # tables pointing to this one


@dataclass
class Cleared:
    rows: dict[str, int] = field(default_factory=dict)  # label → rows kept and cleared


def backup_name(clearing_id: int, index: int) -> str:
    return _ident_ok(f"{BACKUP_PREFIX}{int(clearing_id)}_{int(index)}")


def platform_table(name: str) -> bool:
    """Tables the platform keeps in a tenant database and never offers to clear: its
    bookkeeping (``schema_version`` …), backups and verification tables."""
    lowered = name.lower()
    metadata = {t.lower() for t in settings.TENANT_METADATA_TABLES}
    return (
        lowered in metadata
        or lowered.startswith(BACKUP_PREFIX)
        or lowered.startswith(VERIFY_TABLE_PREFIX)
    )


def parents_first(labels: list[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """``labels`` ordered so that a table comes after the tables it references (edges are
    (child, parent)); a cycle keeps the remaining tables in their given order."""
    chosen = set(labels)
    parents = {label: set() for label in labels}
    for child, parent in edges:
        if child in chosen and parent in chosen and child != parent:
            parents[child].add(parent)
    ordered: list[str] = []
    remaining = list(labels)
    while remaining:
        ready = [t for t in remaining if not (parents[t] - set(ordered))]
        if not ready:  # a cycle: give up ordering what is left
            ordered.extend(remaining)
            break
        ordered.extend(ready)
        remaining = [t for t in remaining if t not in ready]
    return ordered


class TableOps:
    """The operations for one connector (see ``tables_for``)."""

    def __init__(self, connector: Any) -> None:
        self.c = connector

    def tables(self, database: str) -> list[TableInfo]:
        raise NotImplementedError

    def clear(self, database: str, backups: dict[str, str]) -> Cleared:
        """Copy each table of ``backups`` (label → backup name) into its backup and clear
        it, in one transaction. Raises TenantDBError, leaving every table as it was."""
        raise NotImplementedError

    def restore(self, database: str, backups: dict[str, str]) -> dict[str, int]:
        """Put the backed-up rows back (one transaction), then drop the backups."""
        raise NotImplementedError

    def drop_backups(self, database: str, backups: dict[str, str]) -> None:
        raise NotImplementedError

    @staticmethod
    def _infos(counts: dict[str, int], edges: set[tuple[str, str]]) -> list[TableInfo]:
        return [
            TableInfo(
                label,
                rows,
                tuple(sorted({p for c, p in edges if c == label and p != label})),
                tuple(sorted({c for c, p in edges if p == label and c != label})),
            )
            for label, rows in sorted(counts.items())
        ]

    @staticmethod
    def _mismatch(label: str, expected: int, got: int) -> TenantDBError:
        return TenantDBError(
            "clear_mismatch",
            _("表 %(t)s 的备份行数（%(b)d）与原表（%(a)d）不一致，已取消，所有表保持原样")
            % {"t": label, "a": expected, "b": got},
        )


class MySQLTables(TableOps):
    def _db(self, database: str) -> str:
        return self.c.quote(_ident_ok(database))

    def _names(self, database: str) -> list[str]:
        return [
            name
            for name, kind in self.c.objects(database)
            if kind == "table" and not platform_table(name)
        ]

    def _edges(self, database: str) -> set[tuple[str, str]]:
        rows = self.c.query(
            "SELECT DISTINCT TABLE_NAME, REFERENCED_TABLE_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_SCHEMA = %s "
            "AND REFERENCED_TABLE_NAME IS NOT NULL",
            [database, database],
            action=_("读取外键"),
        )
        return {(str(r[0]), str(r[1])) for r in rows}

    def _count_all(self, database: str, names: list[str]) -> dict[str, int]:
        db = self._db(database)
        counts: dict[str, int] = {}
        for start in range(0, len(names), 50):
            chunk = names[start : start + 50]
            sql = " UNION ALL ".join(
                f"(SELECT %s, COUNT(*) FROM {db}.{self.c.quote(t).replace('%', '%%')})"
                for t in chunk
            )
            counts.update(
                {str(r[0]): int(r[1]) for r in self.c.query(sql, chunk, action=_("统计行数"))}
            )
        return counts

    def tables(self, database: str) -> list[TableInfo]:
        names = self._names(database)
        return self._infos(self._count_all(database, names), self._edges(database))

    def _columns(self, database: str, table: str) -> str:
        rows = self.c.query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "AND EXTRA NOT LIKE '%%VIRTUAL GENERATED%%' "
            "AND EXTRA NOT LIKE '%%STORED GENERATED%%' "
            "AND EXTRA NOT LIKE '%%PERSISTENT GENERATED%%' ORDER BY ORDINAL_POSITION",
            [database, table],
            action=_("读取列"),
        )
        return ", ".join(self.c.quote(str(r[0])) for r in rows)

    def _affected(self, sql: str, action: str) -> int:
        self.c.query(sql, action=action)
        return int(self.c.server.affected_rows())

    def clear(self, database: str, backups: dict[str, str]) -> Cleared:
        db = self._db(database)
        created: dict[str, str] = {}
        try:
            for label, backup in backups.items():
                self.c.query(
                    f"CREATE TABLE {db}.{self.c.quote(backup)} LIKE {db}.{self.c.quote(label)}",
                    action=_("创建备份表"),
                )
                created[label] = backup
            columns = {label: self._columns(database, label) for label in backups}
            result = Cleared()
            self.c.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", action="")
            self.c.query("START TRANSACTION", action=_("开始事务"))
            try:
                self.c.query("SET FOREIGN_KEY_CHECKS = 0", action="")
                for label, backup in backups.items():
                    table = f"{db}.{self.c.quote(label)}"
                    rows = int(
                        self.c.query(
                            f"SELECT COUNT(*) FROM {table} FOR UPDATE", action=_("锁定表")
                        )[0][0]
                    )
                    copied = self._affected(
                        f"INSERT INTO {db}.{self.c.quote(backup)} ({columns[label]}) "
                        f"SELECT {columns[label]} FROM {table}",
                        _("备份表 %(t)s") % {"t": label},
                    )
                    if copied != rows:
                        raise self._mismatch(label, rows, copied)
                    result.rows[label] = rows
                for label in backups:
                    deleted = self._affected(
                        f"DELETE FROM {db}.{self.c.quote(label)}",
                        _("清空表 %(t)s") % {"t": label},
                    )
                    if deleted != result.rows[label]:
                        raise self._mismatch(label, result.rows[label], deleted)
                self.c.query("COMMIT", action=_("提交"))
            except BaseException:
                with contextlib.suppress(Exception):
                    self.c.query("ROLLBACK", action="")
                raise
            finally:
                with contextlib.suppress(Exception):
                    self.c.query("SET FOREIGN_KEY_CHECKS = 1", action="")
        except BaseException:
            with contextlib.suppress(Exception):
                self.drop_backups(database, created)
            raise
        return result

    def restore(self, database: str, backups: dict[str, str]) -> dict[str, int]:
        db = self._db(database)
        columns = {label: self._columns(database, label) for label in backups}
        restored: dict[str, int] = {}
        self.c.query("START TRANSACTION", action=_("开始事务"))
        try:
            self.c.query("SET FOREIGN_KEY_CHECKS = 0", action="")
            for label, backup in backups.items():
                restored[label] = self._affected(
                    f"INSERT INTO {db}.{self.c.quote(label)} ({columns[label]}) "
                    f"SELECT {columns[label]} FROM {db}.{self.c.quote(backup)}",
                    _("恢复表 %(t)s") % {"t": label},
                )
            self.c.query("COMMIT", action=_("提交"))
        except BaseException:
            with contextlib.suppress(Exception):
                self.c.query("ROLLBACK", action="")
            raise
        finally:
            with contextlib.suppress(Exception):
                self.c.query("SET FOREIGN_KEY_CHECKS = 1", action="")
        self.drop_backups(database, backups)
        return restored

    def drop_backups(self, database: str, backups: dict[str, str]) -> None:
        db = self._db(database)
        for backup in backups.values():
            self.c.query(
                f"DROP TABLE IF EXISTS {db}.{self.c.quote(_ident_ok(backup))}",
                action=_("删除备份表"),
            )


class PgTables(TableOps):
    def _pairs(self, database: str) -> dict[str, tuple[str, str]]:
        return {
            _pg_label(s, t): (s, t)
            for s, t in self.c.user_tables(database)
            if not platform_table(t)
        }

    def _q(self, schema: str, table: str) -> str:
        return f"{self.c.quote(schema)}.{self.c.quote(table)}"

    def _edges(self, database: str) -> set[tuple[str, str]]:
        rows = self.c.query_in(
            database,
            "SELECT cn.nspname, c.relname, pn.nspname, p.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace cn ON cn.oid = c.relnamespace "
            "JOIN pg_class p ON p.oid = k.confrelid "
            "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
            "WHERE k.contype = 'f'",
            action=_("读取外键"),
        )
        return {(_pg_label(r[0], r[1]), _pg_label(r[2], r[3])) for r in rows}

    def tables(self, database: str) -> list[TableInfo]:
        pairs = self._pairs(database)
        labels = list(pairs)
        counts: dict[str, int] = {}
        for start in range(0, len(labels), 50):
            chunk = labels[start : start + 50]
            sql = " UNION ALL ".join(
                f"(SELECT %s::text, count(*) FROM {self._q(*pairs[label]).replace('%', '%%')})"
                for label in chunk
            )
            counts.update(
                {
                    str(r[0]): int(r[1])
                    for r in self.c.query_in(database, sql, chunk, action=_("统计行数"))
                }
            )
        return self._infos(counts, self._edges(database))

    def _columns(self, database: str, schema: str, table: str) -> str:
        rows = self.c.query_in(
            database,
            "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            "ORDER BY a.attnum",
            [self._q(schema, table)],
            action=_("读取列"),
        )
        return ", ".join(self.c.quote(str(r[0])) for r in rows)

    def _locate(self, database: str, labels: Iterable[str]) -> dict[str, tuple[str, str]]:
        pairs = self._pairs(database)
        missing = [label for label in labels if label not in pairs]
        if missing:
            raise TenantDBError("table_missing", _("表 %(t)s 不存在") % {"t": "、".join(missing)})
        return pairs

    def _transaction(self, database: str, action: str, work: Any) -> Any:
        import psycopg

        conn = self.c.database_conn(database)
        try:
            with conn.transaction():
                return work(conn)
        except psycopg.Error as exc:
            raise self.c._translate(exc, action) from None

    def _exec(self, conn: Any, sql: str, action: str, params: Any = None) -> Any:
        import psycopg

        try:
            return conn.execute(sql, params)
        except psycopg.Error as exc:
            raise self.c._translate(exc, action) from None

    def clear(self, database: str, backups: dict[str, str]) -> Cleared:
        pairs = self._locate(database, backups)
        columns = {label: self._columns(database, *pairs[label]) for label in backups}
        tables = ", ".join(self._q(*pairs[label]) for label in backups)

        def work(conn: Any) -> Cleared:
            result = Cleared()
            for label, backup in backups.items():
                schema, table = pairs[label]
                self._exec(
                    conn,
                    f"CREATE TABLE {self._q(schema, backup)} (LIKE {self._q(schema, table)})",
                    _("创建备份表"),
                )
            self._exec(conn, f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE", _("锁定表"))
            for label, backup in backups.items():
                schema, table = pairs[label]
                rows = int(
                    self._exec(
                        conn, f"SELECT count(*) FROM {self._q(schema, table)}", _("统计行数")
                    ).fetchone()[0]
                )
                copied = self._exec(
                    conn,
                    f"INSERT INTO {self._q(schema, backup)} ({columns[label]}) "
                    f"SELECT {columns[label]} FROM {self._q(schema, table)}",
                    _("备份表 %(t)s") % {"t": label},
                ).rowcount
                if copied != rows:
                    raise self._mismatch(label, rows, copied)
                result.rows[label] = rows
            self._exec(conn, f"TRUNCATE {tables}", _("清空表"))
            return result

        return self._transaction(database, _("清空数据表"), work)

    def restore(self, database: str, backups: dict[str, str]) -> dict[str, int]:
        pairs = self._locate(database, backups)
        columns = {label: self._columns(database, *pairs[label]) for label in backups}
        order = parents_first(list(backups), self._edges(database))
        tables = ", ".join(self._q(*pairs[label]) for label in backups)

        def work(conn: Any) -> dict[str, int]:
            restored: dict[str, int] = {}
            self._exec(conn, f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE", _("锁定表"))
            for label in order:
                schema, table = pairs[label]
                restored[label] = self._exec(
                    conn,
                    f"INSERT INTO {self._q(schema, table)} ({columns[label]}) "
                    f"OVERRIDING SYSTEM VALUE SELECT {columns[label]} "
                    f"FROM {self._q(schema, backups[label])}",
                    _("恢复表 %(t)s") % {"t": label},
                ).rowcount
            for label in order:
                self._exec(
                    conn,
                    f"DROP TABLE {self._q(pairs[label][0], backups[label])}",
                    _("删除备份表"),
                )
            return restored

        return self._transaction(database, _("恢复数据表"), work)

    def drop_backups(self, database: str, backups: dict[str, str]) -> None:
        pairs = self._pairs(database)
        for label, backup in backups.items():
            schema = pairs.get(label, ("public", label))[0]
            self.c.query_in(
                database,
                f"DROP TABLE IF EXISTS {self._q(schema, _ident_ok(backup))}",
                action=_("删除备份表"),
            )


def tables_for(connector: Connector) -> TableOps:
    return MySQLTables(connector) if connector.db_type == MYSQL else PgTables(connector)
