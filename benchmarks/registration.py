#!/usr/bin/env python
"""Public registration benchmark: how many applications per second does the platform take?

Starts a real gunicorn server (the project's WSGI app, one throw-away control database, a
throw-away key prefix in Redis, SMS_BACKEND=capture) and drives it over HTTP from client
threads with keep-alive connections:

- **bare view**: ``POST /__bench__/bare/`` behind the same middleware, answering ``ok`` —
  the floor of any request on this server;
- **registration flow**, once per new phone: ``POST /api/v1/public/sms-codes`` → read the
  code from the capture backend (Redis) → ``POST /api/v1/public/registrations``.

It prints requests per second and latencies of each, and the ratios to the bare view.
The per-IP and global SMS caps are lifted for the run (every request comes from 127.0.0.1);
the per-phone limits stay, each flow uses a phone of its own.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/registration.py
    .venv/bin/python benchmarks/registration.py --flows 2000 --concurrency 8 --workers 4
    .venv/bin/python benchmarks/registration.py --database-url postgres://postgres@127.0.0.1:5432/hgj
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE_PATH = "/__bench__/bare/"

BENCH_SETTINGS = """
from config.settings import *  # noqa: F403

ROOT_URLCONF = "hgj_bench_urls"
"""

BENCH_URLS = """
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

import config.urls
from config.urls import handler403, handler404, handler500  # noqa: F401


@csrf_exempt
@login_not_required
def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("__bench__/bare/", bare), *config.urls.urlpatterns]
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=1000, help="registrations to run")
    parser.add_argument("--bare", type=int, default=0, help="bare requests (default: 2×flows)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--database-url",
        default="",
        help="server for the control database (a new database <name>_bench is created "
        "there); default: a temporary SQLite file",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3"),
        help="Redis shared by the server's workers and this script",
    )
    return parser.parse_args(argv)


# --- Set-up ----------------------------------------------------------------------------------


