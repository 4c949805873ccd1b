"""``scripts/run.sh`` — the README's first command — prints the address it really serves,
and the links on QR posters (``PUBLIC_BASE_URL``) follow ``BIND``."""

from __future__ import annotations

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


def run_demo(tmp_path: Path, bind: str) -> tuple[str, dict[str, str]]:
    """Start run.sh with ``BIND``; return the console address it printed and the
    environment of the server it started."""
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "BIND")}
    env.update(BIND=bind, DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}")
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
        environ = (Path("/proc") / str(proc.pid) / "environ").read_bytes().split(b"\0")
        server_env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
        return address, server_env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_prints_the_address_it_binds_and_posters_follow_it(tmp_path):
    port = free_port()
    address, server_env = run_demo(tmp_path, f"127.0.0.1:{port}")
    assert address == f"http://127.0.0.1:{port}"
    assert server_env["PUBLIC_BASE_URL"] == address
    assert server_env["TWO_FACTOR_ENFORCED"] == "0"


def test_a_wildcard_bind_prints_an_address_others_can_reach(tmp_path):
    port = free_port()
    address, server_env = run_demo(tmp_path, f"0.0.0.0:{port}")
    assert "0.0.0.0" not in address and address.endswith(f":{port}")
    assert server_env["PUBLIC_BASE_URL"] == address
