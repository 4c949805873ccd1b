#!/usr/bin/env python
"""Export benchmark: what does the leads list's Excel export cost at ``--rows`` (100 000)
leads — time and the Python heap's peak — next to the floor measured in the same run: the
raw query through the driver, written with openpyxl's write-only mode to a temporary file
(the same rows and fourteen columns, joined to the owner's name; no formula or control-
character rules, no local times, no response).

The export is the real view (``leads:export``) called through Django's test client as a
manager, its streamed response read to the end. Memory is measured with ``tracemalloc``
(allocations by Python code: the rows, the workbook, the response), so a figure that does
not grow with the rows shows the export streams. The control database is a temporary SQLite
file.

    .venv/bin/python benchmarks/export.py
    .venv/bin/python benchmarks/export.py --rows 20000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# The export's fourteen columns (the floor writes the same, raw).
HEADERS = [
    "姓名", "电话", "公司名", "所在省份", "注册时间", "渠道", "渠道来源", "状态", "负责人",
    "回访次数", "最近回访时间", "下次回访时间", "无意向原因", "重复申请次数",
]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="leads to export")
    return parser.parse_args(argv)


def setup(tmpdir: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{tmpdir}/export-bench.sqlite3",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": tmpdir,
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int):
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.leads.models import Lead

    manager = User.objects.create_user(username="mgr", name="主管")
    manager.groups.add(Group.objects.get(name="ops_manager"))
    now = timezone.now()
    batch = []
    for i in range(n):
        batch.append(
            Lead(
                name=f"申请人{i}",
                phone=f"139{i:08d}",
                company=f"第{i}号物业服务有限公司",
                province=("440000", "110000", "")[i % 3],
                channel="web",
                registered_at=now,
                last_applied_at=now,
                owner=manager if i % 2 else None,
            )
        )
        if len(batch) == 5000:
            Lead.objects.bulk_create(batch)
            batch = []
    Lead.objects.bulk_create(batch)
    return manager


def measure(work) -> tuple[float, float]:
    """(seconds, peak MiB of Python allocations) of ``work()``: timed on its own, then run
    again under tracemalloc (which slows Python down several times) for the memory."""
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    work()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-export-bench-")
    try:
        setup(tmpdir)
        from django.db import connection
        from django.test import Client
        from openpyxl import Workbook

        manager = seed(args.rows)
        client = Client()
        client.force_login(manager)
        size = {}

        def export() -> None:
            response = client.get("/leads/export/")
            assert response.status_code == 200, response.status_code
            size["export"] = sum(len(chunk) for chunk in response.streaming_content)

        def floor() -> None:
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet()
            sheet.append(HEADERS)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT l.name, l.phone, l.company, l.province, l.registered_at, l.channel, "
                    "l.channel_ref, l.status, u.name, l.follow_up_count, l.last_follow_up_at, "
                    "l.next_follow_up_at, l.lost_reason, l.repeat_count FROM leads_lead l "
                    "LEFT JOIN accounts_user u ON u.id = l.owner_id "
                    "ORDER BY l.registered_at DESC, l.id DESC"
                )
                while rows := cursor.fetchmany(2000):
                    for row in rows:
                        sheet.append(list(row))
            with tempfile.TemporaryFile() as out:
                workbook.save(out)
                size["floor"] = out.tell()

        export()  # warm up (templates, permissions, first queries)
        export_s, export_mib = measure(export)
        floor_s, floor_mib = measure(floor)
        print(f"\nExport benchmark · {args.rows:,} leads · SQLite (temporary)")
        print(f"{'':26} {'seconds':>8} {'peak MiB':>9} {'file MiB':>9}")
        print(
            f"{'floor (driver + openpyxl)':26} {floor_s:8.2f} {floor_mib:9.1f} "
            f"{size['floor'] / 2**20:9.1f}"
        )
        print(
            f"{'leads:export (streamed)':26} {export_s:8.2f} {export_mib:9.1f} "
            f"{size['export'] / 2**20:9.1f}"
        )
        print(f"time × floor: {export_s / floor_s:.2f}")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
