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


def _update_by_pk(model: type[models.Model], set_fields: list, where_fields: list) -> tuple:
    """The connection and the SQL of ``UPDATE <table> SET <set> WHERE pk = %s [AND <where>
    = %s …]`` — table and column names come from the model's meta, values are bound."""
    from django.db import connections, router

    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608 - names from the model's meta
        + ", ".join(f"{quote(f.column)} = %s" for f in set_fields)
        + f" WHERE {quote(meta.pk.column)} = %s"
        + "".join(f" AND {quote(f.column)} = %s" for f in where_fields)
    )
    return connection, sql


def update_each(objs: list[models.Model], fields: list[str]) -> None:
    """Write ``fields`` of each object, by primary key, in one ``executemany`` — what
    ``QuerySet.bulk_update`` does, without the CASE expression per row and field it builds
    and resolves (milliseconds per row): for work that records many results at once. Values
    go through each field's own preparation, as ``save()`` would; no signals are sent."""
    if not objs:
        return
    model = type(objs[0])
    columns = [model._meta.get_field(name) for name in fields]
    connection, sql = _update_by_pk(model, columns, [])
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def update_if(
    model: type[models.Model], pk: Any, *, where: dict[str, Any], values: dict[str, Any]
) -> bool:
    """Set ``values`` on the row ``pk`` of ``model`` only while its ``where`` fields still
    hold — a claim, in one statement; True when the row was updated. What
    ``filter(pk=…, **where).update(**values)`` does, without the query compiler, which
    costs more than the round trip on a hot path (a rollout claims every tenant)."""
    sets = [(model._meta.get_field(name), value) for name, value in values.items()]
    conditions = [(model._meta.get_field(name), value) for name, value in where.items()]
    connection, sql = _update_by_pk(model, [f for f, _v in sets], [f for f, _v in conditions])
    params = (
        [f.get_db_prep_save(v, connection) for f, v in sets]
        + [pk]
        + [f.get_db_prep_value(v, connection) for f, v in conditions]
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


def claim(
    model: type[models.Model], pk: Any, *, status: str, to: str, related: Iterable[str] = ()
) -> Any:
    """A worker's claim on a queued record: move row ``pk`` from ``status`` to ``to`` and
    stamp ``progress_at``, in one conditional statement — so however often a task is
    delivered, one delivery gets it. Returns the row, fresh, with ``related`` loaded; None
    when it was not (or no longer) in ``status``."""
    from django.utils import timezone

    if not update_if(
        model, pk, where={"status": status}, values={"status": to, "progress_at": timezone.now()}
    ):
        return None
    return model._default_manager.select_related(*related).get(pk=pk)


def lock_pair(model: type[models.Model], first: Any, second: Any) -> tuple[Any, Any] | None:
    """Both rows, locked in id order (two concurrent merges cannot deadlock), fresh from the
    database; None when either has gone."""
    rows = model.objects.select_for_update().filter(pk__in=[first.pk, second.pk]).order_by("pk")
    found = {row.pk: row for row in rows}
    if first.pk not in found or second.pk not in found:
        return None
    return found[first.pk], found[second.pk]
