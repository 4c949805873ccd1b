"""Fixtures for SMS code tests (imported by the test modules that need them).

``sms_cache`` gives each test a fresh local-memory cache (never ``cache.clear()``: with
REDIS_URL set that would flush a shared database). ``sms_clock`` replaces
``apps.sms.clock.now`` — the one clock the code and limit logic read — with a clock the test
moves by hand."""

from __future__ import annotations

import uuid

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
