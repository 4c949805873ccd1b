"""Substring search on names through an index, on every database the platform runs on.

One interface — ``contains(model, columns, text, index=…)``, a condition meaning "one of
these columns contains ``text``, ignoring case", exactly what ``icontains`` means — and
behind it each backend's own index, created by the app's migration (``index_operation``):

- **PostgreSQL**: ``pg_trgm`` GIN indexes on ``UPPER(column)``, the expression Django's
  ``icontains`` compares, so the planner serves the plain condition from them; pg_trgm
  finds no trigram in two characters, so each column also has a GIN index of its bigrams
  (``hgj_bigrams(UPPER(column))``), named in the condition for two-character text.
- **SQLite**: an FTS5 table with the ``trigram`` tokenizer over the columns, kept by
  triggers; the condition reads candidate rows from it and keeps the ``LIKE`` for exactness.
  FTS5 finds no trigram in two characters, so the gram table below holds each row's
  two-character grams too (written by triggers), read by equality.
- **MySQL and MariaDB**: neither has an n-gram full-text parser everywhere (MariaDB has
  none), so the platform keeps its own inverted index (``core_searchgram``: index, gram,
  row), written by triggers on the table — every write reaches it, bulk inserts and
  ``UPDATE``s included. A row's grams are the three characters starting at each position
  but the last (so the final one is two characters long): a text of three characters or
  more is a row holding each of its trigrams (one join per trigram, so the database starts
  from the rarest), and a two-character text is a row with a gram *starting* with it (one
  index range). The ``LIKE`` then confirms the candidates.

A single character, or text with letters the gram index may fold differently from the
column's collation (accented Latin, other scripts), is matched by the plain ``LIKE`` — the
same rows, found by reading the table. The results are always those of ``icontains``.

Whatever the backend, the index is first asked how many rows it offers (``candidates``):
at ``LIST_COUNT_CAP`` the text is common, and the list reads the table in its own order.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, migrations, router
from django.db.models import Func, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Upper

logger = logging.getLogger(__name__)

GRAM_TABLE = "core_searchgram"
SEQ_TABLE = "core_searchseq"  # SQLite: the numbers 1…MAX_POSITIONS
MAX_POSITIONS = 1000  # the longest text indexed (the columns joined) is shorter
MAX_GRAMS = 8  # a longer text is narrowed by eight of its grams; the LIKE does the rest
PROCEDURE = "hgj_index_grams"
BIGRAMS = "hgj_bigrams"  # PostgreSQL: a text's two-character substrings, for a GIN index


def plain(columns: tuple[str, ...], text: str) -> Q:
    condition = Q()
    for column in columns:
        condition |= Q(**{f"{column}__icontains": text})
    return condition


def _subquery(model: type, condition: Q) -> RawSQL:
    """The primary keys of the rows meeting ``condition``, as SQL to join or to probe."""
    qs = model._base_manager.order_by().filter(condition).values("pk")
    return RawSQL(*qs.query.sql_with_params())


def fts_table(table: str) -> str:
    return f"{table}_search"


def _gram_safe(text: str) -> bool:
    """Characters whose lower case is the same in Python and in MySQL's collations: ASCII
    and CJK ideographs (and their punctuation), nothing a collation folds by accent."""
    for char in text:
        if char.isascii():
            continue
        if unicodedata.category(char) in {"Lo", "Nd", "Po", "Ps", "Pe", "Zs"} and (
            not unicodedata.decomposition(char)
        ):
            continue
        return False
    return True


def grams(text: str) -> list[str]:
    """The trigrams of a text of three characters or more, as the gram table holds them."""
    text = text.lower()
    return sorted({text[i : i + 3] for i in range(len(text) - 2)})


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


_fts_tables: dict[tuple[str, str], bool] = {}


def _has_fts(connection: Any, table: str) -> bool:
    """Whether the FTS5 table exists (an SQLite built without the trigram tokenizer gets
    none from the migration, and its searches read the table)."""
    key = (connection.alias, table)
    if key not in _fts_tables:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [fts_table(table)]
            )
            _fts_tables[key] = cursor.fetchone() is not None
    return _fts_tables[key]


def contains(model: type, columns: tuple[str, ...], text: str, *, index: int) -> Q:
    """Rows where one of ``columns`` contains ``text`` ignoring case (see the module);
    ``index`` is the number the app's migration gave this index."""
    condition = plain(columns, text)
    connection = connections[router.db_for_read(model)]
    if connection.vendor == "postgresql":
        # The trigram indexes serve the plain condition; two characters, the bigram indexes,
        # named in the same query so the planner reads them and the table's order alike.
        if len(text) == 2 and candidates(model, columns, text, index=index) is not None:
            return _bigram_condition(columns, text) & condition
        return condition
    found = candidates(model, columns, text, index=index)
    if found is None:
        return condition
    return Q(**{f"{model._meta.pk.name}__in": found}) & condition


