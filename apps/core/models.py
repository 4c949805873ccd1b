from __future__ import annotations

from django.db import models, transaction
from django.db.models import F


class Sequence(models.Model):
    """A named counter for human-readable numbers (企业号 …). Never goes back, so numbers
    are never reused; the UPDATE takes a row lock, so concurrent callers get distinct
    values on PostgreSQL, MySQL/MariaDB and (serialised by IMMEDIATE transactions) SQLite."""

    name = models.CharField(max_length=50, unique=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "编号序列"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


def next_value(name: str, start: int = 1) -> int:
    """Allocate the next value of sequence ``name`` (inside the caller's transaction)."""
    with transaction.atomic():
        updated = Sequence.objects.filter(name=name).update(value=F("value") + 1)
        if not updated:
            # First use: create the row; a concurrent creator loses on the unique name
            # and then takes the UPDATE path.
            try:
                with transaction.atomic():
                    Sequence.objects.create(name=name, value=start)
                    return start
            except Exception:  # IntegrityError (type differs per backend wrapper)
                Sequence.objects.filter(name=name).update(value=F("value") + 1)
        return Sequence.objects.filter(name=name).values_list("value", flat=True).get()
