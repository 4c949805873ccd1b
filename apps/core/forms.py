"""The base of every console form: each field passes the input rules of ``apps.core.inputs``
(control characters, NUL, date and integer ranges) and reports a refusal on that field, in
Chinese, before any service sees the value."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from django import forms

from . import inputs
from .errors import DomainError, ValidationFailed


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
    errors: Any

    def error_summary(self) -> list[str]:
        """「字段：原因」 for every error, so each message names its field once."""
        return [
            with_label(self.fields[name].label if name in self.fields else "", str(message))
            for name, errors in self.errors.items()
            for message in errors
        ]

    def full_clean(self) -> None:
        for field in self.fields.values():
            harden(field)
        super().full_clean()  # type: ignore[misc]


class Form(CleanInputMixin, forms.Form):
    """Every console form that is not a model form."""


class ModelForm(CleanInputMixin, forms.ModelForm):
    """Every console model form."""


def apply_errors(
    form: forms.BaseForm,
    exc: DomainError,
    *,
    aliases: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Put a service's refusal onto the form that sent the input — the one applier every
    console view calls.

    Each field's messages go on that field (``aliases`` maps a service's field name to the
    form's where they differ). A field the form does not show becomes a form-wide message
    that still names it (from ``labels``, else the model form's verbose names). A refusal
    without fields becomes one form-wide message."""
    aliases = aliases or {}
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    names = dict(labels or {})
    model = getattr(getattr(form, "_meta", None), "model", None)
    if model is not None and not labels:
        names = {f.name: str(f.verbose_name) for f in model._meta.concrete_fields}
    for name, messages in exc.fields.items():
        target = aliases.get(name, name)
        for message in messages:
            if target in form.fields:
                form.add_error(target, message)
            else:
                form.add_error(None, with_label(names.get(name, ""), str(message)))


def with_label(label: str, message: str) -> str:
    """「字段：说明」, unless the message already names the field
    (never 「手机号：手机号格式不正确」)."""
    label = str(label or "")
    if not label or message.startswith(label):
        return message
    return f"{label}：{message}"


@dataclasses.dataclass
class Submitted:
    """What ``submit`` did: truthy when the service accepted the input; ``value`` is what
    it returned, ``error`` a refusal for the modal's banner (``banner=True``)."""

    done: bool = False
    value: Any = None
    error: str = ""

    def __bool__(self) -> bool:
        return self.done


def submit(
    request: Any,
    form: forms.BaseForm,
    action: Callable[[], Any],
    *,
    refusals: tuple[type[DomainError], ...] = (ValidationFailed,),
    banner: bool = False,
    aliases: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Submitted:
    """The shape of every console form view: on POST, validate ``form`` and run ``action``
    (the service call). A refusal of type ``refusals`` lands on the form (``apply_errors``);
    with ``banner`` any other service refusal becomes ``Submitted.error`` for the modal
    instead of the error page. Nothing happens on GET or an invalid form."""
    if request.method != "POST" or not form.is_valid():
        return Submitted()
    try:
        value = action()
    except refusals as exc:
        apply_errors(form, exc, aliases=aliases, labels=labels)
        return Submitted()
    except DomainError as exc:
        if not banner:
            raise
        return Submitted(error=exc.message)
    return Submitted(done=True, value=value)
