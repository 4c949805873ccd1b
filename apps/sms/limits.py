"""Rate limits kept in the Django cache (Redis in production), shared by every app process.

Two kinds, both built only on atomic cache operations, so that concurrent requests in
several processes cannot exceed a limit:

- **Sliding windows** for one phone (1 per 60 s, 5 per hour, 10 per day): a window of N sends
  is N *slots*, cache keys ``<base>:0`` … ``<base>:N-1``. A send takes a free slot with
  ``cache.add`` (only one caller can create a key) and stores the slot's expiry in it; the key
  lives as long as the window. All slots taken means N sends within the window; the wait is
  until the oldest one expires. This is exact: a 6th send is refused for a full hour after the
  1st, not just until the top of the clock hour.
- **Fixed windows** for the per-IP and global caps (limits in the hundreds or thousands): one
  counter per window, ``cache.add(key, 0)`` then ``cache.incr`` (atomic on Redis and in
  local memory). A caller over the cap gives its increment back.

A request takes everything it needs in order and, when one limit refuses, gives back what it
took already, so a refused request costs the phone and the IP nothing.

Expiry times are stored in the values and compared with ``clock.now()``; the cache's own
timeouts only clean up. A slot whose stored expiry has passed while its key still exists (a
moved clock in tests, or the cache's timeout rounding) is free: it is reclaimed through a
second ``cache.add`` on a key naming that expiry, so two callers cannot both reclaim it.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

from django.core.cache import cache

from . import clock

# Cache keys, all under one prefix (the cache's KEY_PREFIX comes on top).
PREFIX = "sms"


@dataclass
class Taken:
    """What one request took, to give it back if a later limit refuses."""

    slots: list[str] = field(default_factory=list)
    counters: list[str] = field(default_factory=list)

    def give_back(self) -> None:
        if self.slots:
            cache.delete_many(self.slots)
        for key in self.counters:
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
                cache.decr(key)
        self.slots.clear()
        self.counters.clear()


def _timeout(seconds: float) -> int:
    # Keys outlive their logical expiry by a second; the stored expiry is what counts.
    return max(1, math.ceil(seconds) + 1)


def take_slot(base: str, limit: int, window: int, taken: Taken) -> float:
    """Take one of ``limit`` slots of a sliding window of ``window`` seconds.

    Returns 0 when taken (recorded in ``taken``), else the seconds until a slot frees up."""
    keys = [f"{base}:{i}" for i in range(limit)]
    for _attempt in range(3):
        t = clock.now()
        expiry = t + window
        values = cache.get_many(keys)
        for key in keys:
            if key not in values and cache.add(key, expiry, _timeout(window)):
                taken.slots.append(key)
                return 0
        for key, stored in values.items():
            if stored <= t and cache.add(f"{key}@{stored!r}", 1, _timeout(window)):
                cache.set(key, expiry, _timeout(window))
                taken.slots.append(key)
                return 0
        live = [v for v in cache.get_many(keys).values() if v > t]
        if len(live) >= limit:
            return max(min(live) - t, 1)
        # A slot was given back between our reads: look again.
    return 1


def slot_wait(base: str, limit: int) -> float:
    """Seconds until one of ``limit`` slots of ``base`` frees up (0 when one is free).
    Takes nothing."""
    t = clock.now()
    live = [v for v in cache.get_many([f"{base}:{i}" for i in range(limit)]).values() if v > t]
    return max(min(live) - t, 0) if len(live) >= limit else 0


def take_count(base: str, limit: int, window: int, taken: Taken) -> float:
    """Count one event in the current fixed window of ``window`` seconds.

    Returns 0 when within ``limit`` (recorded in ``taken``), else the seconds until the
    window ends."""
    t = clock.now()
    bucket = int(t // window)
    key = f"{base}:{bucket}"
    for _attempt in range(3):
        cache.add(key, 0, _timeout(window))
        try:
            count = cache.incr(key)
            break
        except ValueError:  # expired between add and incr
            continue
    else:
        return 1
    if count > limit:
        with contextlib.suppress(ValueError):
            cache.decr(key)
        return max((bucket + 1) * window - t, 1)
    taken.counters.append(key)
    return 0
