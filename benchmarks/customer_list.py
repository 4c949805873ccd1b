#!/usr/bin/env python
"""Customer list benchmark: how fast is /customers/ with 100 000 customers?

Creates a separate, throw-away database (a temporary SQLite file by default, or a new
``<name>_bench`` database on the server named by ``--database-url``), migrates it, bulk-loads
the customers and the staff, then times the list page in-process with ``django.test.Client``
and compares it with two baselines on the same server and database:

- a bare view behind the same middleware that only returns ``HttpResponse("ok")``;
- a raw ``SELECT … LIMIT 20`` (and a ``SELECT COUNT(*)``) through the database driver.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/customer_list.py
    .venv/bin/python benchmarks/customer_list.py --database-url postgres://postgres@127.0.0.1:5432/hgj
    .venv/bin/python benchmarks/customer_list.py --database-url mysql://root@127.0.0.1:3306/hgj
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BARE_PATH = "/__bench__/bare/"
LIST_PAGE_SIZE = 20
LIST_COLUMNS = (
    "id, enterprise_no, license_no, name, province, city, status, contact_name, "
    "contact_phone, owner_id, created_at"
)

# Share of the rows in each state and owned by nobody (the pool); the rest is spread evenly
# over the ops specialists.
LEAD_SHARE, PARTIAL_SHARE = 0.15, 0.10
OPEN_SHARE, CLOSED_WITH_REASON_SHARE = 0.45, 0.10  # of the complete ones
POOL_SHARE = 0.12
OPS_SPECIALISTS = 20
DEEP_PAGE = 4000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default="",
        help="server to benchmark on (postgres://… or mysql://…); a new database "
        "<name>_bench is created there. Default: a temporary SQLite file.",
    )
    parser.add_argument("--bench-db-name", default="", help="name of the database to create")
    parser.add_argument("--rows", type=int, default=100_000, help="customers to load")
    parser.add_argument("--runs", type=int, default=15, help="timed requests per scenario")
    parser.add_argument("--batch", type=int, default=5000, help="bulk_create batch size")
    parser.add_argument("--seed", type=int, default=2026, help="random seed of the data")
    parser.add_argument(
        "--sql", action="store_true", help="list each scenario's queries and their times"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


# --- Set-up ----------------------------------------------------------------------------------


def configure_django(args: argparse.Namespace) -> str | None:
    """Point the settings at the benchmark database and start Django. Returns the temporary
    directory holding the SQLite file, if one was made."""
    tmpdir = None
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        tmpdir = tempfile.mkdtemp(prefix="hgj-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return tmpdir


def create_database(args: argparse.Namespace) -> str:
    """Create and migrate the separate benchmark database; returns the original NAME."""
    from django.db import connection

    settings_dict = connection.settings_dict
    original = settings_dict["NAME"]
    test = settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite" and not args.database_url:
        test["NAME"] = original  # the file in our own temporary directory
    elif connection.vendor == "sqlite":
        path = Path(original)
        test["NAME"] = args.bench_db_name or str(path.with_name(f"{path.stem}_bench{path.suffix}"))
    else:
        test["NAME"] = args.bench_db_name or f"{original}_bench"
    if args.database_url and test["NAME"] == original:
        raise SystemExit("refusing to benchmark in the database named by --database-url itself")
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    return original


def drop_database(original: str) -> None:
    from django.db import connection

    connection.creation.destroy_test_db(original, verbosity=0)


def install_bare_view() -> None:
    """Serve the project's URLs plus a bare view at BARE_PATH, behind the same middleware."""
    import types

    from django.conf import settings
    from django.http import HttpRequest, HttpResponse
    from django.urls import clear_url_caches, path

    import config.urls

    def bare(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    module = types.ModuleType("bench_urls")
    module.urlpatterns = [path(BARE_PATH.strip("/") + "/", bare), *config.urls.urlpatterns]
    for name in ("handler403", "handler404", "handler500"):
        setattr(module, name, getattr(config.urls, name))
    sys.modules["bench_urls"] = module
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()


# --- Data ------------------------------------------------------------------------------------


def create_staff() -> dict[str, Any]:
    """admin, opsmgr (manager), devops and the ops specialists ops, ops02 … ops20."""
    from django.contrib.auth.models import Group

    from apps.accounts.models import User

    plan = [("admin", "admin"), ("opsmgr", "ops_manager"), ("devops", "devops"), ("ops", "ops")]
    plan += [(f"ops{n:02d}", "ops") for n in range(2, OPS_SPECIALISTS + 1)]
    users = []
    for username, _role in plan:
        user = User(username=username, name=f"员工 {username}")
        user.set_unusable_password()  # the benchmark signs in with force_login
        users.append(user)
    User.objects.bulk_create(users)
    users = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in plan])}
    groups = {g.name: g for g in Group.objects.all()}
    Through = User.groups.through
    Through.objects.bulk_create(
        Through(user_id=users[username].pk, group_id=groups[role].pk) for username, role in plan
    )
    return users


