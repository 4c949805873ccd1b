"""``/metrics`` in the Prometheus text format: the web requests of this process (or of every
process on the machine with ``PROMETHEUS_MULTIPROC_DIR``), and the platform's figures read
when scraped — queue depth, task outcomes and durations from every worker, the workers'
heartbeat, and what apps register (provisioning runs)."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import registry
from .clientip import client_ip

REQUESTS = Counter("hgj_http_requests", "HTTP requests answered", ["method", "status"])
LATENCY = Histogram(
    "hgj_http_request_duration_seconds",
    "Time to answer an HTTP request",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    """Count every answered request by method and status class, and time it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path != "/metrics":
            LATENCY.observe(time.perf_counter() - started)
            REQUESTS.labels(request.method or "-", f"{response.status_code // 100}xx").inc()
        return response


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="metrics")


def _ask_queue_depth() -> int | None:
    from celery import current_app

    queue = current_app.conf.task_default_queue or "celery"
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_TIMEOUT)
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:
        return None


def queue_depth() -> int | None:
    """Messages waiting in the default queue; None when the broker cannot tell within
    ``READYZ_TIMEOUT`` (a broker that never answers does not hang the scrape)."""
    try:
        return _pool.submit(_ask_queue_depth).result(timeout=settings.READYZ_TIMEOUT)
    except FutureTimeout:
        return None


class PlatformCollector:
    """The figures every process reports alike, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        from .models import TaskStat
        from .tasks import worker_seen_seconds

        depth = queue_depth()
        family = GaugeMetricFamily(
            "hgj_queue_depth", "Tasks waiting in the queue", labels=["queue"]
        )
        if depth is not None:
            family.add_metric(["celery"], depth)
        yield family
        done = CounterMetricFamily("hgj_tasks", "Tasks finished", labels=["task", "outcome"])
        took = CounterMetricFamily(
            "hgj_task_seconds", "Time spent in finished tasks", labels=["task", "outcome"]
        )
        for row in TaskStat.objects.order_by("task", "outcome"):
            done.add_metric([row.task, row.outcome], row.count)
            took.add_metric([row.task, row.outcome], row.seconds)
        yield done
        yield took
        seen = worker_seen_seconds()
        heartbeat = GaugeMetricFamily(
            "hgj_worker_heartbeat_age_seconds", "Seconds since a worker last ran the heartbeat"
        )
        if seen is not None:
            heartbeat.add_metric([], seen)
        yield heartbeat
        for metric in registry.metrics():
            kind = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            samples = metric.samples()
            labels = sorted({key for sample_labels, _ in samples for key in sample_labels})
            family = kind(metric.name, metric.documentation, labels=labels)
            for sample_labels, value in samples:
                family.add_metric([sample_labels.get(k, "") for k in labels], value)
            yield family


def allowed(request: HttpRequest) -> bool:
    """From a network in ``METRICS_ALLOWED_NETWORKS`` (the real client IP, behind trusted
    proxies), or with ``Authorization: Bearer <METRICS_TOKEN>`` when a token is set."""
    import hmac

    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        ip = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS
    )


def render() -> bytes:
    web: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        web = CollectorRegistry()
        multiprocess.MultiProcessCollector(web)
    platform = CollectorRegistry()
    platform.register(PlatformCollector())
    return generate_latest(web) + generate_latest(platform)
