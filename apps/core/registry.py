"""What each app tells the others about itself, declared once at start-up.

The kernel and the audit log know no domain app: an app registers, in its ``AppConfig.ready``,
the things other parts show about it — its audited object types (label, detail page, how to
name an instance, the customer it belongs to), the labels of its audit actions, the panels it
adds to the customer page and the checks 开通 must pass. Readers ask this registry and never
import the app. Registration is idempotent (keyed by code), so ``ready`` may run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Label = Any  # a str or a lazy translation


@dataclass(frozen=True)
class AuditType:
    """An audited model as the 操作日志 shows it."""

    code: str  # the key of the 对象类型 filter: "customer"
    label: Label  # 客户
    model: str  # app_label.model_name: "customers.customer"
    view_perm: str  # who may read its rows in a scoped 操作日志, and follow its link
    detail_url: str = ""  # URL name taking the primary key
    # Naming an instance that a diff points to (负责人 → 张三): the fields to load and how
    # to say it. Without ``describe`` the model's ``str()`` is used.
    name_fields: tuple[str, ...] = ()
    describe: Callable[[Any], str] | None = None
    # The foreign key (or "pk" for the customer itself) that ties a row to a customer, so
    # that filtering the log by a customer shows this type's rows too.
    customer_field: str = ""
    # Diff keys that are not model fields, or fields without a verbose name.
    extra_labels: Mapping[str, Label] = field(default_factory=dict)
    # For list-valued fields: a function giving {code: label} for the values.
    list_labels: Mapping[str, Callable[[], Mapping[str, Label]]] = field(default_factory=dict)
    # Fields holding GB/T 2260 region codes, shown by their names.
    region_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditAction:
    code: str
    label: Label
    # False: rows recorded against an object but shown elsewhere (e.g. 检测连接 rows about a
    # customer live in its data-source panel), left out of that object's own history.
    own_history: bool = True
    # Extra permission a scoped reader needs to see rows of this action ("" = none).
    perm: str = ""
    # Counted per reader and object (读取汇总) rather than logged row by row.
    counted: bool = False


@dataclass(frozen=True)
class CustomerPanel:
    """A card on the customer page. ``context(request, customer)`` returns the template's
    context, or None when the viewer may not see the panel."""

    code: str
    template: str
    context: Callable[[Any, Any], dict[str, Any] | None]
    order: int = 100


@dataclass(frozen=True)
class CustomerFilter:
    """A filter of the customer list that another app provides (the list page, its export
    and the API apply it): query parameter ``param``, its label and choices, the
    permission needed to use it (``perm``; "" = anyone who sees the list), and
    ``condition(value)``, a Q object, or None for a value it does not know."""

    param: str
    label: str
    choices: tuple[tuple[str, str], ...]
    condition: Callable[[str], Any]
    perm: str = ""
    order: int = 100


@dataclass(frozen=True)
class ActivationCheck:
    """A prerequisite of 开通: ``check(customer)`` returns a blocker or None."""

    code: str
    check: Callable[[Any], Any]
    order: int = 100


# Paid service periods: ``provider(customer_ids)`` → {customer id: [(start, end,
# communities), …]} of the periods that grant service (the contracts app: its open
# contracts, with their 授权小区数).
ServicePeriods = Callable[[list[int]], dict[int, list[tuple[Any, Any, Any]]]]
_service_periods: dict[str, ServicePeriods] = {}

_audit_types: dict[str, AuditType] = {}
_actions: dict[str, AuditAction] = {}
_panels: dict[str, CustomerPanel] = {}
_checks: dict[str, ActivationCheck] = {}
_customer_filters: dict[str, CustomerFilter] = {}


def register_audit_type(audit_type: AuditType) -> None:
    _audit_types[audit_type.code] = audit_type


def audit_types() -> list[AuditType]:
    return list(_audit_types.values())


def audit_type(code: str) -> AuditType | None:
    return _audit_types.get(code)


def audit_type_for_model(label_lower: str) -> AuditType | None:
    for t in _audit_types.values():
        if t.model == label_lower:
            return t
    return None


def register_actions(
    labels: Mapping[str, Label], *, own_history: bool = True, perm: str = "", counted: bool = False
) -> None:
    for code, label in labels.items():
        _actions[code] = AuditAction(
            code, label, own_history=own_history, perm=perm, counted=counted
        )


def actions() -> list[AuditAction]:
    return list(_actions.values())


def action_label(code: str) -> str:
    action = _actions.get(code)
    return str(action.label) if action else code


def register_customer_panel(panel: CustomerPanel) -> None:
    _panels[panel.code] = panel


def customer_panels() -> list[CustomerPanel]:
    return sorted(_panels.values(), key=lambda p: (p.order, p.code))


def register_customer_filter(customer_filter: CustomerFilter) -> None:
    _customer_filters[customer_filter.param] = customer_filter


def customer_filters() -> list[CustomerFilter]:
    return sorted(_customer_filters.values(), key=lambda f: (f.order, f.param))


def register_activation_check(check: ActivationCheck) -> None:
    _checks[check.code] = check


def activation_checks() -> list[ActivationCheck]:
    return sorted(_checks.values(), key=lambda c: (c.order, c.code))


@dataclass(frozen=True)
class Metric:
    """A family for ``/metrics``: ``samples()`` returns ``[(labels, value), …]``, read from
    the control database when scraped (so every process reports the same figures)."""

    name: str
    documentation: str
    samples: Callable[[], list[tuple[dict[str, str], float]]]
    kind: str = "gauge"  # gauge · counter


_metrics: dict[str, Metric] = {}


def register_metric(metric: Metric) -> None:
    _metrics[metric.name] = metric


def metrics() -> list[Metric]:
    return sorted(_metrics.values(), key=lambda m: m.name)


def register_service_periods(code: str, provider: ServicePeriods) -> None:
    _service_periods[code] = provider


def service_periods(customer_ids: list[int]) -> dict[int, list[tuple[Any, Any, Any]]]:
    """Every registered provider's periods for these customers, merged."""
    merged: dict[int, list[tuple[Any, Any, Any]]] = {}
    for provider in _service_periods.values():
        for pk, periods in provider(customer_ids).items():
            merged.setdefault(pk, []).extend(periods)
    return merged


