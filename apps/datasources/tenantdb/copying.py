"""Copying a tenant database to another server, table by table (迁移数据源), and checking
that the copy is identical.

Only between servers of one type. The target's tables are created beforehand from the
migration files at the source's schema version; this module copies rows into them:

- MySQL/MariaDB: the source is read in one consistent snapshot (``START TRANSACTION WITH
  CONSISTENT SNAPSHOT``) through an unbuffered cursor, ``batch_size`` rows at a time, each
  batch written with one multi-row ``INSERT`` (foreign-key checks off for the target
  session: tables are copied whole, in an order that does not matter then).
- PostgreSQL: the source is read in one ``REPEATABLE READ`` snapshot with ``COPY (SELECT …)
  TO STDOUT`` and streamed into ``COPY … FROM STDIN`` on the target, tables parents first;
  identity and serial sequences are moved past the copied keys afterwards.

``checksum`` reads a table's row count and an order-independent digest computed by the
server (the same expression on both sides), so source and copy are compared without
moving the rows again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .connector import _pg_label
from .tables import parents_first, platform_table
from .values import MYSQL, _ident_ok

Progress = Callable[[str, int], None]  # (table, rows copied so far)


@dataclass(frozen=True)
class CopyTable:
    label: str
    columns: tuple[str, ...]  # insertable (not generated) columns, in order
    key: tuple[str, ...]  # primary key columns ("" when none: copied in storage order)
    rows: int  # counted when planned (the snapshot may differ a little)


def _statement_timeout_ms() -> int:
    return int(settings.TENANT_COPY_TIMEOUT * 1000)


class MySQLCopier:
    def __init__(self, connector: Any) -> None:
        self.c = connector

    def _db(self, database: str) -> str:
        return self.c.quote(_ident_ok(database))

    def plan(self, database: str) -> list[CopyTable]:
        tables = [
            name
            for name, kind in self.c.objects(database)
            if kind == "table" and not platform_table(name)
        ]
        columns: dict[str, list[str]] = {t: [] for t in tables}
        for table, column, extra in self.c.query(
            "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
            [database],
            action=_("读取列"),
        ):
            extra = str(extra or "").upper()
            generated = any(k in extra for k in ("VIRTUAL GEN", "STORED GEN", "PERSISTENT GEN"))
            if str(table) in columns and not generated:
                columns[str(table)].append(str(column))
        keys: dict[str, list[str]] = {t: [] for t in tables}
        for table, column in self.c.query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            [database],
            action=_("读取主键"),
        ):
            if str(table) in keys:
                keys[str(table)].append(str(column))
        from .tables import MySQLTables

        counts = MySQLTables(self.c)._count_all(database, tables)
        return [CopyTable(t, tuple(columns[t]), tuple(keys[t]), counts.get(t, 0)) for t in tables]

    def checksum(self, database: str, table: CopyTable) -> tuple[int, str]:
        q = self.c.quote
        parts = ", ".join(q(c) for c in table.columns)
        nulls = ", ".join(f"ISNULL({q(c)})" for c in table.columns)
        row = f"CONCAT_WS(CHAR(31), {parts}, CONCAT({nulls}))"
        count, xor, total = self.c.query(
            f"SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(LEFT(MD5({row}), 16), 16, 10) "
            f"AS UNSIGNED)), 0), COALESCE(SUM(CRC32({row})), 0) "
            f"FROM {self._db(database)}.{q(table.label)}",
            action=_("校验表 %(t)s") % {"t": table.label},
        )[0]
        return int(count), f"{int(xor):016x}-{int(total)}"

    def copy(
        self,
        source_db: str,
        target: Any,
        target_db: str,
        tables: list[CopyTable],
        *,
        batch_size: int,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Copy every table's rows from ``source_db`` (this connector) to ``target_db``
        (``target``, a MySQLConnector). Returns rows copied per table."""
        import pymysql

        src = self.c.server
        dst = target.server
        copied: dict[str, int] = {}
        q = self.c.quote
        try:
            dst.query("SET FOREIGN_KEY_CHECKS = 0")
            dst.query("SET UNIQUE_CHECKS = 0")
            src.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            src.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            for table in tables:
                cols = ", ".join(q(c) for c in table.columns)
                order = f" ORDER BY {', '.join(q(c) for c in table.key)}" if table.key else ""
                insert = (
                    f"INSERT INTO {self._db(target_db)}.{q(table.label)} ({cols}) VALUES "
                    f"({', '.join(['%s'] * len(table.columns))})"
                )
                done = 0
                reader = src.cursor(pymysql.cursors.SSCursor)
                try:
                    reader.execute(
                        f"SELECT {cols} FROM {self._db(source_db)}.{q(table.label)}{order}"
                    )
                    while True:
                        batch = reader.fetchmany(batch_size)
                        if not batch:
                            break
                        with dst.cursor() as writer:
                            writer.executemany(insert, batch)
                        done += len(batch)
                        if progress:
                            progress(table.label, done)
                finally:
                    reader.close()
                copied[table.label] = done
            src.query("COMMIT")
        except pymysql.MySQLError as exc:
            raise self.c._translate(exc, _("复制数据")) from None
        finally:
            for conn, statement in (
                (dst, "SET FOREIGN_KEY_CHECKS = 1"),
                (dst, "SET UNIQUE_CHECKS = 1"),
            ):
                with contextlib.suppress(Exception):  # a broken one closes with its connector
                    conn.query(statement)
        return copied


