"""The one audit helper every service calls inside its transaction.

``snapshot(obj)`` captures a model's audited fields; ``record(...)`` stores who/when/where
and the diff between two snapshots. Secrets are redacted by declaration: a model lists the
fields to hide in ``AUDIT_REDACT`` (value replaced by a marker, change still visible) and the
fields to ignore in ``AUDIT_EXCLUDE``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from apps.core import context, registry

from .models import AuditLog, HistoryAlias

REDACTED = "******"
ALWAYS_EXCLUDE = {"id", "created_at", "updated_at"}

Snapshot = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    return value


def snapshot(obj: models.Model | None) -> Snapshot:
    """The audited field values of ``obj`` (foreign keys by id), secrets masked."""
    if obj is None:
        return {}
    redact = set(getattr(obj, "AUDIT_REDACT", ()))
    exclude = ALWAYS_EXCLUDE | set(getattr(obj, "AUDIT_EXCLUDE", ()))
    data: Snapshot = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude:
            continue
        value = getattr(obj, field.attname)
        if field.name in redact:
            value = REDACTED if value else ""
        data[field.name] = _plain(value)
    return data


def diff(before: Snapshot, after: Snapshot) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value changed."""
    keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    before: Snapshot | None = None,
    after: Snapshot | None = None,
    changes: dict[str, list[Any]] | None = None,
    message: str = "",
    object_repr: str | None = None,
    actor_name: str | None = None,
) -> AuditLog:
    """Write one audit row. Call it inside the service's transaction.

    ``actor_name`` names an actor that is not a signed-in user (e.g. the username typed
    into a failed login); by default it is the actor's display name or 系统."""
    ctx = context.current()
    if changes is None:
        changes = diff(before or {}, after or {})
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    if actor_name is None:
        actor_name = (getattr(actor_obj, "display_name", "") or "系统") if actor_obj else "系统"
    return AuditLog.objects.create(
        actor=actor_obj,
        actor_name=actor_name[:150],
        ip=ctx.ip,
        request_id=ctx.request_id if ctx.request_id != "-" else "",
        action=action,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr if object_repr is not None else str(obj or ""))[:200],
        changes=changes,
        message=message[:500],
    )


@dataclasses.dataclass
class Change:
    """The handle ``tracked`` yields: the block may set ``action`` or ``message`` once it
    knows what it did; ``changes`` and ``row`` are filled when the block ends."""

    action: str | Callable[[dict[str, list[Any]]], str]
    message: str = ""
    changes: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    row: AuditLog | None = None


@contextmanager
def tracked(
    obj: models.Model,
    *,
    actor,
    action: str | Callable[[dict[str, list[Any]]], str] = "update",
    message: str = "",
    extra: Callable[[Any], Snapshot] | None = None,
    always: bool = False,
) -> Iterator[Change]:
    """Audit what the block does to ``obj`` — the one shape every ``*_update`` and state
    change shares: a snapshot before, one after, one row with the difference. Nothing is
    written when nothing changed, unless ``always`` (an action worth recording by itself).
    ``extra`` adds values that are not columns (a user's roles) to both snapshots. Call it
    inside the service's transaction, on the row the service locked. ``action`` may be a
    function of the changes (停用 when only ``is_active`` went off)."""

    def take() -> Snapshot:
        return snapshot(obj) | (extra(obj) if extra else {})

    before = take()
    change = Change(action=action, message=message)
    yield change
    change.changes = diff(before, take())
    if change.changes or always:
        change.row = record(
            actor=actor,
            action=change.action(change.changes) if callable(change.action) else change.action,
            obj=obj,
            changes=change.changes,
            message=change.message,
        )


