"""The one clock of the SMS code and limit logic.

Every expiry and window is computed from ``now()`` and stored in the cached values, so tests
move time by replacing this function (``monkeypatch.setattr(clock, "now", …)``) instead of
sleeping or patching Django."""

from __future__ import annotations

import time


def now() -> float:
    return time.time()
