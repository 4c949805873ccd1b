from __future__ import annotations

from django.db import connection, models, transaction


class Sequence(models.Model):
    """A named counter for human-readable numbers (企业号 …). It never goes back, so numbers
    are never reused, even after the records that carried them are deleted."""

    input_guard = False  # written by the platform from trusted values

    name = models.CharField(max_length=50, unique=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "编号序列"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


def next_value(name: str, start: int = 1) -> int:
    """Allocate the next value of sequence ``name`` inside the caller's transaction: ``start``
    on first use, then one more each call. Concurrent callers get distinct values.

    One upsert statement creates or increments the row. It takes the row's lock straight
    away, so callers queue behind each other until the holder's transaction ends, on every
    backend (SQLite serialises writers anyway with IMMEDIATE transactions). The two-step
    "UPDATE, then INSERT if nothing was updated" is not safe on MySQL/MariaDB: the UPDATE
    that matches no row takes a gap lock, and concurrent first users deadlock on INSERT.
    """
    return next_values(name, 1, start=start)[0]


def next_values(name: str, count: int, *, start: int = 1) -> range:
    """Allocate ``count`` consecutive values of sequence ``name`` at once (see
    ``next_value``). As the row stays locked until the caller's transaction ends, values
    are handed out in commit order: whoever reads the sequence's value ``v`` (committed)
    knows every value up to ``v`` was committed with it."""
    if count < 1:
        return range(0)
    # Only quoted identifiers from the model are formatted in; values are parameters.
    qn = connection.ops.quote_name
    table = qn(Sequence._meta.db_table)
    key, value = qn("name"), qn("value")
    insert = f"INSERT INTO {table} ({key}, {value}) VALUES (%s, %s) "  # noqa: S608
    if connection.vendor == "mysql":
        upsert = f"{insert} ON DUPLICATE KEY UPDATE {value} = {value} + %s"
    else:  # PostgreSQL, SQLite
        upsert = f"{insert} ON CONFLICT ({key}) DO UPDATE SET {value} = {table}.{value} + %s"
    # No savepoint inside the caller's transaction: a failure here fails it anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(upsert, [name, start + count - 1, count])
        # Our own write is visible to us (REPEATABLE READ included), so this reads our value.
        cursor.execute(f"SELECT {value} FROM {table} WHERE {key} = %s", [name])  # noqa: S608
        last = cursor.fetchone()[0]
    return range(last - count + 1, last + 1)


def current_value(name: str) -> int:
    """The last value handed out by sequence ``name`` and committed (0 before first use)."""
    found = Sequence.objects.filter(name=name).values_list("value", flat=True).first()
    return found or 0


class Heartbeat(models.Model):
    """When a worker last ran the heartbeat task that beat queues: proof that queued work
    is being done (``/readyz`` reports its age)."""

    input_guard = False  # written by the platform

    name = models.CharField(max_length=50, unique=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = "任务心跳"

    def __str__(self) -> str:
        return f"{self.name}@{self.at:%Y-%m-%d %H:%M:%S}"


class TaskStat(models.Model):
    """How often each task ended each way, and the time it took in all — every worker's,
    for ``/metrics``."""

    input_guard = False  # written by the platform

    task = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20)  # succeeded · failed · retried
    count = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        verbose_name = "任务统计"
        constraints = [
            models.UniqueConstraint(fields=["task", "outcome"], name="core_taskstat_task_outcome")
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.outcome} ×{self.count}"
