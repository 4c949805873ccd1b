"""Customer tasks: the daily sweep of service states and its 到期提醒 (beat, once a day).
Idempotent: a retry or a second delivery moves and sends nothing more."""

from __future__ import annotations

from celery import shared_task

from apps.core.tasking import RETRY


@shared_task(name="customers.daily_sweep", **RETRY)
def daily_sweep() -> dict[str, dict[str, int]]:
    from .lifecycle import daily, other_daily_jobs

    moves, reminders = daily()
    others = {code: n for code, n, _text in other_daily_jobs()}
    return {"moves": dict(moves), "reminders": dict(reminders), "others": others}
