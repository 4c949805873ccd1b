from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import User
from apps.accounts.services import staff_create

DEMO_STAFF = [
    ("admin", "admin", "系统管理员"),
    ("opsmgr", "ops_manager", "运营主管 张敏"),
    ("ops", "ops", "运营专员 王磊"),
    ("ops2", "ops", "运营专员 李娜"),
    ("devops", "devops", "开发运维 赵强"),
]


class Command(BaseCommand):
    help = "创建演示数据与演示账号（重复运行不会改变任何数据）"

    def handle(self, *args, **opts):
        password = settings.DEMO_PASSWORD
        with transaction.atomic():
            for username, role, name in DEMO_STAFF:
                if not User.objects.filter(username=username).exists():
                    staff_create(
                        actor=None, username=username, password=password, roles=[role], name=name
                    )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("演示账号（密码均为 DEMO_PASSWORD）："))
        for username, _role, name in DEMO_STAFF:
            self.stdout.write(f"  {username:<8} {name}")
        self.stdout.write(f"  密码：{password}")
        self.stdout.write("  控制台：http://127.0.0.1:8000/   报名页：http://127.0.0.1:8000/apply/")