def org_part(index: int) -> str:
    """A unique organisation-code body for row ``index`` (a bijection onto 6 characters)."""
    from apps.console.demo import USCC_ALPHABET

    n = (index * 7919 + 104_729) % 31**6
    chars = []
    for _ in range(6):
        n, r = divmod(n, 31)
        chars.append(USCC_ALPHABET[r])
    return "".join(chars)


def customer_rows(rows: int, staff: dict[str, Any], rng: random.Random):
    """Yield unsaved customers, oldest first, with enterprise numbers and licence numbers
    built up front (no Sequence round trip, no per-row validation)."""
    from django.conf import settings
    from django.utils import timezone

    from apps.console import demo
    from apps.customers.models import Customer

    owners = [staff["ops"], *(staff[f"ops{n:02d}"] for n in range(2, OPS_SPECIALISTS + 1))]
    manager = staff["opsmgr"]
    places = demo.PROVINCE_CAPITALS
    weights = [p[3] for p in places]
    brands = [b for b, _pinyin in demo.BRANDS]
    modules = settings.DEFAULT_CUSTOMER_MODULES
    roads = ("人民路", "解放路", "建设路", "中山路", "和平路", "新华路", "长江路", "黄河路")
    prefix = settings.ENTERPRISE_NO_PREFIX
    now = timezone.now()
    span = dt.timedelta(days=3 * 365).total_seconds()
    for index, (province, city, city_name, _weight) in enumerate(
        rng.choices(places, weights=weights, k=rows)
    ):
        created = now - dt.timedelta(seconds=span * (1 - index / rows) + rng.random() * 60)
        roll = rng.random()
        if roll < 0.04:
            name = f"{city_name}市{rng.choice(demo.VILLAGES)}村股份经济合作社"
            authority = "N2"
        elif roll < 0.06:
            name = f"{city_name}市{rng.choice(demo.ESTATES)}业主大会"
            authority = "Y1"
        else:
            name = demo.company_name(rng, city_name, rng.choice(brands))
            authority = "91"
        contact = demo.person_name(rng)
        customer = Customer(
            enterprise_no=f"{prefix}{100001 + index:06d}",
            name=name,
            contact_name=contact,
            contact_phone=demo.mobile(rng),
            owner=None if rng.random() < POOL_SHARE else rng.choice(owners),
            created_by=manager,
            created_at=created,
        )
        state = rng.random()
        if state >= LEAD_SHARE:
            customer.province, customer.city = province, city
        if state >= LEAD_SHARE + PARTIAL_SHARE:
            org = "MA" + org_part(index)
            org += demo.org_code_check(org)
            customer.license_no = demo.uscc(authority, city, org)
            customer.address = (
                f"{rng.choice(roads)}{rng.randint(1, 999)}号{rng.choice(demo.BUILDINGS)}"
            )
            customer.office_phone = demo.service_line(rng) if rng.random() < 0.3 else ""
            outcome = rng.random()
            if outcome < OPEN_SHARE + CLOSED_WITH_REASON_SHARE:
                customer.modules = modules
                customer.activated_at = created + dt.timedelta(days=rng.randint(3, 40))
                customer.activated_by = customer.owner or manager
            if outcome < OPEN_SHARE:
                customer.status = Customer.Status.OPEN
            elif outcome < OPEN_SHARE + CLOSED_WITH_REASON_SHARE:
                customer.closed_at = customer.activated_at + dt.timedelta(days=rng.randint(30, 400))
                customer.close_reason = "合同到期未续约"
        yield customer


