"""Real gunicorn servers for tests that cross process boundaries (shared Redis limits, a
control database that never answers): start one on a free local port, wait until it
answers /healthz, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
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


class Worker:
    """A real Celery worker process on its own filesystem queue and its own migrated SQLite
    control database (``db``), for tests of queued work that need no other server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "worker.sqlite3"
        self.queue = root / "queue"
        self.log = root / "worker.log"
        dropped = {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
        self.env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env.update(
            DATABASE_URL=f"sqlite:///{self.db}", VAR_DIR=str(root), TASK_QUEUE_DIR=str(self.queue)
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=Path(settings.BASE_DIR), env=self.env, check=True, timeout=120,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
                "--concurrency", "1", "--without-gossip", "--without-mingle",
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
            if self.process.poll() is not None:
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

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
