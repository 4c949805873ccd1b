"""Real gunicorn servers for tests that cross process boundaries (shared Redis limits, a
control database that never answers): start one on a free local port, wait until it
answers /healthz, stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    env: dict[str, str], log: Path, *, timeout: int = 30
) -> tuple[str, subprocess.Popen]:
    """A one-worker, four-thread gunicorn on 127.0.0.1; returns its base URL and process
    once /healthz answers (the test fails with the server's log otherwise)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
            "--timeout", "60",
        ],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return base, process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def control_database_url() -> str:
    """The URL of the control database this test run uses (the test database), so that a
    worker process reads and writes what the test sees (tests with ``transaction=True``)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    scheme = "mysql" if connection.vendor == "mysql" else "postgres"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"{scheme}://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT']}/{s['NAME']}"


class Worker:
    """A real Celery worker process on its own filesystem queue. Its control database is
    ``database_url`` (the test's, see ``control_database_url``) or, by default, a SQLite
    file of its own, migrated here (``db``)."""

    def __init__(
        self,
        root: Path,
        *,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.root = root
        self.db = root / "worker.sqlite3"
        self.queue = root / "queue"
        self.log = root / "worker.log"
        dropped = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        self.env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env.update(
            DATABASE_URL=database_url or f"sqlite:///{self.db}",
            VAR_DIR=str(root),
            TASK_QUEUE_DIR=str(self.queue),
            **(env or {}),
        )
        if database_url is None:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=Path(settings.BASE_DIR), env=self.env, check=True, timeout=120,
            )  # fmt: skip
        for folder in ("messages", "processed", "control"):
            (self.queue / folder).mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.concurrency = 1
        if start:
            self.start()

    def start(self) -> None:
        """Start the worker process (messages published before wait in its queue)."""
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                "--concurrency", str(self.concurrency), "--without-gossip", "--without-mingle",
            ],
            cwd=Path(settings.BASE_DIR), env=self.env,
            stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.wait_for_log("ready.")

    def wait_for_log(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log.read_text()
            if text in log:
                return log
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"worker exited:\n{log[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"worker log never showed {text!r}:\n{self.log.read_text()[-3000:]}")

    def broker_options(self) -> dict[str, str | bool]:
        return {
            "data_folder_in": str(self.queue / "messages"),
            "data_folder_out": str(self.queue / "messages"),
            "processed_folder": str(self.queue / "processed"),
            "control_folder": str(self.queue / "control"),
            "store_processed": False,
        }

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as when its machine dies:
        nothing of it runs a line more."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def sending_to(worker: Worker | None, *, broker_url: str = "") -> Iterator[None]:
    """Make this process's Celery app publish to ``worker``'s queue for the block — or,
    with None, to an in-memory queue nobody consumes (a queued run stays queued), or to
    ``broker_url``. The connection pools are dropped on the way in and out, or they would
    keep publishing to the queue they first opened."""
    from celery import current_app

    def reset_pools() -> None:
        current_app._pool = None
        current_app.amqp._producer_pool = None

    saved = current_app.conf.broker_url, current_app.conf.broker_transport_options
    url = broker_url or ("filesystem://localhost/" if worker else "memory://")
    current_app.conf.broker_url = url
    current_app.conf.broker_transport_options = worker.broker_options() if worker else {}
    reset_pools()
    try:
        yield
    finally:
        current_app.conf.broker_url, current_app.conf.broker_transport_options = saved
        reset_pools()
