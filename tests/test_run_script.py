"""``scripts/run.sh`` — the README's first command — prints the address it really serves,
the links on QR posters (``PUBLIC_BASE_URL``) follow ``BIND``, and a worker beside the
server does queued work on the filesystem queue, with no Redis or RabbitMQ."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(tmp_path: Path, bind: str, *, readyz: bool = False) -> tuple[str, dict[str, str]]:
    """Start run.sh with ``BIND``; return the console address it printed and the
    environment of the server it started. ``readyz``: also wait until /readyz reports a
    worker that has run the heartbeat beat queued, and return that answer too."""
    dropped = ("PUBLIC_BASE_URL", "BIND", "CELERY_BROKER_URL", "REDIS_URL", "TASK_QUEUE_DIR")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        BIND=bind,
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        VAR_DIR=str(tmp_path / "var"),
        HEARTBEAT_EVERY="1",
    )
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["scripts/run.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        printed = None
        while time.monotonic() < deadline and printed is None:
            assert proc.poll() is None, log.read_text()
            printed = re.search(r"控制台地址：(\S+)/ ", log.read_text())
            time.sleep(0.5)
        assert printed, log.read_text()
        address = printed.group(1)
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{address}/apply/", timeout=2) as response:
                    assert response.status == 200
                    break
            except urllib.error.HTTPError as exc:
                pytest.fail(f"{address}/apply/ answered {exc.code}")
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"nothing answers at the printed address {address}")
        server = subprocess.run(
            ["pgrep", "-o", "-f", f"manage.py runserver {bind}"], capture_output=True, text=True
        ).stdout.split()[0]
        environ = (Path("/proc") / server / "environ").read_bytes().split(b"\0")
        server_env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
        while readyz and time.monotonic() < deadline:
            with urllib.request.urlopen(f"{address}/readyz", timeout=5) as response:
                answer = json.loads(response.read())
            if answer["worker_seen_seconds"] is not None:
                server_env["READYZ"] = json.dumps(answer)
                with urllib.request.urlopen(f"{address}/metrics", timeout=5) as response:
                    server_env["METRICS"] = response.read().decode()
                break
            time.sleep(0.5)
        else:
            assert not readyz, f"no worker ran a queued task: {log.read_text()[-3000:]}"
        return address, server_env
    finally:
        proc.terminate()  # run.sh stops the server, the worker and beat
        try:
            proc.wait(timeout=40)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def test_prints_the_address_it_binds_and_posters_follow_it(tmp_path):
    port = free_port()
    address, server_env = run_demo(tmp_path, f"127.0.0.1:{port}")
    assert address == f"http://127.0.0.1:{port}"
    assert server_env["PUBLIC_BASE_URL"] == address
    assert server_env["TWO_FACTOR_ENFORCED"] == "0"


def test_the_worker_beside_the_server_does_queued_work_without_a_broker_server(tmp_path):
    """Beat queues the heartbeat on the filesystem queue under var/queue and the worker
    that run.sh started takes it off and runs it: /readyz then reports the worker."""
    _address, server_env = run_demo(tmp_path, f"127.0.0.1:{free_port()}", readyz=True)
    answer = json.loads(server_env["READYZ"])
    assert answer == {**answer, "status": "ok", "database": "ok", "queue": "ok"}
    assert answer["worker_seen_seconds"] < 30
    # The worker's outcome reached the web process through the control database.
    assert 'hgj_tasks_total{outcome="succeeded",task="core.heartbeat"}' in server_env["METRICS"]
    assert "CELERY_BROKER_URL" not in server_env  # the default: the filesystem transport
    assert list((tmp_path / "var" / "queue" / "messages").parent.iterdir())


def test_a_wildcard_bind_prints_an_address_others_can_reach(tmp_path):
    port = free_port()
    address, server_env = run_demo(tmp_path, f"0.0.0.0:{port}")
    assert "0.0.0.0" not in address and address.endswith(f":{port}")
    assert server_env["PUBLIC_BASE_URL"] == address
