"""A control database that accepts TCP and never answers (a hung server, a half-open
firewall) must not hang the platform: /readyz answers 503 within a few seconds and the API
answers its JSON 503 within its connect timeout. Real gunicorn processes, pointed at a
local listener that accepts connections and never sends a byte, for each server type."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.servers import start_gunicorn, stop


class BlackHole:
    """Accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for conn in self.held:
            conn.close()


def _get(url: str, headers: dict | None = None, timeout: float = 15):
    request = urllib.request.Request(url, headers=headers or {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body, head = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, body, head = exc.code, exc.read(), dict(exc.headers)
    return status, body, head, time.monotonic() - started


@pytest.fixture(params=["postgres", "mysql"])
def server_on_a_black_hole(request, tmp_path):
    hole = BlackHole()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"{request.param}://hgj@127.0.0.1:{hole.port}/hgj",
        DB_CONNECT_TIMEOUT="2",
        VAR_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="CRITICAL",
    )
    try:
        base, process = start_gunicorn(env, tmp_path / "server.log")
        try:
            yield base
        finally:
            stop(process)
    finally:
        hole.close()


def test_readyz_answers_503_within_seconds(server_on_a_black_hole):
    status, body, _headers, took = _get(server_on_a_black_hole + "/readyz")
    assert status == 503
    assert json.loads(body) == {
        "status": "unavailable",
        "database": "down",
        "queue": "ok",
        "worker_seen_seconds": None,
    }
    assert took < 5, took


def test_api_answers_its_json_503_within_the_connect_timeout(server_on_a_black_hole):
    status, body, headers, took = _get(
        server_on_a_black_hole + "/api/v1/me", {"Authorization": "Bearer hgj_not_a_real_token"}
    )
    assert status == 503, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["code"] == "database_unavailable" and "数据库" in payload["message"]
    assert took < 8, took
