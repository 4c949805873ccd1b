"""Reads on the audit log (操作日志 and 登录日志): the filtered list, and the presentation of
rows with labelled, human-readable diffs.

Presentation never runs a query per row: content types come from Django's cache
(``get_for_id``), field labels from model metadata, and foreign keys named in the diffs
(负责人、所属账号 …) are resolved with one query per referenced model for the whole page.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import registry, search
from apps.core.errors import Forbidden
from apps.core.fields import readable_datetime
from apps.core.inputs import parse_id
from apps.core.permissions import has_perm

from . import tally
from .models import AuditLog, ReadTally

VIEW_PERM = "audit.view_auditlog"  # the whole log, login log included
# The rows about the objects the reader may see (their types' view permission), without
# the login log, staff or token rows: 运营主管 read the business history this way.
VIEW_SCOPED_PERM = "audit.view_scoped_auditlog"

# Pseudo-action: every row of the login log (登录日志).
AUTH_ACTIONS = ("login", "logout", "login_failed")
ACTION_GROUP_AUTH = "auth"
SYSTEM_ACTOR = "system"

EXPORT_MAX_ROWS = 100_000

# The free text's index on 对象 (apps.core.search; migration 0006_object_search).
SEARCH_INDEX = 3
SEARCH_COLUMNS = ("object_repr",)


@dataclass
class AuditFilters:
    actor: str = ""  # a user id, or "system" for rows without a signed-in actor
    action: str = ""  # an action code, or "auth" for the login log
    object_type: str = ""  # a registered audit type code
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    q: str = ""  # free text on the object (name or id)
    customer: int | None = None  # a customer: its own rows and its related objects' rows


def can_read(user) -> bool:
    return has_perm(user, VIEW_PERM) or has_perm(user, VIEW_SCOPED_PERM)


def _require_reader(user) -> None:
    if not can_read(user):
        raise Forbidden()


def readable_types(user) -> list[registry.AuditType]:
    """The object types whose rows ``user`` may read (all of them for a full reader)."""
    if has_perm(user, VIEW_PERM):
        return registry.audit_types()
    if not has_perm(user, VIEW_SCOPED_PERM):
        return []
    return [t for t in registry.audit_types() if has_perm(user, t.view_perm)]


def _content_type_id(audit_type: registry.AuditType) -> int:
    app_label, model = audit_type.model.split(".")
    return ContentType.objects.get_by_natural_key(app_label, model).pk


def _customer_rows(customer_id: int) -> Q:
    """The rows about a customer and about every registered object tied to it (its
    contracts, its data source, the lead it came from): one small query per type."""
    condition = Q(pk__in=[])
    for t in registry.audit_types():
        if not t.customer_field:
            continue
        if t.customer_field == "pk":
            ids = [customer_id]
        else:
            app_label, model_name = t.model.split(".")
            model = ContentType.objects.get_by_natural_key(app_label, model_name).model_class()
            ids = list(
                model._default_manager.filter(**{t.customer_field: customer_id}).values_list(
                    "pk", flat=True
                )
            )
        if ids:
            condition |= Q(content_type_id=_content_type_id(t), object_id__in=[str(i) for i in ids])
    return condition


def audit_list(*, user, filters: AuditFilters) -> QuerySet[AuditLog]:
    """Audit rows matching ``filters``, newest first, within what ``user`` may read."""
    _require_reader(user)
    qs = AuditLog.objects.all()
    if not has_perm(user, VIEW_PERM):
        types = readable_types(user)
        qs = qs.filter(content_type_id__in=[_content_type_id(t) for t in types])
        hidden = [a.code for a in registry.actions() if a.perm and not has_perm(user, a.perm)]
        qs = qs.exclude(action__in=[*AUTH_ACTIONS, *hidden])
    if filters.actor == SYSTEM_ACTOR:
        qs = qs.filter(actor__isnull=True)
    elif parse_id(filters.actor) is not None:
        qs = qs.filter(actor_id=parse_id(filters.actor))
    if filters.action == ACTION_GROUP_AUTH:
        qs = qs.filter(action__in=AUTH_ACTIONS)
    elif filters.action:
        qs = qs.filter(action=filters.action)
    chosen = registry.audit_type(filters.object_type)
    if chosen is not None:
        qs = qs.filter(content_type_id=_content_type_id(chosen))
    if filters.customer is not None:
        qs = qs.filter(_customer_rows(filters.customer))
    if filters.date_from:
        qs = qs.filter(at__gte=_start_of(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    q = filters.q.strip()
    if q:
        qs = qs.filter(text_condition(q))
    return qs.order_by("-at", "-id")


def text_condition(q: str) -> Q:
    """The free text: rows whose 对象 contains it, or about the object with that id. Both
    through an index — the rows the search index offers, and those the (type, object)
    index holds for the id under any type — in one set, then confirmed row by row."""
    condition = search.plain(SEARCH_COLUMNS, q) | Q(object_id=q)
    found = search.candidates(AuditLog, SEARCH_COLUMNS, q, index=SEARCH_INDEX, standalone=True)
    if found is None:
        return condition
    about = AuditLog.objects.order_by().filter(object_id=q)
    ids = search.union(
        found,
        about.filter(content_type__in=ContentType.objects.all()).values("pk"),
        about.filter(content_type__isnull=True).values("pk"),
    )
    return Q(pk__in=ids) & condition


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def actor_choices(user) -> list[tuple[str, str]]:
    """Options for the actor filter: every account (one query) and 系统."""
    _require_reader(user)
    users = get_user_model().objects.order_by("username").only("id", "username", "name")
    return [
        (SYSTEM_ACTOR, str(_("系统（命令行、未登录）"))),
        *((str(u.pk), f"{u.username}（{u.name}）" if u.name else u.username) for u in users),
    ]


def action_choices(user=None) -> list[tuple[str, str]]:
    full = user is None or has_perm(user, VIEW_PERM)
    choices = [(ACTION_GROUP_AUTH, str(_("登录日志（登录、退出、登录失败）")))] if full else []
    for a in registry.actions():
        if not full and (a.code in AUTH_ACTIONS or (a.perm and not has_perm(user, a.perm))):
            continue
        choices.append((a.code, str(a.label)))
    return choices


def type_choices(user=None) -> list[tuple[str, str]]:
    types = registry.audit_types() if user is None else readable_types(user)
    return [(t.code, str(t.label)) for t in types]


def customer_label(customer_id: int) -> str:
    """How the customer filter names its customer (「企业名称（HGJ100046）」), or "". The
    customer's own type is the one registered with ``customer_field="pk"``."""
    t = next((t for t in registry.audit_types() if t.customer_field == "pk"), None)
    if t is None:
        return ""
    return _names_of(t, {customer_id}).get(str(customer_id), "")


