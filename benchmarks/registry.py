#!/usr/bin/env python
"""Tenant registry benchmark: how many reads per second does
GET /api/v1/registry/tenants/{enterprise_no} serve, next to a bare view on the same server,
and what do a full and an incremental ``RegistryClient.sync()`` of the feed cost?

Creates a temporary SQLite control database with N tenants (customers with a data source),
a registry token, then starts the app under gunicorn (gthread workers, keep-alive) with
benchmarks/registry_settings.py — the product's settings plus a bare view at
/__bench__/bare/ behind the same middleware — and drives it from concurrent client threads,
each with its own keep-alive connection (http.client). Scenarios:

- bare view (baseline): a view that returns a fixed 11-byte JSON body;
- registry 200: a random tenant, with the token (decrypts the password; the read is counted
  in the process, written to 读取汇总 in batches);
- registry 304: the same with If-None-Match (no decryption);
- the same two with the per-process token cache off (REGISTRY_TOKEN_CACHE_SECONDS=0), on a
  second server start, to show what looking the token up on every request costs;
- the feed: a full ``sync()`` of every tenant (pages of ``--page-size``) next to the raw
  query of the same rows through the driver, an idle poll (304) and an incremental sync of
  10 changed tenants, next to one request of the bare view.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/registry.py
    .venv/bin/python benchmarks/registry.py --tenants 5000 --seconds 10 --clients 16
    .venv/bin/python benchmarks/registry.py --database-url postgres://postgres@127.0.0.1:5432/hgj
    .venv/bin/python benchmarks/registry.py --database-url mysql://root@127.0.0.1:3306/hgj

With ``--database-url`` the control database is a new database ``<name>_regbench`` on that
server (created, then dropped at the end) instead of a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE = "/__bench__/bare/"
REGISTRY = "/api/v1/registry/tenants/"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10000, help="tenants to load")
    parser.add_argument("--page-size", type=int, default=500, help="feed page size for sync()")
    parser.add_argument("--syncs", type=int, default=5, help="full syncs timed (median kept)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="untimed seconds first")
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds per scenario (best is kept)"
    )
    parser.add_argument(
        "--no-uncached", action="store_true", help="skip the run without the token cache"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="postgres://… or mysql://…: run on a new database <name>_regbench there",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


# --- Set-up ----------------------------------------------------------------------------------


def server_database(url: str, *, create: bool) -> str:
    """Create (or drop) the benchmark's own database on the server named by ``url``;
    returns its URL."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    name = parts.path.strip("/") + "_regbench"
    if parts.scheme.startswith("postgres"):
        import psycopg

        with psycopg.connect(
            host=parts.hostname, port=parts.port or 5432, user=parts.username,
            password=parts.password or None, dbname="postgres", autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                conn.execute(f'CREATE DATABASE "{name}"')
    elif parts.scheme.startswith("mysql"):
        import pymysql

        conn = pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username,
            password=parts.password or "", autocommit=True,
        )  # fmt: skip
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            if create:
                cur.execute(
                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        conn.close()
    else:
        raise SystemExit("--database-url must be postgres://… or mysql://…")
    return urlunsplit(parts._replace(path="/" + name))


def setup_django(tmpdir: str, database_url: str = "") -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite:///{tmpdir}/registry-bench.sqlite3",
        "DJANGO_SETTINGS_MODULE": "benchmarks.registry_settings",
        "VAR_DIR": tmpdir,
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return env


def load(tenants: int) -> tuple[str, list[str]]:
    """Migrate, then bulk-load the tenants and a registry token; returns (token, numbers)."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from apps.accounts.models import ApiToken, User
    from apps.core import crypto
    from apps.core.models import Sequence
    from apps.customers.models import Customer
    from apps.customers.services import REGISTRY_SEQUENCE
    from apps.datasources.models import DataSource

    call_command("migrate", verbosity=0)
    modules = ["property", "repair", "community"]
    now = timezone.now()
    numbers = [f"HGJ{100001 + i}" for i in range(tenants)]
    with transaction.atomic():
        Customer.objects.bulk_create(
            [
                Customer(
                    enterprise_no=no,
                    name=f"基准物业{i:05d}",
                    status=Customer.Status.OPEN,
                    modules=modules,
                    contact_name="王经理",
                    contact_phone="13800138000",
                    registry_seq=i + 1,  # listed in the feed, as provisioning does
                    registry_changed_at=now,
                )
                for i, no in enumerate(numbers)
            ],
            batch_size=2000,
        )
        ids = dict(Customer.objects.values_list("enterprise_no", "pk"))
        DataSource.objects.bulk_create(
            [
                DataSource(
                    customer_id=ids[no],
                    name=f"DS-{no}-1",
                    database=f"hgj{no[3:]}_1",
                    db_type="mysql" if i % 4 else "postgresql",
                    host=f"192.0.2.{i % 200 + 1}",
                    port=3306 if i % 4 else 5432,
                    username=f"tenant_{no.lower()}",
                    password_encrypted=crypto.encrypt(f"Bench#{no}x"),
                    max_connections=20,
                    min_connections=2,
                    impl_status=i % 3,
                    configured_at=now,
                )
                for i, no in enumerate(numbers)
            ],
            batch_size=2000,
        )
        Sequence.objects.update_or_create(name=REGISTRY_SEQUENCE, defaults={"value": tenants})
        machine = User.objects.create_user(username="bizsys", name="业务系统")
        raw = "hgj_" + secrets.token_urlsafe(32)
        ApiToken.objects.create(
            name="基准测试",
            user=machine,
            prefix=raw[:8],
            key_hash=ApiToken.hash_key(raw),
            scopes=[ApiToken.SCOPE_REGISTRY],
        )
    from django.db import connection

    connection.close()
    return raw, numbers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving the benchmark settings on a free local port."""

    def __init__(self, env: dict[str, str], args: argparse.Namespace, cache_seconds: str) -> None:
        self.port = free_port()
        self.env = {**env, "REGISTRY_TOKEN_CACHE_SECONDS": cache_seconds}
        self.args = args
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        cmd = [
            sys.executable, "-m", "gunicorn", "config.wsgi",
            "--chdir", str(ROOT), "--pythonpath", str(ROOT),
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.args.workers),
            "--worker-class", "gthread", "--threads", str(self.args.threads),
            "--keep-alive", "30", "--log-level", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise SystemExit("gunicorn did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# --- Load ------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def drive(
    port: int, label: str, make_request, args: argparse.Namespace, seed: int = 2026
) -> Result:
    """``args.clients`` threads, each with a keep-alive connection, for warm-up + seconds."""
    result = Result(label)
    lock = threading.Lock()
    start_timing = time.monotonic() + args.warmup
    stop = start_timing + args.seconds

    def client(n: int) -> None:
        rng = random.Random(seed + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies, statuses, count = [], {}, 0
        while True:
            now = time.monotonic()
            if now >= stop:
                break
            path, headers = make_request(rng)
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = 0
            elapsed = time.perf_counter() - t0
            if now >= start_timing:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                count += 1
        conn.close()
        with lock:
            result.requests += count
            result.latencies.extend(latencies)
            for k, v in statuses.items():
                result.statuses[k] = result.statuses.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = args.seconds
    return result


def etags_for(port: int, token: str, numbers: list[str]) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    tags = {}
    for no in numbers:
        conn.request("GET", REGISTRY + no, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        tags[no] = response.getheader("ETag")
    conn.close()
    return tags


def scenarios(port: int, token: str, numbers: list[str], args: argparse.Namespace, tag: str):
    auth = {"Authorization": f"Bearer {token}"}
    sample = numbers[: min(len(numbers), 500)]
    tags = etags_for(port, token, sample)

    def bare(rng: random.Random) -> tuple[str, dict[str, str]]:
        return BARE, {}

    def fetch(rng: random.Random) -> tuple[str, dict[str, str]]:
        return REGISTRY + rng.choice(numbers), auth

    def revalidate(rng: random.Random) -> tuple[str, dict[str, str]]:
        no = rng.choice(sample)
        return REGISTRY + no, {**auth, "If-None-Match": tags[no]}

    plan = [
        ("bare view (baseline)", bare),
        (f"registry 200{tag}", fetch),
        (f"registry 304 (If-None-Match){tag}", revalidate),
    ]
    best: dict[str, Result] = {}
    for round_no in range(args.rounds):  # interleaved rounds, best kept: less noise
        for label, make in plan:
            result = drive(port, label, make, args, seed=2026 + round_no)
            if label not in best or result.rps > best[label].rps:
                best[label] = result
    return [best[label] for label, _make in plan]


@dataclass
class Feed:
    tenants: int
    full_ms: float
    full_requests: int
    raw_ms: float
    idle_ms: float
    incremental_ms: float
    incremental_requests: int
    bare_ms: float


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def feed_figures(port: int, token: str, args: argparse.Namespace) -> Feed:
    """Full syncs, idle polls and incremental syncs of 10 changes through RegistryClient,
    with their baselines: the raw query of the same rows (and decrypting them) through the
    driver, and one request of the bare view."""
    from django.db import connection

    from apps.core import crypto
    from apps.customers.models import Customer
    from apps.customers.services import registry_changed
    from apps.datasources.client import RegistryClient

    base = f"http://127.0.0.1:{port}"
    client = RegistryClient(base, token, timeout=120, page_size=args.page_size)
    full, requests = [], 0
    for _ in range(args.syncs):
        before = client.requests_sent
        t0 = time.perf_counter()
        result = client.sync(full=True)
        full.append((time.perf_counter() - t0) * 1000)
        requests = client.requests_sent - before
    assert result.total == args.tenants, result

    columns = (
        "c.enterprise_no, c.name, c.status, c.modules, d.name, d.db_type, d.host, d.port, "
        "d.database, d.username, d.password_encrypted, d.min_connections, "
        "d.max_connections, d.impl_status, c.registry_seq"
    )
    sql = (
        f"SELECT {columns} FROM customers_customer c "
        "JOIN datasources_datasource d ON d.customer_id = c.id ORDER BY c.registry_seq"
    )
    raw = []
    for _ in range(args.syncs):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        for row in rows:
            crypto.decrypt(row[10])
        raw.append((time.perf_counter() - t0) * 1000)

    idle = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert client.sync().changed == 0
        idle.append((time.perf_counter() - t0) * 1000)

    ids = list(Customer.objects.values_list("pk", flat=True))
    rng = random.Random(2026)
    incremental, inc_requests = [], 0
    for _ in range(10):
        registry_changed(rng.sample(ids, 10))
        before = client.requests_sent
        t0 = time.perf_counter()
        result = client.sync()
        incremental.append((time.perf_counter() - t0) * 1000)
        inc_requests = client.requests_sent - before
        assert result.changed == 10, result

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    bare = []
    for _ in range(50):
        t0 = time.perf_counter()
        conn.request("GET", BARE)
        conn.getresponse().read()
        bare.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return Feed(
        args.tenants, median(full), requests, median(raw), median(idle), median(incremental),
        inc_requests, median(bare),
    )  # fmt: skip


def tallies() -> tuple[int, int]:
    """(rows, reads) of 读取汇总 for the registry: what the servers wrote in batches."""
    from django.db.models import Sum

    from apps.audit.models import AuditLog, ReadTally

    rows = ReadTally.objects.filter(action="registry_read")
    assert not AuditLog.objects.filter(action="registry_read").exists()
    return rows.count(), rows.aggregate(n=Sum("count"))["n"] or 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-registry-bench-")
    bench_url = server_database(args.database_url, create=True) if args.database_url else ""
    try:
        env = setup_django(tmpdir, bench_url)
        t0 = time.monotonic()
        token, numbers = load(args.tenants)
        print(f"loaded {len(numbers)} tenants in {time.monotonic() - t0:.1f} s")
        results: list[Result] = []
        with Server(env, args, "5") as server:
            results += scenarios(server.port, token, numbers, args, "")
            feed = feed_figures(server.port, token, args)
        if not args.no_uncached:
            with Server(env, args, "0") as server:
                results += scenarios(server.port, token, numbers, args, ", token cache off")[1:]
        report(args, results, tallies(), feed)
    finally:
        if args.database_url and not args.keep:
            from django.db import connections

            connections.close_all()
            server_database(args.database_url, create=False)
        if args.keep:
            print(f"kept {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


def report(
    args: argparse.Namespace, results: list[Result], counted: tuple[int, int], feed: Feed
) -> None:
    import sqlite3

    import django
    from django.db import connection

    bare = results[0].rps or 1
    if connection.vendor == "sqlite":
        database = f"SQLite {sqlite3.sqlite_version}"
    else:
        with connection.cursor() as cur:
            cur.execute("SELECT version()")
            database = f"{connection.vendor} {cur.fetchone()[0].split(' on ')[0][:40]}"
    print(
        f"\nTenant registry benchmark · {database} · gunicorn "
        f"{args.workers} gthread workers × {args.threads} threads · {args.clients} client "
        f"threads (keep-alive) · best of {args.rounds} × {args.seconds:g} s per scenario · "
        f"{os.cpu_count()} CPUs shared by server and clients · Django {django.get_version()} · "
        f"Python {sys.version.split()[0]}\n"
    )
    header = (
        f"{'scenario':44} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'× bare req/s':>12}  statuses"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(r.statuses.items()))
        print(
            f"{r.label:44} {r.requests:9d} {r.rps:8.0f} {r.pct(0.5):7.2f} {r.pct(0.99):7.2f} "
            f"{r.rps / bare:12.2f}  {statuses}"
        )
    registry_requests = sum(r.requests for r in results[1:])
    print(
        f"\n读取汇总: {counted[0]} rows counting {counted[1]} registry reads (every registry "
        f"request, warm-up, ETag priming and feed pages included; timed registry requests: "
        f"{registry_requests}); no audit row per read"
    )
    if len(results) >= 5 and results[3].rps:
        print(
            f"token cache: {results[1].rps / results[3].rps:.2f}× the throughput of looking "
            f"the token up on every request (200s), "
            f"{results[2].rps / max(results[4].rps, 1):.2f}× (304s)"
        )
    print(
        f"registry 200 vs bare view: {results[1].rps / bare:.2f}× the requests per second, "
        f"{results[1].pct(0.5) / max(results[0].pct(0.5), 1e-9):.2f}× the median latency"
    )
    print(
        f"\nfeed, RegistryClient.sync() (median; pages of {args.page_size}):\n"
        f"  full sync of {feed.tenants} tenants: {feed.full_ms:.0f} ms in "
        f"{feed.full_requests} requests; the raw query of the same rows through the driver "
        f"and decrypting them: {feed.raw_ms:.0f} ms ({feed.full_ms / feed.raw_ms:.1f}×)\n"
        f"  idle poll (nothing changed, 304): {feed.idle_ms:.2f} ms\n"
        f"  incremental sync of 10 changed tenants: {feed.incremental_ms:.2f} ms in "
        f"{feed.incremental_requests} request(s)\n"
        f"  one bare-view request on the same server: {feed.bare_ms:.2f} ms "
        f"(incremental = {feed.incremental_ms / feed.bare_ms:.1f}×)"
    )


if __name__ == "__main__":
    main()
