"""Real gunicorn servers for tests that cross process boundaries (shared Redis limits, a
control database that never answers): start one on a free local port, wait until it
answers /healthz, stop it."""

from __future__ import annotations

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
