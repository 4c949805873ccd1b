"""/metrics: Prometheus text, for allowed networks or the token only; figures read from the
control database so every process reports every worker's work; a broker that does not
answer leaves the queue depth out instead of hanging the scrape."""

from __future__ import annotations

import time

import pytest

from apps.core import context, tasking
from apps.core.models import TaskStat

pytestmark = pytest.mark.django_db


def scrape(client, **extra) -> tuple[int, str]:
    response = client.get("/metrics", **extra)
    return response.status_code, response.content.decode()


def test_metrics_for_an_allowed_network_only(client, settings):
    status, text = scrape(client)  # the test client comes from 127.0.0.1
    assert status == 200
    status, text = scrape(client, REMOTE_ADDR="10.9.9.9")
    assert status == 403 and "hgj_" not in text
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert scrape(client, REMOTE_ADDR="10.9.9.9")[0] == 200
    assert scrape(client)[0] == 403


def test_a_token_opens_metrics_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert scrape(client, **outside)[0] == 403
    assert scrape(client, HTTP_AUTHORIZATION="Bearer wrong", **outside)[0] == 403
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **outside)[0] == 200


def test_metrics_report_requests_queue_tasks_and_provisioning(client):
    client.get("/healthz")
    tasking.count_outcome("datasources.provision", "succeeded", 2.5)
    tasking.count_outcome("datasources.provision", "succeeded", 1.5)
    tasking.count_outcome("datasources.provision", "failed", 0.5)
    status, text = scrape(client)
    assert status == 200
    assert 'hgj_http_requests_total{method="GET",status="2xx"}' in text
    assert "hgj_http_request_duration_seconds_bucket" in text
    assert 'hgj_queue_depth{queue="celery"}' in text
    assert 'hgj_tasks_total{outcome="succeeded",task="datasources.provision"} 2.0' in text
    assert 'hgj_tasks_total{outcome="failed",task="datasources.provision"} 1.0' in text
    assert 'hgj_task_seconds_total{outcome="succeeded",task="datasources.provision"} 4.0' in text
    for state in ("running", "succeeded", "failed"):
        assert f'hgj_provisioning_runs{{status="{state}"}} 0.0' in text


def test_a_broker_that_never_answers_leaves_the_depth_out_in_time(client, settings):
    from celery import current_app

    from tests.test_blackhole_database import BlackHole

    hole = BlackHole()
    saved = current_app.conf.broker_url, current_app.conf.broker_transport_options
    settings.READYZ_TIMEOUT = 2
    try:
        current_app.conf.broker_url = f"redis://127.0.0.1:{hole.port}/0"
        current_app.conf.broker_transport_options = {}
        started = time.monotonic()
        status, text = scrape(client)
        took = time.monotonic() - started
    finally:
        current_app.conf.broker_url, current_app.conf.broker_transport_options = saved
        hole.close()
    assert status == 200 and took < 4, took
    assert "# TYPE hgj_queue_depth gauge" in text and 'hgj_queue_depth{queue="celery"}' not in text
    assert "hgj_tasks_total" in text


def test_outcomes_add_up_under_concurrent_first_counts():
    tasking.count_outcome("core.heartbeat", "succeeded", 0.25)
    tasking.count_outcome("core.heartbeat", "succeeded", 0.25)
    row = TaskStat.objects.get(task="core.heartbeat", outcome="succeeded")
    assert (row.count, row.seconds) == (2, 0.5)


def test_a_task_runs_in_the_context_of_the_request_that_queued_it():
    """The request id and client IP travel in the message headers, never the arguments."""

    class Request:
        def __init__(self, **headers):
            self.__dict__.update(headers)

    class Task:
        name = "datasources.provision"

        def __init__(self, request):
            self.request = request

    token = context.set_current(context.RequestContext(request_id="req-42", ip="10.1.2.3"))
    try:
        headers: dict = {}
        tasking.carry_context(headers=headers)
    finally:
        context.reset(token)
    assert headers == {"request_id": "req-42", "client_ip": "10.1.2.3"}
    task = Task(Request(**headers))
    tasking.enter(task_id="abc", task=task)
    assert context.current() == context.RequestContext(request_id="req-42", ip="10.1.2.3")
    tasking.leave(task_id="abc", task=task, state="SUCCESS")
    assert context.current().request_id == "-"
    assert TaskStat.objects.get(task="datasources.provision").outcome == "succeeded"