def _bigram_condition(columns: tuple[str, ...], text: str) -> Q:
    from django.contrib.postgres.fields import ArrayField
    from django.contrib.postgres.lookups import DataContains

    array = ArrayField(TextField())
    condition = Q()
    for column in columns:
        bigrams = Func(Upper(column), function=BIGRAMS, output_field=array)
        condition |= Q(DataContains(bigrams, Value([text.upper()], output_field=array)))
    return condition


def candidates(
    model: type, columns: tuple[str, ...], text: str, *, index: int, standalone: bool = False
) -> RawSQL | None:
    """The primary keys the index offers for ``text`` (a superset of the rows containing
    it, to be confirmed by ``plain``), or ``None`` when the index cannot serve the text —
    or when it offers ``LIST_COUNT_CAP`` rows or more: then matching rows are common, a
    list finds its page within the first rows it reads, and the index would only make the
    database collect every one of them first. PostgreSQL's trigram indexes serve ``plain``
    itself; ``standalone`` asks for their subquery all the same (to be joined in a
    ``UNION``)."""
    connection = connections[router.db_for_read(model)]
    found = _index_query(connection, model, columns, text, index=index, standalone=standalone)
    if found is None:
        return None
    cap = settings.LIST_COUNT_CAP
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The planner's estimate from the index's statistics: counting would read the
            # table for every candidate, the very cost being avoided.
            cursor.execute(f"EXPLAIN (FORMAT JSON) {found.sql}", found.params)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            offered = plan[0]["Plan"]["Plan Rows"]
        else:
            cursor.execute(
                f"SELECT COUNT(*) FROM ({found.sql} LIMIT {int(cap)}) AS probe", found.params
            )
            (offered,) = cursor.fetchone()
    return None if offered >= cap else found


def _index_query(
    connection: Any,
    model: type,
    columns: tuple[str, ...],
    text: str,
    *,
    index: int,
    standalone: bool,
) -> RawSQL | None:
    table = model._meta.db_table
    if connection.vendor == "postgresql" and len(text) >= 3 and standalone:
        return _subquery(model, plain(columns, text))
    if connection.vendor == "sqlite" and len(text) == 2 and _gram_safe(text):
        return RawSQL(
            f"SELECT row_id FROM {GRAM_TABLE} WHERE idx = %s AND gram = %s",
            [index, text.lower()],
        )
    if connection.vendor == "sqlite" and len(text) >= 3 and _has_fts(connection, table):
        quoted = text.replace('"', '""')
        match = "{" + " ".join(columns) + "} : " + f'"{quoted}"'
        return RawSQL(
            f'SELECT rowid FROM "{fts_table(table)}" WHERE "{fts_table(table)}" MATCH %s',
            [match],
        )
    if connection.vendor == "postgresql" and len(text) == 2 and _gram_safe(text):
        # pg_trgm finds no trigram in two characters: the columns' bigram GIN indexes.
        return _subquery(model, _bigram_condition(columns, text))
    if connection.vendor == "mysql" and len(text) >= 2 and _gram_safe(text):
        if len(text) == 2:  # a gram starting with it: one index range
            return RawSQL(
                f"SELECT row_id FROM {GRAM_TABLE} WHERE idx = %s AND gram LIKE %s",
                [index, _like_prefix(text.lower())],
            )
        # A row holding every trigram: one index range per trigram, joined on the row, so
        # the database starts from the rarest and probes the others by primary key.
        wanted = grams(text)[:MAX_GRAMS]
        joins = " ".join(
            f"JOIN {GRAM_TABLE} g{k} ON g{k}.idx = g0.idx AND g{k}.gram = %s "
            f"AND g{k}.row_id = g0.row_id"
            for k in range(1, len(wanted))
        )
        return RawSQL(
            f"SELECT g0.row_id FROM {GRAM_TABLE} g0 {joins} WHERE g0.idx = %s AND g0.gram = %s",
            [*wanted[1:], index, wanted[0]],
        )
    return None


