"""Display helpers for contracts: money in yuan and account numbers in groups of four."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def cny(value: Any) -> str:
    """``Decimal("1234567.5")`` → ``¥1,234,567.50``; empty for no value."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"¥{amount:,.2f}"


@register.filter
def group4(value: Any) -> str:
    """``6222021234567890123`` → ``6222 0212 3456 7890 123`` (easier to read aloud)."""
    text = str(value or "")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
