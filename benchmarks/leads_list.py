#!/usr/bin/env python
"""Lead list benchmark: how fast are /leads/, /leads/to-call/ and /leads/pool/ with
100 000 leads?

Same approach and machinery as ``customer_list.py`` (a throw-away database, bulk-loaded
data, in-process requests with ``django.test.Client``, a bare view and raw SQL as
baselines); see benchmarks/README.md.

Usage (from the project root):

    .venv/bin/python benchmarks/leads_list.py
    .venv/bin/python benchmarks/leads_list.py --database-url postgres://postgres@127.0.0.1:5432/hgj
    .venv/bin/python benchmarks/leads_list.py --database-url mysql://root@127.0.0.1:3306/hgj
"""

from __future__ import annotations

import datetime as dt
import math
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customer_list as base  # the shared benchmark machinery

LIST_PAGE_SIZE = 20
DEEP_PAGE = 4000
POOL_SHARE = 0.20
QR_CHANNELS = 12
LIST_COLUMNS = (
    "id, name, phone, company, registered_at, channel, channel_ref, qr_channel_id, status, "
    "owner_id, follow_up_count, last_follow_up_at, next_follow_up_at"
)
# Status mix: the older a lead, the likelier it has been settled.
CHANNELS = (("web", 0.40), ("wechat", 0.30), ("qr", 0.20), ("offline", 0.10))


def parse_args(argv: list[str] | None = None):
    args = base.parse_args(argv)
    return args


def lead_rows(rows: int, staff: dict[str, Any], rng: random.Random, channels: list):
    """Yield unsaved leads, oldest first over the last two years, and the customers the
    converted ones became (contact phone and company carried over)."""
    from django.conf import settings
    from django.utils import timezone

    from apps.console import demo
    from apps.customers.models import Customer
    from apps.leads.models import Lead

    owners = [staff["ops"], *(staff[f"ops{n:02d}"] for n in range(2, base.OPS_SPECIALISTS + 1))]
    manager = staff["opsmgr"]
    brands = [b for b, _pinyin in demo.BRANDS]
    places = demo.PROVINCE_CAPITALS
    prefix = settings.ENTERPRISE_NO_PREFIX
    now = timezone.now()
    span = dt.timedelta(days=2 * 365).total_seconds()
    names = [c for c, _w in CHANNELS]
    weights = [w for _c, w in CHANNELS]
    converted = 0
    for index in range(rows):
        age = span * (1 - index / rows) + rng.random() * 60
        registered = now - dt.timedelta(seconds=age)
        channel = rng.choices(names, weights=weights)[0]
        company = ""
        if rng.random() < 0.7:
            company = demo.company_name(rng, rng.choice(places)[2], rng.choice(brands))
        phone = f"1{3 + index % 7}{index:09d}"
        owner = None if rng.random() < POOL_SHARE else rng.choice(owners)
        qr = rng.choice(channels) if channel == "qr" else None
        lead = Lead(
            name=demo.person_name(rng),
            phone=f"+86{phone}",
            company=company,
            registered_at=registered,
            last_applied_at=registered,
            channel=channel,
            channel_ref=qr.code if qr else "",
            qr_channel=qr,
            owner=owner if channel != "offline" else (owner or manager),
            created_by=(owner or manager) if channel == "offline" else None,
        )
        days_old = age / 86400
        roll = rng.random()
        settled = min(0.9, days_old / 60)  # a lead two months old is mostly settled
        if roll > settled:
            lead.status = rng.choice(Lead.OPEN_STATUSES)
        elif rng.random() < 0.35:
            lead.status = Lead.Status.CONVERTED
        else:
            lead.status = Lead.Status.NOT_INTERESTED
            lead.lost_reason = rng.choice(Lead.LostReason.values)
            lead.lost_note = "其他原因" if lead.lost_reason == "other" else ""
        if lead.status != Lead.Status.NEW or rng.random() < 0.3:
            count = rng.randint(1, 5)
            last = registered + dt.timedelta(hours=rng.uniform(1, max(2, days_old * 24 * 0.8)))
            lead.follow_up_count = count
            lead.last_follow_up_at = min(last, now)
            if lead.status in (Lead.Status.FOLLOWING, Lead.Status.INTERESTED, Lead.Status.NEW):
                lead.next_follow_up_at = now + dt.timedelta(days=rng.uniform(-10, 20))
        customer = None
        if lead.status == Lead.Status.CONVERTED:
            converted += 1
            lead.converted_at = min(registered + dt.timedelta(days=rng.uniform(1, 30)), now)
            lead.owner = lead.owner or manager
            customer = Customer(
                enterprise_no=f"{prefix}{100000 + converted:06d}",
                name=company,
                contact_name=lead.name,
                contact_phone=phone,
                owner=lead.owner,
                created_by=lead.owner,
                created_at=lead.converted_at,
            )
        yield lead, customer