def union(found: RawSQL, *querysets: QuerySet) -> RawSQL:
    """The index's candidates together with other primary keys (each queryset selecting
    one column, unordered): one set, for one ``pk__in``."""
    parts, params = [found.sql], [*found.params]
    for qs in querysets:
        sql, more = qs.query.sql_with_params()
        parts.append(sql)
        params.extend(more)
    # A derived table: MySQL and MariaDB run an ``IN (… UNION …)`` once per outer row.
    return RawSQL(f"SELECT * FROM ({' UNION '.join(parts)}) AS found", params)


# --- Migrations --------------------------------------------------------------------------------


def _quoter(connection: Any) -> Callable[[str], str]:
    return connection.ops.quote_name


def _create(schema_editor: Any, table: str, columns: tuple[str, ...], index: int) -> None:
    connection = schema_editor.connection
    q = _quoter(connection)
    if connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in columns:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {q(f'{table}_{column}_trgm')} ON {q(table)} "
                f"USING gin ((UPPER(({q(column)})::text)) gin_trgm_ops)"
            )
        _bigram_indexes(schema_editor, table, columns)
    elif connection.vendor == "sqlite":
        _sqlite_bigrams(schema_editor, table, columns, index)
        fts = fts_table(table)
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        try:
            schema_editor.execute(
                f"CREATE VIRTUAL TABLE {q(fts)} USING fts5({cols}, content={q(table)}, "
                "content_rowid='id', tokenize='trigram')"
            )
        except DatabaseError:  # an SQLite without FTS5 or its trigram tokenizer (< 3.34)
            logger.warning("SQLite 无 FTS5 trigram：%s 的名称搜索将逐行匹配", table)
            return
        schema_editor.execute(
            f"CREATE TRIGGER {q(fts + '_ai')} AFTER INSERT ON {q(table)} BEGIN "
            f"INSERT INTO {q(fts)}(rowid, {cols}) VALUES (new.id, {new}); END"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {q(fts + '_ad')} AFTER DELETE ON {q(table)} BEGIN "
            f"INSERT INTO {q(fts)}({q(fts)}, rowid, {cols}) VALUES ('delete', old.id, {old}); END"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {q(fts + '_au')} AFTER UPDATE OF {cols} ON {q(table)} BEGIN "
            f"INSERT INTO {q(fts)}({q(fts)}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
            f"INSERT INTO {q(fts)}(rowid, {cols}) VALUES (new.id, {new}); END"
        )
        schema_editor.execute(f"INSERT INTO {q(fts)}({q(fts)}) VALUES ('rebuild')")
    elif connection.vendor == "mysql":
        text = "CONCAT_WS(' ', " + ", ".join(f"NEW.{q(c)}" for c in columns) + ")"
        changed = " OR ".join(f"NOT (OLD.{q(c)} <=> NEW.{q(c)})" for c in columns)
        for event, body in (
            ("INSERT", f"CALL {PROCEDURE}({index}, NEW.id, {text})"),
            ("UPDATE", f"IF {changed} THEN CALL {PROCEDURE}({index}, NEW.id, {text}); END IF"),
        ):
            schema_editor.execute(
                f"CREATE TRIGGER {q(f'{table}_grams_{event.lower()}')} AFTER {event} ON "
                f"{q(table)} FOR EACH ROW BEGIN {body}; END"
            )
        schema_editor.execute(
            f"CREATE TRIGGER {q(f'{table}_grams_delete')} AFTER DELETE ON {q(table)} "
            f"FOR EACH ROW DELETE FROM {GRAM_TABLE} WHERE idx = {index} AND row_id = OLD.id"
        )
        _backfill(schema_editor, table, columns, index)