def load(rows: int, batch: int, seed: int) -> tuple[dict[str, Any], float]:
    from django.db import connection, transaction

    from apps.core.models import Sequence
    from apps.customers.models import Customer

    started = time.perf_counter()
    rng = random.Random(seed)
    with transaction.atomic():
        staff = create_staff()
        chunk: list[Customer] = []
        for customer in customer_rows(rows, staff, rng):
            chunk.append(customer)
            if len(chunk) == batch:
                Customer.objects.bulk_create(chunk, batch_size=batch)
                chunk = []
        if chunk:
            Customer.objects.bulk_create(chunk, batch_size=batch)
        Sequence.objects.update_or_create(name="enterprise_no", defaults={"value": 100000 + rows})
    with connection.cursor() as cursor:  # fresh planner statistics, as autovacuum would have
        if connection.vendor == "mysql":
            cursor.execute("ANALYZE TABLE customers_customer")
            cursor.fetchall()
        else:
            cursor.execute("ANALYZE")
    return staff, time.perf_counter() - started


# --- Measuring -------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    user: str
    median_ms: float
    min_ms: float
    max_ms: float
    queries: str
    db_ms: float | None = None  # median time spent inside the database driver
    status: str = "-"
    size: str = "-"
    sql: list[tuple[float, str]] = field(default_factory=list)  # (ms, SQL) of the last run