class PgCopier:
    def __init__(self, connector: Any) -> None:
        self.c = connector

    def _q(self, label: str) -> str:
        schema, _dot, table = label.rpartition(".")
        return f"{self.c.quote(schema or 'public')}.{self.c.quote(table)}"

    def plan(self, database: str) -> list[CopyTable]:
        pairs = [(s, t) for s, t in self.c.user_tables(database) if not platform_table(t)]
        labels = {_pg_label(s, t): (s, t) for s, t in pairs}
        columns: dict[str, list[str]] = {label: [] for label in labels}
        for schema, table, column in self.c.query_in(
            database,
            "SELECT n.nspname, c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "AND a.attgenerated = '' ORDER BY n.nspname, c.relname, a.attnum",
            action=_("读取列"),
        ):
            label = _pg_label(str(schema), str(table))
            if label in columns:
                columns[label].append(str(column))
        keys: dict[str, list[str]] = {label: [] for label in labels}
        for schema, table, column in self.c.query_in(
            database,
            "SELECT n.nspname, c.relname, a.attname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE i.indisprimary ORDER BY n.nspname, c.relname, k.ord",
            action=_("读取主键"),
        ):
            label = _pg_label(str(schema), str(table))
            if label in keys:
                keys[label].append(str(column))
        from .tables import PgTables

        counts = {t.label: t.rows for t in PgTables(self.c).tables(database)}
        edges = PgTables(self.c)._edges(database)
        ordered = parents_first(sorted(labels), edges)
        return [
            CopyTable(label, tuple(columns[label]), tuple(keys[label]), counts.get(label, 0))
            for label in ordered
        ]

    def checksum(self, database: str, table: CopyTable) -> tuple[int, str]:
        cols = ", ".join(self.c.quote(c) for c in table.columns)
        count, total, xor = self.c.query_in(
            database,
            "SELECT count(*), coalesce(sum(h), 0), coalesce(bit_xor(h), 0) FROM ("
            f"SELECT ('x' || left(md5(ROW({cols})::text), 16))::bit(64)::bigint AS h "
            f"FROM {self._q(table.label)}) AS t",
            action=_("校验表 %(t)s") % {"t": table.label},
        )[0]
        return int(count), f"{int(xor) & 0xFFFFFFFFFFFFFFFF:016x}-{int(total)}"

    def copy(
        self,
        source_db: str,
        target: Any,
        target_db: str,
        tables: list[CopyTable],
        *,
        batch_size: int,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Stream every table from ``source_db`` to ``target_db`` with COPY, parents
        first, in one snapshot of the source; then move the target's sequences past the
        copied keys. ``batch_size`` is how often progress is reported (rows)."""
        import psycopg

        src = self.c.database_conn(source_db)
        dst = target.database_conn(target_db)
        timeout = _statement_timeout_ms()
        copied: dict[str, int] = {}
        try:
            src.execute(f"SET statement_timeout = {timeout}")
            dst.execute(f"SET statement_timeout = {timeout}")
            with src.transaction():
                src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                for table in tables:
                    cols = ", ".join(self.c.quote(c) for c in table.columns)
                    order = (
                        f" ORDER BY {', '.join(self.c.quote(c) for c in table.key)}"
                        if table.key
                        else ""
                    )
                    done = reported = 0
                    with (
                        src.cursor().copy(
                            f"COPY (SELECT {cols} FROM {self._q(table.label)}{order}) TO STDOUT"
                        ) as out,
                        dst.cursor().copy(
                            f"COPY {self._q(table.label)} ({cols}) FROM STDIN"
                        ) as into,
                    ):
                        for data in out:
                            into.write(data)
                            done += bytes(data).count(b"\n")
                            if progress and done - reported >= batch_size:
                                progress(table.label, done)
                                reported = done
                    copied[table.label] = done
                    if progress:
                        progress(table.label, done)
            self._reset_sequences(dst)
        except psycopg.Error as exc:
            raise self.c._translate(exc, _("复制数据")) from None
        finally:
            restore = f"SET statement_timeout = {int(settings.TENANT_QUERY_TIMEOUT * 1000)}"
            for conn in (src, dst):
                with contextlib.suppress(Exception):  # a broken one closes with its connector
                    conn.execute(restore)
        return copied

    def _reset_sequences(self, conn: Any) -> None:
        """Identity and serial columns: their sequences continue after the copied keys."""
        rows = conn.execute(
            "SELECT n.nspname, c.relname, a.attname, "
            "pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
            "a.attname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%'"
        ).fetchall()
        for schema, table, column, sequence in rows:
            if not sequence:
                continue
            q = self.c.quote
            conn.execute(
                f"SELECT setval(%s, coalesce((SELECT max({q(column)}) FROM "
                f"{q(schema)}.{q(table)}), 0) + 1, false)",
                [sequence],
            )


def copier_for(connector: Any) -> MySQLCopier | PgCopier:
    return MySQLCopier(connector) if connector.db_type == MYSQL else PgCopier(connector)


def compare(
    source: Any, source_db: str, target: Any, target_db: str, tables: list[CopyTable]
) -> list[str]:
    """Each table's count and digest on both sides; the differences, as messages."""
    src, dst = copier_for(source), copier_for(target)
    problems = []
    for table in tables:
        a = src.checksum(source_db, table)
        b = dst.checksum(target_db, table)
        if a != b:
            problems.append(
                _("表 %(t)s 不一致：源库 %(a)d 行，新库 %(b)d 行")
                % {"t": table.label, "a": a[0], "b": b[0]}
                if a[0] != b[0]
                else _("表 %(t)s 的数据校验和不一致（%(n)d 行）") % {"t": table.label, "n": a[0]}
            )
    return problems
