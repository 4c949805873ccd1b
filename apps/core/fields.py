"""Model fields whose stored values can always be shown.

A datetime read back from the database is kept within what the console's time zone can
represent: ``9999-12-31 23:59:59+00:00`` — accepted before the input rules existed, or
written by hand — would overflow when shown in Asia/Shanghai (``OverflowError: date value
out of range``) and break every page, export and API read that touches the row. The value
is clamped on read, never written back; new values cannot leave 2000–2100 at all
(``apps.core.inputs``). The field deconstructs as Django's own, so the schema and the
migrations are unchanged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models

# A day inside each end of Python's range: any time zone offset stays representable.
READABLE_MIN = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
READABLE_MAX = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)


def readable_datetime(value: Any) -> Any:
    """``value`` clamped into the range every time zone can show (None stays None)."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        naive_min, naive_max = READABLE_MIN.replace(tzinfo=None), READABLE_MAX.replace(tzinfo=None)
        return min(max(value, naive_min), naive_max)
    return min(max(value, READABLE_MIN), READABLE_MAX)


class DateTimeField(models.DateTimeField):
    """``models.DateTimeField`` whose values read back within the showable range."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return readable_datetime(value)

    def deconstruct(self) -> tuple[Any, str, Any, Any]:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DateTimeField", args, kwargs
