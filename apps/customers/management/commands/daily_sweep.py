"""manage.py daily_sweep [--today YYYY-MM-DD]: bring every customer's service state up to
date (试用中 → 宽限期 → 已停用 …), send the 到期提醒 due, then the other apps' daily work
(客户申请 not followed up return to the pool). Safe to run twice; beat runs it daily."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from apps.customers.lifecycle import daily, other_daily_jobs, state_label
from apps.customers.models import ServiceState


class Command(BaseCommand):
    help = "按合同与试用期更新所有客户的服务状态（可重复运行）"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--today", help="按这一天计算（YYYY-MM-DD，默认今天）")

    def handle(self, *args, **options) -> None:
        today = None
        if options.get("today"):
            try:
                today = dt.date.fromisoformat(options["today"])
            except ValueError:
                raise CommandError("--today 须为 YYYY-MM-DD 格式的日期") from None
            if not dt.date(2000, 1, 1) <= today <= dt.date(2100, 12, 31):
                raise CommandError("--today 须在 2000-01-01 与 2100-12-31 之间")
        counts, reminders = daily(today=today)
        if counts:
            moved = "，".join(
                f"{state_label(state)} {counts[state]} 个"
                for state in ServiceState.values
                if counts[state]
            )
            self.stdout.write(self.style.SUCCESS(f"已更新服务状态：{moved}"))
        else:
            self.stdout.write("服务状态均已是最新，未做任何修改")
        if reminders:
            sent = "，".join(
                f"{label} {reminders[key]} 条"
                for key, label in (
                    ("sent", "已送达"),
                    ("undelivered", "无可用渠道"),
                    ("failed", "发送失败"),
                )
                if reminders[key]
            )
            self.stdout.write(f"到期提醒：{sent}")
        for _code, n, text in other_daily_jobs(today=today):
            if n:
                self.stdout.write(text)
