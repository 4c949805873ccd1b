"""Fixtures for SMS tests, loaded for every test directory (``pytest_plugins`` in the root
conftest): the cache, the clock, and ``provider`` — a local HTTP server standing in for the
SMS providers and the group robots.

``sms_cache`` gives each test a fresh local-memory cache (never ``cache.clear()``: with
REDIS_URL set that would flush a shared database). ``sms_clock`` replaces
``apps.sms.clock.now`` — the one clock the code and limit logic read — with a clock the test
moves by hand."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.sms import clock


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def sms_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"sms-test-{uuid.uuid4().hex}",
        }
    }
    settings.SMS_BACKEND = "capture"
    from django.core.cache import cache

    return cache


@pytest.fixture
def sms_clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


# --- A fake provider at the HTTP boundary (SMS gateways, group robots) -----------------------

KEY_ID = "LTAI-test-key-id"
SECRET = "s3cr3t/Key+With=Specials"


class FakeProvider:
    """Records every request; answers with ``status``/``body`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.body: bytes | dict = b"{}"
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": self.rfile.read(length).decode(),
                    }
                )
                if fake.delay:
                    time.sleep(fake.delay)
                body = fake.body
                if isinstance(body, dict):
                    body = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def last(self) -> dict:
        return self.requests[-1]


@pytest.fixture
def provider(settings):
    fake = FakeProvider()
    fake.thread.start()
    settings.SMS_ENDPOINT = fake.url
    settings.SMS_ACCESS_KEY_ID = KEY_ID
    settings.SMS_ACCESS_KEY_SECRET = SECRET
    settings.SMS_SIGN_NAME = "绘管家"
    settings.SMS_TEMPLATE_ID = "SMS_123456789"
    settings.SMS_APP_ID = "1400000001"
    settings.SMS_REGION = ""
    settings.SMS_TIMEOUT = 2
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
