"""The base of every console form: each field passes the input rules of ``apps.core.inputs``
(control characters, NUL, date and integer ranges) and reports a refusal on that field, in
Chinese, before any service sees the value."""

from __future__ import annotations

from typing import Any

from django import forms

from . import inputs


class _TextRule:
    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline

    def __call__(self, value: Any) -> None:
        if isinstance(value, str):
            inputs.check_text(value, multiline=self.multiline)


def _date_rule(value: Any) -> None:
    if value is not None:
        inputs.check_date(value)


def _int_rule(value: Any) -> None:
    if isinstance(value, int):
        inputs.check_int(value, inputs.INT64)


def harden(field: forms.Field) -> None:
    """Add the input rules to one form field (idempotent)."""
    if getattr(field, "_inputs_rules", False):
        return
    if isinstance(field, forms.CharField):
        field.validators.append(_TextRule(isinstance(field.widget, forms.Textarea)))
    elif isinstance(field, forms.DateField | forms.DateTimeField):
        field.validators.append(_date_rule)
    elif isinstance(field, forms.IntegerField):
        field.validators.append(_int_rule)
    field._inputs_rules = True


class CleanInputMixin:
    """Mix into a form class before Django's: every field gets the input rules (applied
    when the form is cleaned, so fields a form adds in its own ``__init__`` are covered)."""

    fields: dict[str, forms.Field]

    def full_clean(self) -> None:
        for field in self.fields.values():
            harden(field)
        super().full_clean()  # type: ignore[misc]


class Form(CleanInputMixin, forms.Form):
    """Every console form that is not a model form."""


class ModelForm(CleanInputMixin, forms.ModelForm):
    """Every console model form."""