def load(rows: int, batch: int, seed: int) -> tuple[dict[str, Any], float, dict[str, int]]:
    from django.db import connection, transaction

    from apps.core.models import Sequence
    from apps.customers.models import Customer
    from apps.leads.models import Lead, QrChannel

    started = time.perf_counter()
    rng = random.Random(seed)
    with transaction.atomic():
        staff = base.create_staff()
        channels = QrChannel.objects.bulk_create(
            QrChannel(
                code=f"BENCH{n:03d}",
                name=f"海报 {n}",
                campaign="物业博览会",
                owner=staff["ops"] if n % 2 else None,
                created_by=staff["opsmgr"],
            )
            for n in range(QR_CHANNELS)
        )
        channels = list(QrChannel.objects.order_by("id"))
        leads: list[Lead] = []
        customers: list[Customer] = []

        def flush() -> None:
            made = Customer.objects.bulk_create([c for c in customers if c is not None])
            if connection.vendor == "mysql":  # MySQL returns no ids from bulk_create
                by_no = dict(
                    Customer.objects.filter(
                        enterprise_no__in=[c.enterprise_no for c in made]
                    ).values_list("enterprise_no", "id")
                )
                for c in made:
                    c.pk = by_no[c.enterprise_no]
            for lead, customer in zip(leads, customers, strict=True):
                if customer is not None:
                    lead.customer = customer
            Lead.objects.bulk_create(leads, batch_size=batch)
            leads.clear()
            customers.clear()

        for lead, customer in lead_rows(rows, staff, rng, channels):
            leads.append(lead)
            customers.append(customer)
            if len(leads) == batch:
                flush()
        if leads:
            flush()
        total_customers = Customer.objects.count()
        Sequence.objects.update_or_create(
            name="enterprise_no", defaults={"value": 100000 + total_customers}
        )
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            for table in ("leads_lead", "customers_customer"):
                cursor.execute(f"ANALYZE TABLE {table}")
                cursor.fetchall()
        else:
            cursor.execute("ANALYZE")
    figures = Lead.objects.aggregate(
        **{
            "pool": _count(owner__isnull=True),
            "open": _count(status__in=Lead.OPEN_STATUSES),
            "converted": _count(status=Lead.Status.CONVERTED),
        }
    )
    figures["customers"] = total_customers
    return staff, time.perf_counter() - started, figures


def _count(**condition):
    from django.db.models import Count, Q

    return Count("id", filter=Q(**condition))


def scenarios(user) -> list[tuple[str, str]]:
    """(label, URL) of the lead pages to time for ``user``."""
    from urllib.parse import urlencode

    from django.urls import reverse

    from apps.leads.selectors import visible_leads

    base_url = reverse("leads:list")
    visible = visible_leads(user)
    total = visible.count()
    pages = max(1, math.ceil(total / LIST_PAGE_SIZE))
    deep = min(DEEP_PAGE, max(1, int(pages * 0.8)))
    phones = visible.order_by("pk").values_list("phone", flat=True)
    middle = phones[total // 2][3:] if total else "13800138000"

    def url(path: str = base_url, **params: Any) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    return [
        ("list page 1", url()),
        (f"deep page {deep} of {pages}", url(page=deep)),
        ("search q=物业 (company)", url(q="物业")),
        (f"search q={middle} (phone)", url(q=middle)),
        (f"search q={middle[-4:]} (last 4 digits)", url(q=middle[-4:])),
        ("filter overdue=1", url(overdue=1)),
        ("filter status=open, channel=web", url(status="open", channel="web")),
        ("待回访 page 1", url(reverse("leads:to_call"))),
        ("公海 page 1", url(reverse("leads:pool"))),
        ("list page 1, page_size=100", url(page_size=100)),
    ]


def run_benchmark(staff: dict[str, Any], runs: int) -> list:
    from django.test import Client

    results = []
    sql = f"SELECT {LIST_COLUMNS} FROM leads_lead ORDER BY registered_at DESC, id DESC LIMIT 20"
    results.append(base.measure_sql("raw SQL: SELECT … LIMIT 20", sql, runs))
    results.append(
        base.measure_sql("raw SQL: SELECT COUNT(*)", "SELECT COUNT(*) FROM leads_lead", runs)
    )
    for user_label, username in (("manager", "opsmgr"), ("ops", "ops")):
        user = staff[username]
        client = Client()
        client.force_login(user)
        results.append(
            base.measure_view("bare view (baseline)", user_label, client, base.BARE_PATH, runs)
        )
        for label, url in scenarios(user):
            results.append(base.measure_view(label, user_label, client, url, runs))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmpdir = base.configure_django(args)
    import django
    from django.db import connection

    original = base.create_database(args)
    try:
        base.install_bare_view()
        staff, seconds, figures = load(args.rows, args.batch, args.seed)
        print(
            f"loaded {args.rows} leads ({figures['open']} open, {figures['pool']} in the pool, "
            f"{figures['converted']} converted into {figures['customers']} customers) and "
            f"{len(staff)} staff in {seconds:.1f} s",
            flush=True,
        )
        results = run_benchmark(staff, args.runs)
        header = [
            f"Lead list benchmark · {base.server_version()} · "
            f"database {connection.settings_dict['NAME']}",
            f"{args.rows} leads · median of {args.runs} requests per scenario"
            f" · Django {django.get_version()} · Python {sys.version.split()[0]}",
        ]
        print(base.report(results, header, show_sql=args.sql))
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
