"""Customer tasks: the daily sweep of service states (beat, once a day). Idempotent: a
retry or a second delivery moves nothing more."""

from __future__ import annotations

from celery import shared_task

from apps.core.tasking import RETRY


@shared_task(name="customers.daily_sweep", **RETRY)
def daily_sweep() -> dict[str, int]:
    from .lifecycle import daily_sweep as sweep

    return dict(sweep())