def create_database(args: argparse.Namespace, tmp: Path) -> tuple[str, str]:
    """Create and migrate the benchmark database; returns (its URL, the original NAME)."""
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'control.sqlite3'}"
    os.environ["VAR_DIR"] = str(tmp)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    settings_dict = connection.settings_dict
    original = settings_dict["NAME"]
    test = settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test["NAME"] = str(tmp / "bench.sqlite3")
    else:
        test["NAME"] = f"{original}_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}", original
    parts = urllib.parse.urlsplit(args.database_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), original


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, tmp: Path, database_url: str, prefix: str) -> tuple[subprocess.Popen, int]:
    (tmp / "hgj_bench_settings.py").write_text(BENCH_SETTINGS)
    (tmp / "hgj_bench_urls.py").write_text(BENCH_URLS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"TEST_DATABASE_NAME", "PRODUCTION"}}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="hgj_bench_settings",
        PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT)]),
        REDIS_URL=args.redis_url,
        CACHE_KEY_PREFIX=prefix,
        SMS_BACKEND="capture",
        SMS_IP_PER_HOUR="100000000",
        SMS_IP_PER_DAY="100000000",
        SMS_GLOBAL_PER_HOUR="100000000",
        SMS_GLOBAL_PER_DAY="100000000",
        LOG_LEVEL="WARNING",
        VAR_DIR=str(tmp),
        STATIC_ROOT=str(tmp / "static"),
    )
    log = (tmp / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{(tmp / 'server.log').read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start within 30 s")


# --- Load ------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection per client thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        payload = json.dumps(body or {}).encode()
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request("POST", path, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data, time.perf_counter() - started
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def run(concurrency: int, total: int, work) -> tuple[float, dict[str, list[float]], dict]:
    """Run ``work(client, i, timings, statuses)`` for i in range(total) over client threads."""
    counter = iter(range(total))
    lock = threading.Lock()
    timings: dict[str, list[float]] = {}
    statuses: dict[str, dict[int, int]] = {}
    port = run.port  # type: ignore[attr-defined]

    def loop():
        client = Client(port)
        local_t: dict[str, list[float]] = {}
        local_s: dict[str, dict[int, int]] = {}
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            work(client, i, local_t, local_s)
        with lock:
            for k, v in local_t.items():
                timings.setdefault(k, []).extend(v)
            for k, v in local_s.items():
                for status, n in v.items():
                    statuses.setdefault(k, {}).setdefault(status, 0)
                    statuses[k][status] += n

    threads = [threading.Thread(target=loop) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, timings, statuses


def note(store: dict, key: str, value) -> None:
    store.setdefault(key, []).append(value)


def count(store: dict, key: str, status: int) -> None:
    store.setdefault(key, {}).setdefault(status, 0)
    store[key][status] += 1


def bare_work(client, i, timings, statuses):
    status, _body, seconds = client.post(BARE_PATH)
    note(timings, "bare", seconds)
    count(statuses, "bare", status)


def phone_of(base: int, i: int) -> str:
    return f"1{base + i:010d}"


def make_send_work(phone_base: int):
    def work(client, i, timings, statuses):
        status, _body, seconds = client.post(
            "/api/v1/public/sms-codes", {"phone": phone_of(phone_base, i)}
        )
        note(timings, "sms", seconds)
        count(statuses, "sms", status)

    return work


def make_register_work(phone_base: int, codes: dict[int, str]):
    def work(client, i, timings, statuses):
        status, _body, seconds = client.post(
            "/api/v1/public/registrations",
            {
                "name": f"压测{i}",
                "phone": phone_of(phone_base, i),
                "code": codes.get(i) or "000000",
                "company": "压测物业",
            },
        )
        note(timings, "register", seconds)
        count(statuses, "register", status)

    return work


def make_flow_work(shared, phone_base: int):
    send = make_send_work(phone_base)

    def work(client, i, timings, statuses):
        started = time.perf_counter()
        send(client, i, timings, statuses)
        read = time.perf_counter()
        code = shared.get(f"sms:capture:+86{phone_of(phone_base, i)}")
        note(timings, "read", time.perf_counter() - read)
        make_register_work(phone_base, {i: code})(client, i, timings, statuses)
        note(timings, "flow", time.perf_counter() - started)

    return work


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import redis

    redis_client = redis.Redis.from_url(args.redis_url)
    try:
        redis_client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is needed at {args.redis_url}: {exc}") from None
    tmp = Path(tempfile.mkdtemp(prefix="hgj-bench-reg-"))
    prefix = f"hgj-bench-{uuid.uuid4().hex[:12]}"
    database_url, original = create_database(args, tmp)
    process = None
    try:
        from django.core.cache.backends.redis import RedisCache
        from django.db import connection

        shared = RedisCache(args.redis_url, {"KEY_PREFIX": prefix})
        process, port = start_server(args, tmp, database_url, prefix)
        run.port = port  # type: ignore[attr-defined]
        # Warm up every worker's imports, connections and templates.
        run(args.concurrency, 4 * args.workers, bare_work)
        run(args.concurrency, 4 * args.workers, make_flow_work(shared, 3_500_000_000))

        n, c = args.flows, args.concurrency
        bare_n = args.bare or 2 * n
        bare_s, bare_t, bare_st = run(c, bare_n, bare_work)
        # Each endpoint on its own, then the whole flow, each with phones of its own.
        send_s, send_t, send_st = run(c, n, make_send_work(3_600_000_000))
        codes = {i: shared.get(f"sms:capture:+86{phone_of(3_600_000_000, i)}") for i in range(n)}
        reg_s, reg_t, reg_st = run(c, n, make_register_work(3_600_000_000, codes))
        flow_s, flow_t, flow_st = run(c, n, make_flow_work(shared, 3_700_000_000))

        from apps.leads.models import Lead

        leads = Lead.objects.count()
        bare_rps = bare_n / bare_s
        print(
            f"Registration benchmark · {connection.vendor} control database · Redis cache · "
            f"gunicorn {args.workers} worker(s) × {args.threads} thread(s) · "
            f"{c} client threads, keep-alive"
        )
        print(f"{n} phones per scenario · {bare_n} bare requests")
        print()
        header = (
            f"{'scenario':<46} {'count':>6} {'statuses':<12} {'per s':>7} {'p50 ms':>7} "
            f"{'p95 ms':>7} {'× bare per s':>12} {'× bare p50':>10}"
        )
        print(header)
        print("-" * len(header))
        bare_p50 = pct(bare_t["bare"], 0.5)

        def line(label, count_, sts, seconds, times):
            st = ",".join(f"{k}×{v}" for k, v in sorted(sts.items())) if sts else "-"
            rate = count_ / seconds if seconds else 0
            rate_text = f"{rate:7.0f}" if seconds else f"{'-':>7}"
            ratio = f"{bare_rps / rate:12.1f}" if seconds else f"{'-':>12}"
            p50 = pct(times, 0.5)
            print(
                f"{label:<46} {count_:>6} {st:<12} {rate_text} {p50:>7.2f} "
                f"{pct(times, 0.95):>7.2f} {ratio} {p50 / bare_p50:>10.1f}"
            )

        line("bare view   POST /__bench__/bare/", bare_n, bare_st["bare"], bare_s, bare_t["bare"])
        line("send code   POST /api/v1/public/sms-codes", n, send_st["sms"], send_s, send_t["sms"])
        line(
            "register    POST /api/v1/public/registrations",
            n,
            reg_st["register"],
            reg_s,
            reg_t["register"],
        )
        line("flow: send → read capture → register", n, {}, flow_s, flow_t["flow"])
        line("  of which send code", n, flow_st["sms"], 0, flow_t["sms"])
        line("  of which reading the code (client)", n, {}, 0, flow_t["read"])
        line("  of which register", n, flow_st["register"], 0, flow_t["register"])
        print()
        print(
            f"registrations per second (whole flow): {n / flow_s:.1f}; "
            f"bare view requests per second: {bare_rps:.1f}"
        )
        print(f"leads in the database afterwards: {leads} (warm-up included)")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            redis_client.delete(*keys[start : start + 1000])
        from django.db import connection

        connection.creation.destroy_test_db(original, verbosity=0)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
