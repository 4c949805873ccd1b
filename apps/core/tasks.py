"""Kernel tasks: the worker's heartbeat."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .models import Heartbeat

WORKER = "worker"


@shared_task(name="core.heartbeat")
def heartbeat() -> None:
    """Record that a worker took a task off the queue just now (beat queues this)."""
    Heartbeat.objects.update_or_create(name=WORKER, defaults={"at": timezone.now()})


def worker_seen_seconds() -> float | None:
    """Seconds since a worker last ran the heartbeat; None if none ever has."""
    at = Heartbeat.objects.filter(name=WORKER).values_list("at", flat=True).first()
    return None if at is None else max(0.0, (timezone.now() - at).total_seconds())
