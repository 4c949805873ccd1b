"""Queued work done by a real worker process: the task travels through the broker (kombu's
filesystem queue here), never in-process; it runs with the request id and client IP of the
action that queued it, carried in the message headers; its outcome is counted."""

from __future__ import annotations

import sqlite3

import pytest

from apps.core import context
from tests.servers import Worker, sending_to


@pytest.fixture
def worker(tmp_path):
    worker = Worker(tmp_path)
    try:
        with sending_to(worker):
            yield worker
    finally:
        worker.stop()


def test_a_queued_task_runs_in_the_worker_with_the_request_that_queued_it(worker):
    from apps.core.tasks import heartbeat

    token = context.set_current(context.RequestContext(request_id="req-7f3a9c", ip="10.8.0.5"))
    try:
        result = heartbeat.delay()
    finally:
        context.reset(token)
    log = worker.wait_for_log(f"Task core.heartbeat[{result.id}] succeeded")
    line = next(x for x in log.splitlines() if f"core.heartbeat[{result.id}] succeeded" in x)
    assert "[req-7f3a9c]" in line  # the worker logged with the queuing request's id
    with sqlite3.connect(worker.db) as db:
        (beats,) = db.execute("SELECT count(*) FROM core_heartbeat").fetchone()
        stat = db.execute(
            "SELECT count FROM core_taskstat WHERE task = ? AND outcome = ?",
            ("core.heartbeat", "succeeded"),
        ).fetchone()
    assert beats == 1 and stat == (1,)
