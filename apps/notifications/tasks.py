"""Notification tasks: one delivery to one robot (idempotent: taken once), and the beat's
pass over deliveries whose next attempt is due."""

from __future__ import annotations

from celery import shared_task

from apps.core.tasking import RETRY


@shared_task(name="notifications.deliver", **RETRY)
def deliver(delivery_id: int) -> str:
    from .services import deliver as send

    return send(delivery_id)


@shared_task(name="notifications.resend", **RETRY)
def resend() -> int:
    from .services import resend_due

    return resend_due()


@shared_task(name="notifications.fan_out", **RETRY)
def fan_out(kind: str, text: str, user_ids: list[int], perm: str = "") -> int:
    """One notice to many people (``services.announce``); no secret travels in it."""
    from .services import fan_out as run

    return run(kind, text, user_ids, perm)
