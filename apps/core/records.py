"""Helpers every service uses to write a record: apply only editable fields, attach a
checked scan, validate with the model's own rules and save — errors in Chinese, per field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils.translation import gettext as _

from .errors import ValidationFailed
from .files import validate_scan


class _Unset:
    """Marks a keyword argument the caller did not pass (where ``None`` means something)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def field_labels(model: type[models.Model]) -> dict[str, str]:
    return {f.name: str(f.verbose_name) for f in model._meta.concrete_fields}


def refuse_unknown(data: dict[str, Any], editable: Iterable[str]) -> None:
    """Refuse, naming each, the fields of ``data`` that may not be changed."""
    unknown = set(data) - set(editable)
    if unknown:
        raise ValidationFailed(
            _("不可修改的字段：%(f)s") % {"f": "、".join(sorted(unknown))},
            fields={name: [_("不可修改")] for name in unknown},
        )


def apply_fields(obj: models.Model, data: dict[str, Any], editable: Iterable[str]) -> None:
    """Set ``data`` on ``obj``; naming a field outside ``editable`` is refused. ``None`` for a
    text field that is not nullable means empty text (validation then judges it)."""
    refuse_unknown(data, editable)
    for name, value in data.items():
        field = obj._meta.get_field(name)
        if (
            value is None
            and not field.null
            and isinstance(field, models.CharField | models.TextField)
        ):
            value = ""
        setattr(obj, name, value)


def attach_scan(obj: models.Model, field: str, upload: UploadedFile | None) -> None:
    """Check an uploaded scan by content and size, then set it on ``field``. A scan it
    replaces is deleted from private storage once the transaction commits, unless another
    record still refers to it."""
    if upload is None:
        return
    try:
        validate_scan(upload)
    except ValidationError as exc:
        label = obj._meta.get_field(field).verbose_name
        raise ValidationFailed(f"{label}：{exc.messages[0]}", fields={field: exc.messages}) from exc
    current = getattr(obj, field)
    previous = current.name if current else ""
    setattr(obj, field, upload)
    if previous:
        model, storage = type(obj), obj._meta.get_field(field).storage

        def drop_if_orphaned() -> None:
            if not model._default_manager.filter(**{field: previous}).exists():
                storage.delete(previous)

        transaction.on_commit(drop_if_orphaned)


def validated_save(obj: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """``full_clean`` (field validators, ``clean()``, uniqueness) then save."""
    try:
        obj.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        raise ValidationFailed.from_django(exc, field_labels(type(obj))) from exc
    obj.save()
