"""租户库升级 from the command line: print the plan, then (unless --dry-run) start the
rollout on the task queue and follow it until it ends or pauses.

    python manage.py migrate_tenants --to 0003 --dry-run
    python manage.py migrate_tenants --to 0003 --canary 2 --wave-size 50
    python manage.py migrate_tenants --to 0003 --include-online --no-wait

Exit status: 0 when every tenant reached the target (or nothing was to do), 1 when some
failed or the rollout paused (the output names them and why)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import DomainError
from apps.core.tasks import worker_seen_seconds
from apps.datasources import rollouts
from apps.datasources.models import Rollout, RolloutTenant


class Command(BaseCommand):
    help = "把租户库升级到指定的表结构版本（先金丝雀，再分批；每台服务器按连接预算限制并发）"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", required=True, dest="target", help="目标版本，如 0003")
        parser.add_argument("--canary", type=int, default=2, help="先升级的金丝雀租户数（默认 2）")
        parser.add_argument("--wave-size", type=int, default=50, help="之后每批的租户数（默认 50）")
        parser.add_argument(
            "--include-online", action="store_true", help="包含已上线的租户（在金丝雀之后）"
        )
        parser.add_argument("--dry-run", action="store_true", help="只打印计划，不做任何修改")
        parser.add_argument("--no-wait", action="store_true", help="交给任务进程后立即返回")
        parser.add_argument("--poll", type=float, default=2.0, help="跟踪进度的间隔秒数（默认 2）")

    def handle(self, *args, **options) -> None:
        try:
            plan = rollouts.plan(
                target=options["target"],
                include_online=options["include_online"],
                canary_size=options["canary"],
                wave_size=options["wave_size"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.print_plan(plan)
        if options["dry_run"]:
            self.stdout.write("演练：以上为计划，未做任何修改。")
            return
        if not plan.tenants:
            self.stdout.write("没有需要升级的租户。")
            return
        try:
            rollout = rollouts.rollout_start(
                actor=None,
                by_command=True,
                target=plan.target,
                include_online=options["include_online"],
                canary_size=options["canary"],
                wave_size=options["wave_size"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"已发起租户库升级 #{rollout.pk}，由任务进程执行。")
        if options["no_wait"]:
            return
        self.follow(rollout, options["poll"])

    def print_plan(self, plan: rollouts.Plan) -> None:
        w = self.stdout.write
        w(
            f"租户库升级计划：目标版本 {plan.target}，{len(plan.tenants)} 个租户，"
            f"{len(plan.servers)} 台服务器，金丝雀 {len(plan.canary)} 个，共 {plan.waves} 批"
        )
        for server in plan.servers:
            budget = (
                f"max_connections {server.max_connections}，已配置连接池 {server.pools_configured}"
                if server.max_connections
                else server.note
            )
            w(f"\n服务器 {server.server}（{budget}）：并发上限 {server.cap}，"
              f"{len(server.tenants)} 个租户")  # fmt: skip
            for t in sorted(server.tenants, key=lambda t: (t.wave, t.datasource.pk)):
                wave = "金丝雀" if t.wave == 0 else f"第 {t.wave} 批"
                steps = "、".join(m.label for m in t.pending) or "执行时读取"
                online = "（已上线）" if t.online else ""
                w(f"  {t.datasource.name:24} {t.from_version or '未知':>4} → {plan.target}  "
                  f"{wave}{online}  {steps}")  # fmt: skip
        if plan.skipped:
            w("\n跳过：")
            for ds, reason in plan.skipped:
                w(f"  {ds.name:24} {reason}")
        w(f"\n已是目标版本或更新：{plan.up_to_date} 个租户\n")

    def follow(self, rollout: Rollout, poll: float) -> None:
        warned = False
        started = time.monotonic()
        last = ""
        while True:
            rollout.refresh_from_db()
            progress = rollouts.rollout_progress(rollout)
            counts = progress["by_status"]
            line = (
                f"{progress['done']}/{progress['total']} 完成 · 成功 {counts.get('succeeded', 0)}"
                f" · 失败 {counts.get('failed', 0)} · 跳过 {counts.get('skipped', 0)}"
                f" · 进行中 {counts.get('running', 0)}"
            )
            if line != last:
                self.stdout.write(line)
                last = line
            if rollout.status != Rollout.Status.RUNNING:
                break
            if not warned and time.monotonic() - started > 15 and progress["done"] == 0:
                seen = worker_seen_seconds()
                if seen is None or seen > 120:
                    self.stderr.write(
                        "尚未看到任务进程在运行：请启动 celery -A config worker"
                        "（升级会在其启动后继续）"
                    )
                    warned = True
            time.sleep(poll)
        self.stdout.write(f"#{rollout.pk} {rollout.get_status_display()}：{rollout.message}")
        problems = rollout.tenants.filter(
            status__in=[RolloutTenant.Status.FAILED, RolloutTenant.Status.SKIPPED]
        ).order_by("name")
        for tenant in problems:
            self.stdout.write(f"  {tenant.get_status_display()} {tenant.name}：{tenant.message}")
        if (
            rollout.status == Rollout.Status.PAUSED
            or problems.filter(status=RolloutTenant.Status.FAILED).exists()
        ):
            raise CommandError("部分租户未能升级，见上；修复后可在控制台重试失败的租户")
