"""The task queue: ``celery -A config worker`` and ``celery -A config beat``.

Configured from Django's settings (``CELERY_*``). The broker is Redis or RabbitMQ in
production (``CELERY_BROKER_URL``); the README's run command uses kombu's filesystem
transport under ``TASK_QUEUE_DIR``, which needs no server — real queued work either way,
never eager execution."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# filesystem:// is kombu's transport with each message written whole before a worker can
# see it (kombu's own lets a worker read a half-written file and lose the task).
TRANSPORT_ALIASES["filesystem"] = "apps.core.fsqueue:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
