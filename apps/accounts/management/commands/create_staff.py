from __future__ import annotations

import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import ROLES
from apps.accounts.services import staff_create
from apps.core.errors import DomainError


class Command(BaseCommand):
    help = "创建员工账号：manage.py create_staff --username U --role ROLE [--role ROLE2]"

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument(
            "--role", action="append", required=True, choices=sorted(ROLES), dest="roles"
        )
        parser.add_argument("--name", default="")
        parser.add_argument("--phone", default="")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            default="STAFF_PASSWORD",
            help="读取密码的环境变量名（未设置时交互输入）",
        )

    def handle(self, *args, **opts):
        password = os.environ.get(opts["password_env"]) or ""
        if not password:
            password = getpass.getpass("密码：")
            if password != getpass.getpass("再次输入密码："):
                raise CommandError("两次输入的密码不一致")
        try:
            user = staff_create(
                actor=None,
                username=opts["username"],
                password=password,
                roles=opts["roles"],
                name=opts["name"],
                phone=opts["phone"],
                email=opts["email"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        labels = "、".join(str(ROLES[r].label) for r in opts["roles"])
        self.stdout.write(self.style.SUCCESS(f"已创建员工 {user.username}（{labels}）"))