def _sqlite_bigrams(schema_editor: Any, table: str, columns: tuple[str, ...], index: int) -> None:
    """SQLite: the two-character grams of each row in the gram table (FTS5's trigrams
    cannot serve two characters), kept by triggers; ``IF NOT EXISTS`` so an upgrade may run
    it again."""
    q = _quoter(schema_editor.connection)

    def text(row: str) -> str:
        return "LOWER(" + " || ' ' || ".join(f"COALESCE({row}.{q(c)}, '')" for c in columns) + ")"

    def insert(row: str, source: str) -> str:
        return (
            f"INSERT OR IGNORE INTO {GRAM_TABLE} (idx, gram, row_id) "
            f"SELECT {index}, SUBSTR({text(row)}, s.i, 2), {row}.id FROM {source} "
            f"WHERE s.i < LENGTH({text(row)})"
        )

    remove = f"DELETE FROM {GRAM_TABLE} WHERE idx = {index} AND row_id = old.id"
    cols = ", ".join(q(c) for c in columns)
    for suffix, event, body in (
        ("ai", "INSERT", insert("new", f"{SEQ_TABLE} s")),
        ("au", f"UPDATE OF {cols}", f"{remove}; {insert('new', f'{SEQ_TABLE} s')}"),
        ("ad", "DELETE", remove),
    ):
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {q(f'{table}_grams_{suffix}')} AFTER {event} ON "
            f"{q(table)} BEGIN {body}; END"
        )
    schema_editor.execute(f"DELETE FROM {GRAM_TABLE} WHERE idx = {index}")
    schema_editor.execute(insert("t", f"{q(table)} t JOIN {SEQ_TABLE} s"))


def _bigram_indexes(schema_editor: Any, table: str, columns: tuple[str, ...]) -> None:
    q = _quoter(schema_editor.connection)
    for column in columns:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {q(f'{table}_{column}_bigram')} ON {q(table)} "
            f"USING gin ({BIGRAMS}(UPPER(({q(column)})::text)))"
        )


def _backfill(schema_editor: Any, table: str, columns: tuple[str, ...], index: int) -> None:
    """MySQL/MariaDB: the grams of the rows already there, in one statement."""
    q = _quoter(schema_editor.connection)
    joined = "LOWER(CONCAT_WS(' ', " + ", ".join(q(c) for c in columns) + "))"
    schema_editor.execute(f"DELETE FROM {GRAM_TABLE} WHERE idx = {index}")
    schema_editor.execute(
        f"INSERT IGNORE INTO {GRAM_TABLE} (idx, gram, row_id) "
        f"SELECT {index}, SUBSTRING({joined}, n.i, 3), t.id FROM {q(table)} t "
        "JOIN (WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
        f"WHERE i < {MAX_POSITIONS}) SELECT i FROM seq) n ON n.i < CHAR_LENGTH("
        f"CONCAT_WS(' ', " + ", ".join(f"t.{q(c)}" for c in columns) + "))"
    )