class QueryTimer:
    """A connection execute wrapper: counts the queries of a request and the time spent in
    the driver executing them (negligible overhead, unlike CaptureQueriesContext)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - start) * 1000, sql))


def measure_view(label: str, user_label: str, client, url: str, runs: int) -> Result:
    from django.db import connection

    for _ in range(2):  # warm caches: templates, URL resolver, database pages
        client.get(url)
    gc.collect()
    times, db_times, counts = [], [], set()
    for _ in range(runs):
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        db_times.append(sum(ms for ms, _sql in timer.queries))
        counts.add(len(timer.queries))
    return Result(
        label,
        user_label,
        statistics.median(times),
        min(times),
        max(times),
        "/".join(str(n) for n in sorted(counts)),
        statistics.median(db_times),
        str(response.status_code),
        str(len(response.content)),
        timer.queries,
    )


def measure_sql(label: str, sql: str, runs: int) -> Result:
    from django.db import connection

    connection.ensure_connection()
    cursor = connection.connection.cursor()  # the driver's own cursor, no Django wrapper
    try:
        for _ in range(2):
            cursor.execute(sql)
            cursor.fetchall()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        cursor.close()
    median = statistics.median(times)
    return Result(label, "-", median, min(times), max(times), "1", median)


def scenarios(user) -> list[tuple[str, str]]:
    """(label, URL) of the list views to time for ``user``."""
    from urllib.parse import urlencode

    from django.urls import reverse

    from apps.customers.selectors import visible_customers

    base = reverse("customers:list")
    visible = visible_customers(user)
    total = visible.count()
    pages = max(1, math.ceil(total / LIST_PAGE_SIZE))
    deep = min(DEEP_PAGE, max(1, int(pages * 0.8)))  # page 4000 of 5000 for the manager
    numbers = visible.order_by("pk").values_list("enterprise_no", flat=True)
    middle = numbers[total // 2] if total else "HGJ000000"  # one the user may see

    def url(**params: Any) -> str:
        return f"{base}?{urlencode(params)}" if params else base

    return [
        ("list page 1", url()),
        (f"deep page {deep} of {pages}", url(page=deep)),
        ("search q=物业", url(q="物业")),
        (f"search q={middle} (企业号)", url(q=middle)),
        ("filter province=440000", url(province="440000")),
    ]


def run_benchmark(staff: dict[str, Any], runs: int) -> list[Result]:
    from django.test import Client

    results: list[Result] = []
    sql = (
        f"SELECT {LIST_COLUMNS} FROM customers_customer ORDER BY created_at DESC, id DESC LIMIT 20"
    )
    results.append(measure_sql("raw SQL: SELECT … LIMIT 20", sql, runs))
    results.append(
        measure_sql("raw SQL: SELECT COUNT(*)", "SELECT COUNT(*) FROM customers_customer", runs)
    )
    for user_label, username in (("manager", "opsmgr"), ("ops", "ops")):
        user = staff[username]
        client = Client()
        client.force_login(user)
        results.append(measure_view("bare view (baseline)", user_label, client, BARE_PATH, runs))
        for label, url in scenarios(user):
            results.append(measure_view(label, user_label, client, url, runs))
    return results


# --- Report ----------------------------------------------------------------------------------


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, size: int, right: bool = False) -> str:
    gap = " " * max(0, size - width(text))
    return gap + text if right else text + gap


def report(results: list[Result], header: list[str], show_sql: bool = False) -> str:
    bare = {r.user: r.median_ms for r in results if r.label.startswith("bare view")}
    raw = next(r.median_ms for r in results if r.label.startswith("raw SQL: SELECT …"))
    columns = ["scenario", "user", "status", "bytes", "queries", "median ms", "db ms"]
    columns += ["min ms", "max ms", "× bare view", "× raw SQL"]
    table = []
    for r in results:
        base = bare.get(r.user)
        table.append(
            [
                r.label,
                r.user,
                r.status,
                r.size,
                r.queries,
                f"{r.median_ms:.2f}",
                f"{r.db_ms:.2f}" if r.db_ms is not None else "-",
                f"{r.min_ms:.2f}",
                f"{r.max_ms:.2f}",
                f"{r.median_ms / base:.1f}" if base else "-",
                f"{r.median_ms / raw:.1f}",
            ]
        )
    sizes = [max(width(row[i]) for row in [columns, *table]) for i in range(len(columns))]
    lines = [*header, ""]
    lines.append("  ".join(pad(c, sizes[i], right=i >= 2) for i, c in enumerate(columns)))
    lines.append("  ".join("-" * s for s in sizes))
    for row in table:
        lines.append("  ".join(pad(c, sizes[i], right=i >= 2) for i, c in enumerate(row)))
    pages = [r for r in results if not r.label.startswith(("bare view", "raw SQL"))]
    if any(r.size == "0" for r in pages):
        lines += [
            "",
            "Note: /customers/ answered with an empty body, so it is still the placeholder view;",
            "the figures above then measure routing, sessions and sign-in only.",
        ]
    if show_sql:
        for r in pages:
            lines += ["", f"-- {r.label} · {r.user}"]
            lines += [f"{ms:9.2f} ms  {sql}" for ms, sql in r.sql]
    return "\n".join(lines)


def server_version() -> str:
    from django.db import connection

    query = {
        "sqlite": "SELECT 'SQLite ' || sqlite_version()",
        "postgresql": "SELECT 'PostgreSQL ' || current_setting('server_version')",
    }.get(connection.vendor, "SELECT CONCAT('MySQL ', VERSION())")
    with connection.cursor() as cursor:
        cursor.execute(query)
        return cursor.fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmpdir = configure_django(args)
    import django
    from django.db import connection

    original = create_database(args)
    try:
        install_bare_view()
        staff, seconds = load(args.rows, args.batch, args.seed)
        print(f"loaded {args.rows} customers and {len(staff)} staff in {seconds:.1f} s", flush=True)
        results = run_benchmark(staff, args.runs)
        database = connection.settings_dict["NAME"]
        header = [
            f"Customer list benchmark · {server_version()} · database {database}",
            f"{args.rows} customers · median of {args.runs} requests per scenario"
            f" · Django {django.get_version()} · Python {sys.version.split()[0]}",
        ]
        print(report(results, header, show_sql=args.sql))
    finally:
        if args.keep:
            print(f"\nkept the database: {connection.settings_dict['NAME']}")
        else:
            drop_database(original)
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
