"""Counting frequent machine reads instead of logging each one (``ReadTally``).

A read adds to a count kept in this process — no statement — and every
``AUDIT_TALLY_FLUSH_SECONDS`` the next read writes the counts gathered since, all in one
statement (an upsert per key, executed as one batch) that adds them to what other
processes wrote. ``flush()`` also runs when the process exits and before 读取汇总 is shown.
A failed write keeps the counts for the next attempt; a process killed outright loses at
most the last interval's counts, which is what the aggregate trades for costing nothing
per read.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from apps.core.inputs import cleaned_text

from .models import ReadTally

logger = logging.getLogger(__name__)

OUTCOMES = ("ok", "unchanged", "missing")
# Beyond this many distinct keys waiting, the next read writes them whatever the time.
MAX_PENDING = 5000


@dataclass
class _Count:
    source_label: str
    actor_id: int | None
    object_repr: str
    count: int
    unchanged: int
    missing: int
    first_at: float  # time.time()
    last_at: float

    def absorb(self, other: _Count) -> None:
        """Add ``other``'s reads to these (the same key, counted apart)."""
        self.count += other.count
        self.unchanged += other.unchanged
        self.missing += other.missing
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.object_repr = self.object_repr or other.object_repr


_lock = threading.Lock()
_pending: dict[tuple[str, str, str], _Count] = {}
_last_flush = time.time()


def _text(value: str, limit: int) -> str:
    value = (value or "").encode("utf-8", "replace").decode("utf-8")  # lone surrogates → ?
    return cleaned_text(value, multiline=False).strip()[:limit]


def count_read(
    *,
    action: str,
    source: str,
    source_label: str = "",
    actor_id: int | None = None,
    object_key: str,
    object_repr: str = "",
    outcome: str = "ok",
) -> None:
    """Count one read of ``object_key`` by ``source`` (``outcome``: ok, unchanged,
    missing). Cheap: a dictionary update; the values are cleaned and written later, in a
    batch."""
    now = time.time()
    key = (action, source, object_key)
    with _lock:
        entry = _pending.get(key)
        if entry is None:
            entry = _pending[key] = _Count(source_label, actor_id, "", 0, 0, 0, now, now)
        entry.count += 1
        if outcome == "unchanged":
            entry.unchanged += 1
        elif outcome == "missing":
            entry.missing += 1
        entry.last_at = now
        entry.actor_id = actor_id
        if object_repr:
            entry.object_repr = object_repr
        due = (
            now - _last_flush >= settings.AUDIT_TALLY_FLUSH_SECONDS or len(_pending) >= MAX_PENDING
        )
    if due:
        flush()


def flush() -> int:
    """Write the counts gathered in this process; returns how many keys were written."""
    global _last_flush
    with _lock:
        taken = dict(_pending)
        _pending.clear()
        _last_flush = time.time()
    if not taken:
        return 0
    try:
        _write(taken)
    except DatabaseError:
        logger.warning("读取汇总写入失败，%d 条计数留待下次写入", len(taken), exc_info=True)
        _merge_back(taken)
        return 0
    return len(taken)


def discard() -> None:
    """Forget the counts not yet written (tests)."""
    with _lock:
        _pending.clear()


def _merge_back(taken: dict[tuple[str, str, str], _Count]) -> None:
    with _lock:
        for key, old in taken.items():
            new = _pending.get(key)
            if new is None:
                _pending[key] = old
            else:
                new.absorb(old)


def _cleaned(taken: dict[tuple[str, str, str], _Count]) -> dict[tuple[str, str, str], _Count]:
    """The counts under cleaned keys (what a caller sent may hold anything), merged."""
    out: dict[tuple[str, str, str], _Count] = {}
    for (action, source, key), e in taken.items():
        clean = (action, _text(source, 60), _text(key, 60) or "?")
        cleaned = dataclasses.replace(
            e, source_label=_text(e.source_label, 100), object_repr=_text(e.object_repr, 200)
        )
        if clean in out:
            out[clean].absorb(cleaned)
        else:
            out[clean] = cleaned
    return out


def _write(taken: dict[tuple[str, str, str], _Count]) -> None:
    taken = _cleaned(taken)
    qn = connection.ops.quote_name
    table = qn(ReadTally._meta.db_table)
    columns = [
        "action", "source", "object_key", "source_label", "actor_id", "object_repr",
        "count", "unchanged", "missing", "first_at", "last_at",
    ]  # fmt: skip
    names = ", ".join(qn(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    c = {name: qn(name) for name in columns}
    if connection.vendor == "mysql":

        def new(name: str) -> str:
            return f"VALUES({c[name]})"

        def old(name: str) -> str:
            return c[name]

        conflict = "ON DUPLICATE KEY UPDATE"
    else:  # PostgreSQL, SQLite

        def new(name: str) -> str:
            return f"EXCLUDED.{c[name]}"

        def old(name: str) -> str:
            return f"{table}.{c[name]}"

        keys = ", ".join(c[n] for n in ("action", "source", "object_key"))
        conflict = f"ON CONFLICT ({keys}) DO UPDATE SET"
    first, last, repr_ = c["first_at"], c["last_at"], c["object_repr"]
    updates = [
        *(f"{c[n]} = {old(n)} + {new(n)}" for n in ("count", "unchanged", "missing")),
        f"{c['source_label']} = {new('source_label')}",
        f"{c['actor_id']} = {new('actor_id')}",
        f"{repr_} = CASE WHEN {new('object_repr')} = '' THEN {old('object_repr')} "
        f"ELSE {new('object_repr')} END",
        f"{first} = CASE WHEN {new('first_at')} < {old('first_at')} THEN {new('first_at')} "
        f"ELSE {old('first_at')} END",
        f"{last} = CASE WHEN {new('last_at')} > {old('last_at')} THEN {new('last_at')} "
        f"ELSE {old('last_at')} END",
    ]
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict} {', '.join(updates)}"  # noqa: S608
    adapt = connection.ops.adapt_datetimefield_value
    rows = [_row(key, e, adapt) for key, e in sorted(taken.items())]  # one order: no deadlock
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _row(key: tuple[str, str, str], e: _Count, adapt) -> tuple:
    first, last = (adapt(dt.datetime.fromtimestamp(t, dt.UTC)) for t in (e.first_at, e.last_at))
    return (
        *key,
        e.source_label,
        e.actor_id,
        e.object_repr,
        e.count,
        e.unchanged,
        e.missing,
        first,
        last,
    )


atexit.register(lambda: flush() if _pending else None)
