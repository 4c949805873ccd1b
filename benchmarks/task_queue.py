#!/usr/bin/env python
"""Task-queue benchmark: what 保存 costs the web process now that provisioning runs on a
worker, and what the queue adds to the time until the data source is saved.

With a temporary SQLite control database and the filesystem broker the README's run
command uses (or ``--broker`` redis://… / amqp://…), it starts a real ``celery -A config
worker`` and, on the local MariaDB (``--db-type postgresql`` for PostgreSQL), times per run:

- **in the request, synchronous** — ``datasource_configure``: the whole pipeline in the web
  process (what 保存 did before the queue);
- **in the request, queued** — ``datasource_queue``: validation, the recorded run, the
  encrypted password, the published message (what 保存 costs the web process now);
- **saved, through the worker** — from ``datasource_queue`` until the run reads 成功 in the
  control database (polled every 10 ms);
- **queue floor** — an empty task (``core.heartbeat``) from ``delay()`` until its row
  changes: what any queued work waits, whatever it does.

Ratios are against the synchronous pipeline measured in the same run. Every tenant database
and account it creates is dropped at the end.

Usage (from the project root; see benchmarks/README.md):

    .venv/bin/python benchmarks/task_queue.py
    .venv/bin/python benchmarks/task_queue.py --runs 15 --broker redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from provisioning import (
    PASSWORD,
    PREFIX,
    ROOT,
    MySQLServer,
    PostgresServer,
    Timing,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per scenario")
    parser.add_argument("--db-type", choices=["mysql", "postgresql"], default="mysql")
    parser.add_argument("--mysql", default="127.0.0.1:3306", help="MariaDB/MySQL host:port")
    parser.add_argument("--postgresql", default="127.0.0.1:5432", help="PostgreSQL host:port")
    parser.add_argument(
        "--broker", default="", help="CELERY_BROKER_URL (default: the filesystem queue)"
    )
    return parser.parse_args(argv)


def environment(tmpdir: str, broker: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmpdir}/queue-bench.sqlite3",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "VAR_DIR": tmpdir,
        "TENANT_DB_PREFIX": PREFIX,
        "LOG_LEVEL": "WARNING",
    }
    if broker:
        env["CELERY_BROKER_URL"] = broker
    return env


def wait_until(predicate, timeout: float = 120, step: float = 0.01) -> float:
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise SystemExit("the worker did not finish in time (is it running?)")
        time.sleep(step)
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmpdir = tempfile.mkdtemp(prefix="hgj-queue-bench-")
    os.environ.update(environment(tmpdir, args.broker))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.core.models import Heartbeat
    from apps.core.tasks import heartbeat
    from apps.customers.models import Customer
    from apps.datasources import services
    from apps.datasources.models import ProvisioningRun

    call_command("migrate", verbosity=0)
    server = MySQLServer(args.mysql) if args.db_type == "mysql" else PostgresServer(args.postgresql)
    server.create_account()
    log = Path(tmpdir) / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
         "--concurrency", "1", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=os.environ.copy(), stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: "ready." in log.read_text(), timeout=60, step=0.2)
        devops = User.objects.create_user(username="devops", name="运维")
        devops.groups.add(Group.objects.get(name="devops"))
        data = {
            "host": server.host,
            "port": server.port,
            "db_type": server.db_type,
            "username": server.username,
            "password": PASSWORD,
            "max_connections": 2,
            "min_connections": 1,
        }
        counter = 0

        def new_customer() -> Customer:
            nonlocal counter
            counter += 1
            return Customer.objects.create(enterprise_no=f"QB{counter:06d}", name=f"基准{counter}")

        def saved(run_id: int) -> bool:
            status = ProvisioningRun.objects.values_list("status", flat=True).get(pk=run_id)
            if status == ProvisioningRun.Status.FAILED:
                raise SystemExit(ProvisioningRun.objects.get(pk=run_id).message)
            return status == ProvisioningRun.Status.SUCCEEDED

        def beat_at():
            return Heartbeat.objects.filter(name="worker").values_list("at", flat=True).first()

        sync, queued, through, floor = (
            Timing("in the request, synchronous (datasource_configure)"),
            Timing("in the request, queued (datasource_queue)"),
            Timing("saved, through the worker (queue → 成功)"),
            Timing("queue floor: an empty task, delay() → done"),
        )
        # One untimed round of each first (imports, first connections, the worker's pool).
        services.datasource_configure(actor=devops, customer=new_customer(), data=data)
        run = services.datasource_queue(actor=devops, customer=new_customer(), data=data)
        wait_until(lambda: saved(run.pk))
        for _ in range(args.runs):
            t0 = time.perf_counter()
            services.datasource_configure(actor=devops, customer=new_customer(), data=data)
            sync.ms.append((time.perf_counter() - t0) * 1000)

            t0 = time.perf_counter()
            run = services.datasource_queue(actor=devops, customer=new_customer(), data=data)
            queued.ms.append((time.perf_counter() - t0) * 1000)
            wait_until(lambda run_id=run.pk: saved(run_id))
            through.ms.append((time.perf_counter() - t0) * 1000)

            before = beat_at()
            t0 = time.perf_counter()
            heartbeat.delay()
            wait_until(lambda before=before: beat_at() != before)
            floor.ms.append((time.perf_counter() - t0) * 1000)
        report(args, settings.CELERY_BROKER_URL, server, [sync, queued, through, floor])
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        server.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)


def report(args, broker: str, server, timings: list[Timing]) -> None:
    import django

    version = (
        server.sql("SELECT VERSION()")[0][0]
        if server.db_type == "mysql"
        else server.admin.execute("SHOW server_version").fetchone()[0]
    )
    print(
        f"\nTask-queue benchmark · median of {args.runs} runs · tenant server {server.db_type} "
        f"{version} · broker {broker.split('://')[0]} · control database SQLite (temporary) · "
        f"one worker, concurrency 1 · Django {django.get_version()}"
    )
    header = f"{'scenario':52} {'median ms':>9} {'min ms':>7} {'max ms':>7} {'× sync':>7}"
    print(header)
    print("-" * len(header))
    base = timings[0].median or 1
    for t in timings:
        print(
            f"{t.label:52} {t.median:9.1f} {min(t.ms):7.1f} {max(t.ms):7.1f} {t.median / base:7.2f}"
        )


if __name__ == "__main__":
    main()
