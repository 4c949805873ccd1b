"""What every task gets from the kernel, whichever app defines it:

- the **request context** of the action that queued it: the request id and client IP travel
  in the message headers (never in the arguments), so the task's log lines and audit rows
  carry the id of the click that caused them;
- **one retry policy** (``RETRY``): a control database that does not answer is a passing
  fault, retried with exponential backoff — every task is idempotent;
- **outcome statistics** per task — how many succeeded, failed or were retried and the time
  they took — kept in the control database (``TaskStat``), so ``/metrics`` reports every
  worker on every machine, not only the process that is scraped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F

from . import context

log = logging.getLogger(__name__)

RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,  # 2, 4, 8 … seconds
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}

_started: dict[str, tuple[float, Any]] = {}
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


def carry_context(headers: dict | None = None, **_kwargs: Any) -> None:
    """Put the current request's id and client IP in the message's headers."""
    if headers is None:
        return
    ctx = context.current()
    headers.setdefault("request_id", ctx.request_id)
    headers.setdefault("client_ip", ctx.ip or "")


def enter(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    request = getattr(task, "request", None)
    request_id = getattr(request, "request_id", None) or f"task-{task_id[:8]}"
    ip = getattr(request, "client_ip", None) or None
    token = context.set_current(context.RequestContext(request_id=request_id, ip=ip))
    _started[task_id] = (time.monotonic(), token)


def leave(task_id: str = "", task: Any = None, state: str | None = None, **_kwargs: Any) -> None:
    started, token = _started.pop(task_id, (None, None))
    if token is not None:
        context.reset(token)
    if started is not None and task is not None:
        outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
        try:
            count_outcome(task.name, outcome, time.monotonic() - started)
        except Exception:  # statistics must never fail a task
            log.warning("could not record the outcome of %s", task.name, exc_info=True)


def connect() -> None:
    """Connect the handlers above to Celery's signals (the core app's ``ready``)."""
    signals.before_task_publish.connect(carry_context, dispatch_uid="core.tasking.carry_context")
    signals.task_prerun.connect(enter, dispatch_uid="core.tasking.enter")
    signals.task_postrun.connect(leave, dispatch_uid="core.tasking.leave")


def count_outcome(task: str, outcome: str, seconds: float) -> None:
    """Add one ``outcome`` of ``task`` that took ``seconds`` (one UPDATE; an INSERT the
    first time, safe against a concurrent first)."""
    from .models import TaskStat

    key = {"task": task[:100], "outcome": outcome[:20]}
    change = {"count": F("count") + 1, "seconds": F("seconds") + seconds}
    with transaction.atomic():
        if TaskStat.objects.filter(**key).update(**change):
            return
        try:
            with transaction.atomic():
                TaskStat.objects.create(**key, count=1, seconds=seconds)
        except IntegrityError:
            TaskStat.objects.filter(**key).update(**change)
