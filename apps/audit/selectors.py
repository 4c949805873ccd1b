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

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.permissions import has_perm, require_perm
from apps.core.templatetags.console import ACTION_LABELS

from .models import AuditLog

VIEW_PERM = "audit.view_auditlog"

# Object types offered in the filter: code → (label, app_label, model).
OBJECT_TYPES: dict[str, tuple[Any, str, str]] = {
    "customer": (_("客户"), "customers", "customer"),
    "contract": (_("合同"), "contracts", "contract"),
    "lead": (_("客户申请"), "leads", "lead"),
    "qrchannel": (_("二维码渠道"), "leads", "qrchannel"),
    "staff": (_("员工"), "accounts", "user"),
    "token": (_("API 令牌"), "accounts", "apitoken"),
    "datasource": (_("数据源"), "datasources", "datasource"),
}

# Pseudo-action: every row of the login log (登录日志).
AUTH_ACTIONS = ("login", "logout", "login_failed")
ACTION_GROUP_AUTH = "auth"
SYSTEM_ACTOR = "system"

# Detail pages that exist for audited objects: (app_label, model) → (url name, perm).
DETAIL_URLS: dict[tuple[str, str], tuple[str, str]] = {
    ("customers", "customer"): ("customers:detail", "customers.view_customer"),
    ("contracts", "contract"): ("contracts:detail", "contracts.view_contract"),
    ("leads", "lead"): ("leads:detail", "leads.view_lead"),
    ("accounts", "user"): ("accounts:staff_edit", "accounts.manage_staff"),
}

# Diff keys that are not model fields, and fields without a verbose name.
EXTRA_LABELS: dict[tuple[str, str, str], Any] = {
    ("accounts", "user", "roles"): _("角色"),
    ("accounts", "apitoken", "created_by"): _("签发人"),
}

# Foreign keys in diffs are shown by name for these models (fields loaded, all local).
RESOLVABLE: dict[str, tuple[str, ...]] = {
    "accounts.user": ("id", "username", "name"),
    "customers.customer": ("id", "name", "enterprise_no"),
}

EXPORT_MAX_ROWS = 100_000


@dataclass
class AuditFilters:
    actor: str = ""  # a user id, or "system" for rows without a signed-in actor
    action: str = ""  # an action code, or "auth" for the login log
    object_type: str = ""  # a key of OBJECT_TYPES
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    q: str = ""  # free text on the object (name or id)


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_list(*, user, filters: AuditFilters) -> QuerySet[AuditLog]:
    """Audit rows matching ``filters``, newest first. Administrators only."""
    require_perm(user, VIEW_PERM)
    qs = AuditLog.objects.all()
    if filters.actor == SYSTEM_ACTOR:
        qs = qs.filter(actor__isnull=True)
    elif filters.actor.isdigit():
        qs = qs.filter(actor_id=int(filters.actor))
    if filters.action == ACTION_GROUP_AUTH:
        qs = qs.filter(action__in=AUTH_ACTIONS)
    elif filters.action:
        qs = qs.filter(action=filters.action)
    if filters.object_type in OBJECT_TYPES:
        _label, app_label, model = OBJECT_TYPES[filters.object_type]
        ct = ContentType.objects.get_by_natural_key(app_label, model)
        qs = qs.filter(content_type_id=ct.pk)
    if filters.date_from:
        qs = qs.filter(at__gte=_start_of(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    q = filters.q.strip()
    if q:
        qs = qs.filter(Q(object_repr__icontains=q) | Q(object_id=q))
    return qs.order_by("-at", "-id")


def actor_choices(user) -> list[tuple[str, str]]:
    """Options for the actor filter: every account (one query) and 系统."""
    from apps.accounts.models import User

    require_perm(user, VIEW_PERM)
    users = User.objects.order_by("username").only("id", "username", "name")
    return [
        (SYSTEM_ACTOR, str(_("系统（命令行、未登录）"))),
        *((str(u.pk), f"{u.username}（{u.name}）" if u.name else u.username) for u in users),
    ]


def action_choices() -> list[tuple[str, str]]:
    return [
        (ACTION_GROUP_AUTH, str(_("登录日志（登录、退出、登录失败）"))),
        *((code, str(label)) for code, label in ACTION_LABELS.items()),
    ]


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


def _list_labels(model: type[models.Model] | None, name: str) -> dict[str, str]:
    if model is None:
        return {}
    key = (model._meta.app_label, model._meta.model_name, name)
    if key == ("accounts", "user", "roles"):
        from apps.accounts.roles import ROLES

        return {code: str(role.label) for code, role in ROLES.items()}
    if key == ("accounts", "apitoken", "scopes"):
        return {code: str(label) for code, label in model.SCOPE_CHOICES}
    if key == ("customers", "customer", "modules"):
        return {code: str(label) for code, label in getattr(settings, "CUSTOMER_MODULES", [])}
    return {}


def _label(model: type[models.Model] | None, name: str) -> str:
    if model is None:
        return name
    extra = EXTRA_LABELS.get((model._meta.app_label, model._meta.model_name, name))
    if extra is not None:
        return str(extra)
    f = _model_field(model, name)
    return str(getattr(f, "verbose_name", name)) if f is not None else name


# Fields holding GB/T 2260 codes, shown by their names.
REGION_FIELDS = {("customers.customer", "province"), ("customers.customer", "city")}


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
    if f is not None and f.is_relation and f.many_to_one:
        label = f.related_model._meta.label_lower
        return names.get(label, {}).get(str(value), f"#{value}")
    if model is not None and (model._meta.label_lower, name) in REGION_FIELDS:
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
            parsed = timezone.localtime(parsed)
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict):
        return "；".join(f"{k}：{v}" for k, v in value.items())
    return str(value)


def _resolve_names(rows: list[AuditLog]) -> dict[str, dict[str, str]]:
    """Display names of the objects that foreign keys in the diffs point to: one query per
    referenced model (users, customers), whatever the number of rows."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        model = _model_for(row)
        for name, pair in (row.changes or {}).items():
            f = _model_field(model, name)
            if f is None or not (f.is_relation and f.many_to_one):
                continue
            label = f.related_model._meta.label_lower
            if label not in RESOLVABLE:
                continue
            for value in pair if isinstance(pair, list | tuple) else ():
                if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                    wanted[label].add(int(value))
    names: dict[str, dict[str, str]] = {}
    for label, ids in wanted.items():
        app_label, model_name = label.split(".")
        model = ContentType.objects.get_by_natural_key(app_label, model_name).model_class()
        objs = model._default_manager.filter(pk__in=ids).only(*RESOLVABLE[label])
        names[label] = {str(o.pk): str(o) for o in objs}
    return names


def present(rows: Iterable[AuditLog], *, viewer=None) -> list[AuditRow]:
    """Audit rows ready to show: action and type labels, detail link, labelled diff."""
    rows = list(rows)
    names = _resolve_names(rows)
    allowed = {key: has_perm(viewer, perm) for key, (_url, perm) in DETAIL_URLS.items()}
    result = []
    for row in rows:
        model = _model_for(row)
        type_label = str(model._meta.verbose_name) if model is not None else ""
        url = ""
        if model is not None and row.object_id.isdigit():
            key = (model._meta.app_label, model._meta.model_name)
            if key in DETAIL_URLS and allowed[key]:
                url = reverse(DETAIL_URLS[key][0], args=[int(row.object_id)])
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
                action_label=str(ACTION_LABELS.get(row.action, row.action)),
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