@dataclass(frozen=True)
class Notice:
    """A message for a member of staff (到期提醒 …), handed to every registered channel.

    ``text`` is the whole message in Chinese (logs, chat, an inbox); ``params`` are the same
    facts as ordered (name, value) pairs, for channels that send a fixed template (SMS:
    Aliyun fills ``${name}`` by name, Tencent ``{1}…`` by position)."""

    recipient: Any  # a staff user
    kind: str
    text: str
    params: tuple[tuple[str, str], ...] = ()


class NoticeFailed(Exception):
    """A channel could not deliver; the message (Chinese, without secrets) says why."""


# ``send(notice)`` returns the channel's label when it delivered, None when it does not
# apply (not configured, the recipient has no address for it), or raises NoticeFailed.
Notifier = Callable[[Notice], str | None]
_notifiers: dict[str, Notifier] = {}


def register_notifier(code: str, send: Notifier) -> None:
    _notifiers[code] = send


def notify(notice: Notice) -> tuple[list[str], list[str]]:
    """Hand ``notice`` to every channel: (labels of those that delivered, failures)."""
    delivered: list[str] = []
    failed: list[str] = []
    for code in sorted(_notifiers):
        try:
            label = _notifiers[code](notice)
        except NoticeFailed as exc:
            failed.append(str(exc))
        else:
            if label:
                delivered.append(label)
    return delivered, failed


@dataclass(frozen=True)
class NoticeKind:
    """A kind of notice people may receive (通知设置 lists those whose ``perm`` they hold;
    "" = everyone)."""

    code: str
    label: Label
    perm: str = ""
    order: int = 100


_notice_kinds: dict[str, NoticeKind] = {}


def register_notice_kind(kind: NoticeKind) -> None:
    _notice_kinds[kind.code] = kind


def notice_kinds() -> list[NoticeKind]:
    return sorted(_notice_kinds.values(), key=lambda k: (k.order, k.code))


@dataclass(frozen=True)
class DailyJob:
    """Work of an app that the daily sweep (``manage.py daily_sweep`` and the beat) runs
    after the service states: ``run(now)`` is idempotent and returns how many records it
    changed; ``summary`` says it in a sentence (``%(n)d`` for that number)."""

    code: str
    run: Callable[[Any], int]
    summary: Label
    order: int = 100


_daily_jobs: dict[str, DailyJob] = {}


def register_daily_job(job: DailyJob) -> None:
    _daily_jobs[job.code] = job


def daily_jobs() -> list[DailyJob]:
    return sorted(_daily_jobs.values(), key=lambda j: (j.order, j.code))


@dataclass(frozen=True)
class MergeStep:
    """What an app does when one customer is merged into another: ``run(actor, keep,
    drop)`` moves its rows from ``drop`` to ``keep`` (or raises ``Conflict`` to refuse the
    merge) and returns what it moved in a phrase (「合同 2 份」, "" for nothing). Steps run
    in ``order`` inside the merge's transaction, refusals first."""

    code: str
    run: Callable[[Any, Any, Any], str]
    order: int = 100


_customer_merge_steps: dict[str, MergeStep] = {}


def register_customer_merge_step(step: MergeStep) -> None:
    _customer_merge_steps[step.code] = step


def customer_merge_steps() -> list[MergeStep]:
    return sorted(_customer_merge_steps.values(), key=lambda s: (s.order, s.code))
