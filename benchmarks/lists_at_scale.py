#!/usr/bin/env python
"""Lists at scale: the customer and lead lists at 1 000 000 rows each and the 操作日志 at
10 000 000, on a throw-away database (a temporary SQLite file, or a new ``<name>_bench`` on
the server named by ``--database-url``).

Each scenario is the real page (``django.test.Client``, signed in as the 运营主管) — page 1,
a deep page reached by 下一页 (its cursor), a substring search, a filter — timed in-process;
next to it, the same queries the page ran, replayed with their parameters through the raw
driver (the floor), and the bare view behind the same middleware. Reported: the median
server time (goal ≤ 50 ms), the time its queries took inside Django's driver wrapper
(``db ms``), the same queries through the raw driver (``raw ms``) and their ratio, the query
count (constant: it must not grow with the rows), and the count the page shows.

Rows are written through the driver's bulk path (PostgreSQL ``COPY``, MySQL multi-row
``INSERT``, SQLite ``executemany``) with the secondary and search indexes built afterwards,
as a bulk load would; statistics are refreshed before timing.

    .venv/bin/python benchmarks/lists_at_scale.py
    .venv/bin/python benchmarks/lists_at_scale.py --database-url postgres://postgres@127.0.0.1:5432/hgj
    .venv/bin/python benchmarks/lists_at_scale.py --database-url mysql://root@127.0.0.1:3306/hgj
    .venv/bin/python benchmarks/lists_at_scale.py --rows 100000 --audit-rows 1000000   # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customer_list as base

BRANDS = ("阳光", "万科", "碧桂园", "保利", "绿城", "龙湖", "金地", "华润")
PROVINCES = ("440000", "110000", "310000", "330000", "510000")
ACTIONS = ("update", "create", "assign", "follow_up", "claim", "login", "convert", "activate")
GOAL_MS = 50.0
# People's names: a surname and a given name, about 3 000 of them, each held by one row in
# 3 000 — a two-character search that a few hundred rows of a million match.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "".join(
    dict.fromkeys(
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志新斌宇浩凯健俊帆帅旭"
        "宁亮飞彬鑫波森然晨瑞博文昊天翔宏峰龙成坤琳婷雪慧莉颖倩璐晶欣怡佳悦琪萱蕾薇妍娇婉"
        "梅兰竹菊松柏杨柳青岚岩石川河江湖海洋云霞虹霓晴阳光明亮春夏秋冬东南西北中正直方圆德"
        "仁义礼智信忠孝廉耻勤俭恭宽敏惠温良谦让和乐安康福寿喜庆吉祥如意宝珠珍珊瑚琦璇瑶琼瑾"
    )
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--bench-db-name", default="")
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers, and leads")
    parser.add_argument("--audit-rows", type=int, default=10_000_000, help="操作日志 rows")
    parser.add_argument("--runs", type=int, default=9, help="timed requests per scenario")
    parser.add_argument("--chunk", type=int, default=20_000, help="rows per bulk write")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sql", action="store_true", help="print each scenario's slowest query")
    return parser.parse_args(argv)


# --- Loading -----------------------------------------------------------------------------------


def _defaults(model: Any, given: tuple[str, ...], connection: Any) -> dict[str, Any]:
    """Every other column's default, as the driver takes it."""
    from django.db import models

    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given:
            continue
        default = field.get_default()
        if isinstance(field, models.JSONField):
            default = json.dumps(default)
        elif isinstance(field, models.DateTimeField) and default is not None:
            default = connection.ops.adapt_datetimefield_value(default)
        values[field.column] = default
    return values


