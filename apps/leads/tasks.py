"""Lead tasks: the beat's pass over call-backs that fell overdue (one notice per person)."""

from __future__ import annotations

from celery import shared_task

from apps.core.tasking import RETRY


@shared_task(name="leads.announce_overdue", **RETRY)
def announce_overdue() -> int:
    from .services import announce_overdue as run

    return run()