def update_record(
    obj: models.Model,
    *,
    actor,
    data: dict[str, Any],
    editable: Iterable[str],
    files: Mapping[str, Any] | None = None,
    exclude: Iterable[str] = (),
) -> Any:
    """The one audited update every ``*_update`` service of a record shares: lock the row,
    set only ``editable`` fields from ``data``, attach checked scans (``files``: field →
    upload or None), validate with the model's own rules, save, and write one audit row
    with the difference (none when nothing changed). Call it inside the service's
    transaction after its permission check; returns the locked, saved row."""
    from apps.core.records import apply_fields, attach_scan, validated_save

    obj = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
    with tracked(obj, actor=actor):
        apply_fields(obj, data, editable)
        for field_name, upload in (files or {}).items():
            attach_scan(obj, field_name, upload)
        validated_save(obj, exclude=exclude)
    return obj


def record_many(
    *,
    actor,
    action: str,
    entries: list[tuple[models.Model, dict[str, list[Any]]]],
    message: str = "",
) -> list[AuditLog]:
    """One audit row per (object, changes) pair, inserted in a single bulk statement —
    for bulk actions (reassigning many customers, imports)."""
    return record_entries(
        actor=actor,
        entries=[Entry(action, obj, message, changes) for obj, changes in entries],
    )


@dataclasses.dataclass
class Entry:
    """One row of ``record_entries``: what was done to which object."""

    action: str
    obj: models.Model
    message: str = ""
    changes: dict[str, list[Any]] = dataclasses.field(default_factory=dict)


def record_entries(*, actor, entries: list[Entry]) -> list[AuditLog]:
    """Audit rows of one actor, each with its own action and message, inserted in a single
    bulk statement — for work that records many results at once (租户库升级)."""
    if not entries:
        return []
    ctx = context.current()
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    actor_name = (getattr(actor_obj, "display_name", "") or "系统") if actor_obj else "系统"
    rows = [
        AuditLog(
            actor=actor_obj,
            actor_name=actor_name,
            ip=ctx.ip,
            request_id=ctx.request_id if ctx.request_id != "-" else "",
            action=entry.action,
            content_type=ContentType.objects.get_for_model(entry.obj),
            object_id=str(entry.obj.pk),
            object_repr=str(entry.obj)[:200],
            changes=entry.changes,
            message=entry.message[:500],
        )
        for entry in entries
    ]
    return AuditLog.objects.bulk_create(rows)


def record_merged(*, actor, merged: models.Model, into: models.Model, message: str) -> None:
    """``merged`` is being merged into ``into`` (call it before deleting ``merged``): its
    last state is recorded as 被合并, and its rows join ``into``'s history."""
    record(actor=actor, action="merged_into", obj=merged, before=snapshot(merged), message=message)
    carry_history(merged, into)


def carry_history(merged: models.Model, into: models.Model) -> None:
    """``merged`` is being merged into ``into``: from now on the rows about it — and about
    whatever was merged into it before — show in ``into``'s history. Call it inside the
    merge's transaction, before ``merged`` is deleted."""
    ct = ContentType.objects.get_for_model(into)
    HistoryAlias.objects.filter(content_type=ct, alias_of=str(merged.pk)).update(
        alias_of=str(into.pk)
    )
    HistoryAlias.objects.create(content_type=ct, object_id=str(merged.pk), alias_of=str(into.pk))


def history_ids(obj: models.Model) -> list[str]:
    """The object ids whose rows make ``obj``'s history: its own and those merged into it."""
    ct = ContentType.objects.get_for_model(obj)
    merged = HistoryAlias.objects.filter(content_type=ct, alias_of=str(obj.pk))
    return [str(obj.pk), *merged.values_list("object_id", flat=True)]


def history_for(obj: models.Model, limit: int = 50):
    """Audit rows about ``obj`` and the records merged into it, newest first (two queries)
    — without the actions their app shows elsewhere (registered with ``own_history=False``)."""
    ct = ContentType.objects.get_for_model(obj)
    elsewhere = [a.code for a in registry.actions() if not a.own_history]
    return (
        AuditLog.objects.filter(content_type=ct, object_id__in=history_ids(obj))
        .exclude(action__in=elsewhere)
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