def _drop(schema_editor: Any, table: str, columns: tuple[str, ...], index: int) -> None:
    connection = schema_editor.connection
    q = _quoter(connection)
    if connection.vendor == "postgresql":
        for column in columns:
            schema_editor.execute(f"DROP INDEX IF EXISTS {q(f'{table}_{column}_trgm')}")
            schema_editor.execute(f"DROP INDEX IF EXISTS {q(f'{table}_{column}_bigram')}")
    elif connection.vendor == "sqlite":
        fts = fts_table(table)
        for suffix in ("_ai", "_ad", "_au"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {q(fts + suffix)}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {q(f'{table}_grams{suffix}')}")
        schema_editor.execute(f"DELETE FROM {GRAM_TABLE} WHERE idx = {index}")
        schema_editor.execute(f"DROP TABLE IF EXISTS {q(fts)}")
    elif connection.vendor == "mysql":
        for event in ("insert", "update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {q(f'{table}_grams_{event}')}")
        schema_editor.execute(f"DELETE FROM {GRAM_TABLE} WHERE idx = {index}")


def index_operation(table: str, columns: tuple[str, ...], index: int) -> migrations.RunPython:
    """The migration operation that creates (and, reversed, drops) the search index of
    ``columns`` of ``table`` on whatever database the migration runs."""

    def forward(apps: Any, schema_editor: Any) -> None:
        _create(schema_editor, table, columns, index)

    def backward(apps: Any, schema_editor: Any) -> None:
        _drop(schema_editor, table, columns, index)

    return migrations.RunPython(forward, backward, atomic=False)


def reindex_operation(table: str, columns: tuple[str, ...], index: int) -> migrations.RunPython:
    """Brings an index made by an earlier ``index_operation`` to the current form: the
    bigram indexes on PostgreSQL, the grams rewritten on MySQL/MariaDB (SQLite: nothing)."""

    def forward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            _bigram_indexes(schema_editor, table, columns)
        elif vendor == "sqlite":
            _sqlite_bigrams(schema_editor, table, columns, index)
        elif vendor == "mysql":
            _backfill(schema_editor, table, columns, index)

    return migrations.RunPython(forward, migrations.RunPython.noop, atomic=False)


def _install(schema_editor: Any) -> None:
    """What the indexes share: PostgreSQL's bigram function; MySQL/MariaDB's gram table and
    the procedure its triggers call. Safe to run again (an upgrade runs it)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {BIGRAMS}(t text) RETURNS text[] "
            # Not run in parallel workers: a lookup through its index is a few hundred rows,
            # and starting workers for it costs more than the lookup (10 ms against 1).
            "LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL RESTRICTED AS $$ BEGIN "
            "RETURN ARRAY(SELECT DISTINCT substr(t, i, 2) "
            "FROM generate_series(1, char_length(t) - 1) AS i); END $$"
        )
        return
    if vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TABLE IF NOT EXISTS {GRAM_TABLE} (idx INTEGER NOT NULL, gram TEXT NOT NULL, "
            "row_id INTEGER NOT NULL, PRIMARY KEY (idx, gram, row_id)) WITHOUT ROWID"
        )
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS core_searchgram_row ON {GRAM_TABLE} (idx, row_id)"
        )
        # The positions a trigger's INSERT … SELECT walks (a trigger may not use WITH).
        schema_editor.execute(f"CREATE TABLE IF NOT EXISTS {SEQ_TABLE} (i INTEGER PRIMARY KEY)")
        schema_editor.execute(
            f"INSERT OR IGNORE INTO {SEQ_TABLE} (i) WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL "
            f"SELECT i + 1 FROM n WHERE i < {MAX_POSITIONS}) SELECT i FROM n"
        )
        return
    if vendor != "mysql":
        return
    schema_editor.execute(
        f"CREATE TABLE IF NOT EXISTS {GRAM_TABLE} ("
        "idx SMALLINT NOT NULL, "
        "gram VARCHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
        "row_id BIGINT NOT NULL, "
        "PRIMARY KEY (idx, gram, row_id), KEY core_searchgram_row (idx, row_id)"
        ") ENGINE=InnoDB"
    )
    schema_editor.execute(
        f"ALTER TABLE {GRAM_TABLE} MODIFY gram VARCHAR(3) CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_bin NOT NULL"
    )
    schema_editor.execute(f"DROP PROCEDURE IF EXISTS {PROCEDURE}")
    schema_editor.execute(
        f"CREATE PROCEDURE {PROCEDURE}(IN p_idx SMALLINT, IN p_row BIGINT, "
        "IN p_text TEXT CHARACTER SET utf8mb4) "
        "MODIFIES SQL DATA "
        "BEGIN "
        "DECLARE i INT DEFAULT 1; "
        "DECLARE n INT; "
        "SET p_text = LOWER(COALESCE(p_text, '')); "
        "SET n = CHAR_LENGTH(p_text); "
        f"DELETE FROM {GRAM_TABLE} WHERE idx = p_idx AND row_id = p_row; "
        "WHILE i < n DO "
        f"INSERT IGNORE INTO {GRAM_TABLE} (idx, gram, row_id) "
        "VALUES (p_idx, SUBSTRING(p_text, i, 3), p_row); "
        "SET i = i + 1; "
        "END WHILE; "
        "END"
    )


def gram_table_operation() -> migrations.RunPython:
    """The shared part of the search indexes (``_install``); reversed, dropped."""

    def forward(apps: Any, schema_editor: Any) -> None:
        _install(schema_editor)

    def backward(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {BIGRAMS}(text)")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TABLE IF EXISTS {SEQ_TABLE}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {GRAM_TABLE}")
        elif vendor == "mysql":
            schema_editor.execute(f"DROP PROCEDURE IF EXISTS {PROCEDURE}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {GRAM_TABLE}")

    return migrations.RunPython(forward, backward, atomic=False)


def upgrade_operation() -> migrations.RunPython:
    """Brings the shared part installed by an earlier ``gram_table_operation`` to the
    current form (trigrams on MySQL/MariaDB, the bigram function on PostgreSQL)."""

    def forward(apps: Any, schema_editor: Any) -> None:
        _install(schema_editor)

    return migrations.RunPython(forward, migrations.RunPython.noop, atomic=False)
