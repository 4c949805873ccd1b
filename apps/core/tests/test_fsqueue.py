"""The single-machine queue never hands a worker a half-written message: four processes
publish while this one consumes, and every message arrives whole, exactly once."""

from __future__ import annotations

import importlib
import multiprocessing
import time

from kombu import Connection

PER_PUBLISHER = 300
PUBLISHERS = 4


def _options(root) -> dict[str, str | bool]:
    return {
        "data_folder_in": str(root),
        "data_folder_out": str(root),
        "store_processed": False,
        "polling_interval": 0.001,
    }


def _publish(root, publisher: int) -> None:
    # A forked child: it has the alias the parent registered.
    with Connection("filesystem://", transport_options=_options(root)) as conn:
        queue = conn.SimpleQueue("q")
        body = "数" * 20_000  # large enough that a write is not one syscall's worth
        for i in range(PER_PUBLISHER):
            queue.put({"p": publisher, "i": i, "body": body})
        queue.close()


def test_concurrent_publishers_never_lose_a_message(tmp_path):
    importlib.import_module("config.celery")  # registers filesystem:// (as every process does)

    with Connection("filesystem://", transport_options=_options(tmp_path)) as conn:
        assert type(conn.transport).__module__ == "apps.core.fsqueue"
        queue = conn.SimpleQueue("q")
        ctx = multiprocessing.get_context("fork")
        procs = [ctx.Process(target=_publish, args=(tmp_path, p)) for p in range(PUBLISHERS)]
        for proc in procs:
            proc.start()
        seen: set[tuple[int, int]] = set()
        deadline = time.monotonic() + 120
        while len(seen) < PER_PUBLISHER * PUBLISHERS and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                continue
            payload = message.payload
            assert len(payload["body"]) == 20_000
            key = (payload["p"], payload["i"])
            assert key not in seen
            seen.add(key)
            message.ack()
        for proc in procs:
            proc.join(timeout=30)
            assert proc.exitcode == 0
        queue.close()
    assert len(seen) == PER_PUBLISHER * PUBLISHERS
    assert not list(tmp_path.glob("*.part"))