# --- Presentation ----------------------------------------------------------------------


@dataclass
class Change:
    field: str
    label: str
    old: str
    new: str


@dataclass
class AuditRow:
    log: AuditLog
    action_label: str
    type_label: str
    url: str = ""
    changes: list[Change] = field(default_factory=list)

    @property
    def changes_text(self) -> str:
        return "；".join(f"{c.label}：{c.old or '空'} → {c.new or '空'}" for c in self.changes)


def _model_for(row: AuditLog) -> type[models.Model] | None:
    if not row.content_type_id:
        return None
    return ContentType.objects.get_for_id(row.content_type_id).model_class()


def _model_field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except Exception:
        return None


def _type_of(model: type[models.Model] | None) -> registry.AuditType | None:
    return registry.audit_type_for_model(model._meta.label_lower) if model is not None else None


def _list_labels(model: type[models.Model] | None, name: str) -> dict[str, str]:
    t = _type_of(model)
    labels = t.list_labels.get(name) if t is not None else None
    return {str(k): str(v) for k, v in labels().items()} if labels else {}


def _label(model: type[models.Model] | None, name: str) -> str:
    if model is None:
        return name
    t = _type_of(model)
    if t is not None and name in t.extra_labels:
        return str(t.extra_labels[name])
    f = _model_field(model, name)
    return str(getattr(f, "verbose_name", name)) if f is not None else name


def _is_reference(f: models.Field | None) -> bool:
    return f is not None and f.is_relation and (f.many_to_one or f.one_to_one)


def _format(
    model: type[models.Model] | None,
    name: str,
    value: Any,
    names: dict[str, dict[str, str]],
) -> str:
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return str(_("是")) if value else str(_("否"))
    f = _model_field(model, name)
    if isinstance(value, list):
        labels = _list_labels(model, name)
        return "、".join(labels.get(str(v), str(v)) for v in value)
    if _is_reference(f):
        label = f.related_model._meta.label_lower
        return names.get(label, {}).get(str(value), f"#{value}")
    t = _type_of(model)
    if t is not None and name in t.region_fields:
        from apps.core import regions

        return f"{regions.name(str(value)) or value}"
    if f is not None and f.choices:
        for key, text in f.flatchoices:
            if str(key) == str(value):
                return str(text)
    if isinstance(f, models.DateTimeField) and isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(parsed):
            parsed = timezone.localtime(readable_datetime(parsed))
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict):
        return "；".join(f"{k}：{v}" for k, v in value.items())
    return str(value)