def bulk_write(model: Any, columns: tuple[str, ...], rows, chunk: int) -> None:
    """Write ``rows`` (tuples for ``columns``) through the driver's bulk path."""
    from django.db import connection

    defaults = _defaults(model, columns, connection)
    names = [*columns, *defaults]
    constant = tuple(defaults.values())
    table = model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(n) for n in names)
    connection.ensure_connection()
    raw = connection.connection
    batch: list[tuple] = []

    def flush() -> None:
        if not batch:
            return
        if connection.vendor == "postgresql":
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s" if connection.vendor == "mysql" else "?"] * len(names))
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", batch)
            cursor.close()
        raw.commit()
        batch.clear()

    for row in rows:
        batch.append(row + constant)
        if len(batch) >= chunk:
            flush()
    flush()


def person(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]


def when(now: dt.datetime, seconds_ago: float) -> Any:
    from django.db import connection

    return connection.ops.adapt_datetimefield_value(now - dt.timedelta(seconds=seconds_ago))


def load(args: argparse.Namespace, staff: dict[str, Any]) -> dict[str, float]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.utils import timezone

    from apps.audit.models import AuditLog
    from apps.audit.selectors import SEARCH_COLUMNS as AUDIT_COLUMNS
    from apps.audit.selectors import SEARCH_INDEX as AUDIT_INDEX
    from apps.core import search
    from apps.customers.models import Customer
    from apps.customers.selectors import SEARCH_COLUMNS, SEARCH_INDEX
    from apps.leads.models import Lead
    from apps.leads.selectors import SEARCH_COLUMNS as LEAD_COLUMNS
    from apps.leads.selectors import SEARCH_INDEX as LEAD_INDEX

    seconds: dict[str, float] = {}
    n, now = args.rows, timezone.now()
    owners = [u.pk for name, u in staff.items() if name.startswith("ops")]
    indexes = (
        ("customers_customer", SEARCH_COLUMNS, SEARCH_INDEX),
        ("leads_lead", LEAD_COLUMNS, LEAD_INDEX),
        ("audit_auditlog", AUDIT_COLUMNS, AUDIT_INDEX),
    )
    audit_indexes = list(AuditLog._meta.indexes)
    with connection.schema_editor(atomic=False) as editor:
        for table, columns, index in indexes:
            search._drop(editor, table, columns, index)
        for index in audit_indexes:
            editor.remove_index(AuditLog, index)

    started = time.perf_counter()
    bulk_write(
        Customer,
        (
            "enterprise_no",
            "name",
            "contact_name",
            "contact_phone",
            "province",
            "owner_id",
            "created_at",
            "updated_at",
        ),
        (
            (
                f"HGJ{100001 + i:07d}",
                f"{BRANDS[i % 8]}第{i}号物业服务有限公司",
                person(i),
                f"137{i:08d}",
                PROVINCES[i % 5],
                None if i % 8 == 0 else owners[i % len(owners)],
                when(now, n - i),
                when(now, n - i),
            )
            for i in range(n)
        ),
        args.chunk,
    )
    seconds["customers"] = time.perf_counter() - started
    started = time.perf_counter()
    statuses = ("new", "following", "interested", "not_interested", "converted")
    bulk_write(
        Lead,
        (
            "name",
            "phone",
            "company",
            "channel",
            "status",
            "owner_id",
            "registered_at",
            "updated_at",
        ),
        (
            (
                person(i + 7),
                f"+86139{i:08d}",
                f"{BRANDS[i % 8]}第{i}号物业",
                ("web", "wechat", "qr", "offline")[i % 4],
                statuses[i % 5],
                None if i % 6 == 0 else owners[i % len(owners)],
                when(now, n - i),
                when(now, n - i),
            )
            for i in range(n)
        ),
        args.chunk,
    )
    seconds["leads"] = time.perf_counter() - started
    started = time.perf_counter()
    types = [ContentType.objects.get_for_model(m).pk for m in (Customer, Lead)]
    actors = [u.pk for u in staff.values()]
    a = args.audit_rows
    bulk_write(
        AuditLog,
        ("at", "actor_id", "actor_name", "action", "content_type_id", "object_id", "object_repr"),
        (
            (
                when(now, (a - i) / 10),
                None if i % 50 == 0 else actors[i % len(actors)],
                "员工",
                ACTIONS[i % len(ACTIONS)],
                types[i % 2],
                str(1 + (i * 7919) % n),
                f"记录 {i % n}",
            )
            for i in range(a)
        ),
        args.chunk,
    )
    seconds["audit"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.schema_editor(atomic=False) as editor:
        for index in audit_indexes:
            editor.add_index(AuditLog, index)
        for table, columns, index in indexes:
            search._create(editor, table, columns, index)
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            for table in ("customers_customer", "leads_lead", "audit_auditlog", "core_searchgram"):
                cursor.execute(f"ANALYZE TABLE {table}")
                cursor.fetchall()
        elif connection.vendor == "postgresql":
            # What autovacuum does to a table in service: statistics and the visibility map
            # (without it an index-only count still reads the table's pages).
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    seconds["indexes"] = time.perf_counter() - started
    return seconds


# --- Measuring ---------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.queries: list[tuple[float, str, Any]] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - start) * 1000, sql, params))


def replay(queries: list[tuple[float, str, Any]], runs: int) -> float:
    """The median time of the same queries, with their parameters, through the raw driver
    (the session's own queries — its user and permissions — left out: the floor is the
    list's)."""
    from django.db import connection

    wanted = [(sql, params) for _ms, sql, params in queries if "django_session" not in sql]
    wanted = [
        (s, p)
        for s, p in wanted
        if "FROM" not in s or "accounts_user" not in s.split("FROM")[1][:40]
    ]
    cursor = connection.connection.cursor()
    times = []
    try:
        for attempt in range(runs + 2):
            start = time.perf_counter()
            for sql, params in wanted:
                if connection.vendor == "sqlite":
                    sql = sql.replace("%s", "?")
                cursor.execute(sql, tuple(params or ()))
                cursor.fetchall()
            if attempt >= 2:
                times.append((time.perf_counter() - start) * 1000)
    finally:
        cursor.close()
    return statistics.median(times)


def measure(client, url: str, runs: int) -> dict[str, Any]:
    from django.db import connection

    for _ in range(2):
        client.get(url)
    gc.collect()
    times, db, counts = [], [], set()
    last: Recorder | None = None
    for _ in range(runs):
        recorder = Recorder()
        with connection.execute_wrapper(recorder):
            start = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        db.append(sum(ms for ms, _s, _p in recorder.queries))
        counts.add(len(recorder.queries))
        last = recorder
    return {
        "ms": statistics.median(times),
        "db": statistics.median(db),
        "queries": "/".join(str(c) for c in sorted(counts)),
        "raw": replay(last.queries if last else [], runs),
        "body": response.content.decode(),
        "slowest": max(last.queries, key=lambda q: q[0]) if last and last.queries else None,
    }


def deep_cursor(qs, offset: int) -> str:
    from apps.core.listing import encode_cursor, keyset_order

    row = qs[offset : offset + 1].get()
    return encode_cursor(row, keyset_order(qs))


def scenarios(manager, rows: int) -> list[tuple[str, str]]:
    from urllib.parse import urlencode

    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from apps.audit.models import AuditLog
    from apps.customers.models import Customer
    from apps.customers.selectors import CustomerFilters, customer_list
    from apps.leads.selectors import LeadFilters, lead_list

    deep = int(rows * 0.9)
    customers = customer_list(user=manager, filters=CustomerFilters())
    leads = lead_list(user=manager, filters=LeadFilters())
    audit = AuditLog.objects.order_by("-at", "-id")
    logged_rows = AuditLog.objects.count()
    audit_deep = min(deep * 9, logged_rows - 1)
    some = rows // 3 + 7
    actor = manager.pk
    middle = audit.values_list("at", flat=True)[audit_deep // 2]
    customer_type = ContentType.objects.get_for_model(Customer)
    logged = audit.filter(content_type=customer_type).values_list("object_id", flat=True)[
        min(rows, logged_rows // 2) // 2
    ]  # a customer the log has rows about
    day = timezone.localtime(middle).date().isoformat()  # a day the log has rows of

    def url(path: str, **params: Any) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    return [
        ("客户 · page 1", url("/customers/")),
        (
            f"客户 · 下一页 at row {deep:,}",
            url("/customers/", after=deep_cursor(customers, deep), page=deep // 20 + 2),
        ),
        (f"客户 · search 第{some}号", url("/customers/", q=f"第{some}号")),
        (f"客户 · search {person(some)} (2 chars)", url("/customers/", q=person(some))),
        ("客户 · search 物业 (every row)", url("/customers/", q="物业")),
        ("客户 · filter province", url("/customers/", province="440000")),
        ("申请 · page 1", url("/leads/")),
        (
            f"申请 · 下一页 at row {deep:,}",
            url("/leads/", after=deep_cursor(leads, deep), page=deep // 20 + 2),
        ),
        (f"申请 · search 第{some}号", url("/leads/", q=f"第{some}号")),
        (f"申请 · search {person(some)} (2 chars)", url("/leads/", q=person(some))),
        ("申请 · filter status", url("/leads/", status="following")),
        ("日志 · page 1", url("/audit/")),
        (
            f"日志 · 下一页 at row {audit_deep:,}",
            url("/audit/", after=deep_cursor(audit, audit_deep), page=2),
        ),
        ("日志 · filter actor", url("/audit/", actor=actor)),
        ("日志 · filter action", url("/audit/", action="convert")),
        ("日志 · filter object (a customer)", url("/audit/", customer=logged)),
        ("日志 · filter type", url("/audit/", object_type="lead")),
        ("日志 · filter date", url("/audit/", date_from=day, date_to=day)),
        (f"日志 · search {some} (对象 or id)", url("/audit/", q=str(some))),
        ("日志 · search 记录 (every row)", url("/audit/", q="记录")),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A bulk load builds indexes over millions of rows: no per-statement time limit.
    os.environ.setdefault("DB_STATEMENT_TIMEOUT", "0")
    tmpdir = base.configure_django(args)
    import django
    from django.db import connection
    from django.test import Client

    original = base.create_database(args)
    try:
        base.install_bare_view()
        from django.db import transaction

        with transaction.atomic():
            staff = base.create_staff()
        seconds = load(args, staff)
        print(
            "loaded "
            + " · ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
            + f" ({args.rows:,} customers, {args.rows:,} leads, {args.audit_rows:,} audit rows)",
            flush=True,
        )
        manager = staff["opsmgr"]
        client = Client()
        client.force_login(manager)
        bare = measure(client, base.BARE_PATH, args.runs)["ms"]
        print(f"\nLists at scale · {base.server_version()} · Django {django.get_version()}")
        print(f"bare view: {bare:.2f} ms · median of {args.runs} · goal ≤ {GOAL_MS:.0f} ms\n")
        header = f"{'scenario':34} {'ms':>8} {'db ms':>8} {'raw ms':>8} {'db×raw':>6}"
        header += f" {'queries':>7}  count shown"
        print(header)
        print("-" * len(header))
        for label, url in scenarios(manager, args.rows):
            r = measure(client, url, args.runs)
            shown = next(
                (part.split("</span>")[0] for part in r["body"].split('class="total"')[1:2]), ""
            ).split(">")[-1]
            flag = "" if r["ms"] <= GOAL_MS else "  over goal"
            print(
                f"{base.pad(label, 34)} {r['ms']:8.2f} {r['db']:8.2f} {r['raw']:8.2f} "
                f"{r['db'] / r['raw'] if r['raw'] else 0:6.1f} {r['queries']:>7}  {shown}{flag}",
                flush=True,
            )
            if args.sql and r["slowest"]:
                ms, sql, params = r["slowest"]
                print(f"    {ms:.2f} ms  {sql[:400]}  {list(params or ())[:6]}")
    finally:
        if args.keep:
            print(f"\nkept the database: {connection.settings_dict['NAME']}")
        else:
            base.drop_database(original)
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