def _names_of(t: registry.AuditType, ids: set[int]) -> dict[str, str]:
    """Display names of some objects of a registered type (one query)."""
    app_label, model_name = t.model.split(".")
    model = ContentType.objects.get_by_natural_key(app_label, model_name).model_class()
    qs = model._default_manager.filter(pk__in=ids)
    if t.name_fields:
        qs = qs.only(*t.name_fields)
    describe = t.describe or str
    return {str(o.pk): describe(o) for o in qs}


def _resolve_names(rows: list[AuditLog]) -> dict[str, dict[str, str]]:
    """Display names of the registered objects that references in the diffs point to
    (负责人、客户、渠道 …): one query per referenced model, whatever the number of rows."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        model = _model_for(row)
        for name, pair in (row.changes or {}).items():
            f = _model_field(model, name)
            if not _is_reference(f):
                continue
            label = f.related_model._meta.label_lower
            if registry.audit_type_for_model(label) is None:
                continue
            for value in pair if isinstance(pair, list | tuple) else (pair,):
                if parse_id(value) is not None:
                    wanted[label].add(parse_id(value))
    return {
        label: _names_of(registry.audit_type_for_model(label), ids) for label, ids in wanted.items()
    }


def present(rows: Iterable[AuditLog], *, viewer=None) -> list[AuditRow]:
    """Audit rows ready to show: action and type labels, detail link, labelled diff."""
    rows = list(rows)
    names = _resolve_names(rows)
    links = {
        t.model: t.detail_url
        for t in registry.audit_types()
        if t.detail_url and has_perm(viewer, t.view_perm)
    }
    result = []
    for row in rows:
        model = _model_for(row)
        type_label = str(model._meta.verbose_name) if model is not None else ""
        url = ""
        if model is not None and parse_id(row.object_id) is not None:
            url_name = links.get(model._meta.label_lower)
            if url_name:
                url = reverse(url_name, args=[parse_id(row.object_id)])
        changes = []
        for name, pair in (row.changes or {}).items():
            old, new = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
            old_text = _format(model, name, old, names)
            new_text = _format(model, name, new, names)
            if not old_text and not new_text:
                continue  # e.g. an empty field on a create: nothing to show
            changes.append(
                Change(field=name, label=_label(model, name), old=old_text, new=new_text)
            )
        result.append(
            AuditRow(
                log=row,
                action_label=registry.action_label(row.action),
                type_label=type_label,
                url=url,
                changes=changes,
            )
        )
    return result


def history(obj: models.Model, *, viewer=None, limit: int = 50) -> list[AuditRow]:
    """The presented history of one object, newest first."""
    from .services import history_for

    return present(history_for(obj, limit=limit), viewer=viewer)


def export_rows(qs: QuerySet[AuditLog], *, batch: int = 1000) -> Iterator[AuditRow]:
    """Presented rows for an export, in batches (a few queries per batch, not per row)."""
    qs = qs[:EXPORT_MAX_ROWS]
    offset = 0
    while True:
        chunk = list(qs[offset : offset + batch])
        if not chunk:
            return
        yield from present(chunk)
        if len(chunk) < batch:
            return
        offset += batch


# --- 读取汇总 (counted reads) --------------------------------------------------------------


def tally_actions(user) -> list[str]:
    """The counted actions ``user`` may see: all for a full reader; for a scoped reader
    those whose permission it holds (registry reads: 开发运维)."""
    counted = [a for a in registry.actions() if a.counted]
    if has_perm(user, VIEW_PERM):
        return [a.code for a in counted]
    if not has_perm(user, VIEW_SCOPED_PERM):
        return []
    return [a.code for a in counted if not a.perm or has_perm(user, a.perm)]


def read_tallies(*, user, q: str = "") -> QuerySet[ReadTally]:
    """读取汇总: who read what how often, most recent first; ``q`` matches the object
    (企业号 or name) or the source (token name). Writes this process's pending counts
    first, so a read just made is there."""
    actions = tally_actions(user)
    if not actions:
        raise Forbidden()
    tally.flush()
    qs = ReadTally.objects.filter(action__in=actions).select_related("actor")
    q = (q or "").strip()[:100]
    if q:
        qs = qs.filter(
            Q(object_key__icontains=q) | Q(object_repr__icontains=q) | Q(source_label__icontains=q)
        )
    return qs.order_by("-last_at", "-id")
