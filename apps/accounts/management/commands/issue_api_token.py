from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.accounts.models import ApiToken, User
from apps.accounts.services import token_issue
from apps.core.errors import DomainError

SCOPES = [code for code, _label in ApiToken.SCOPE_CHOICES]


class Command(BaseCommand):
    help = (
        "签发 API 令牌：manage.py issue_api_token --username U --name N --scope registry|api "
        "[--scope …] [--expires-days D]。令牌原文只输出这一次（标准输出仅一行令牌，便于脚本读取）。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True, help="令牌所属账号")
        parser.add_argument("--name", required=True, help="令牌名称（用途）")
        parser.add_argument(
            "--scope", action="append", required=True, choices=SCOPES, dest="scopes"
        )
        parser.add_argument("--expires-days", type=int, default=None, help="有效天数（默认长期）")

    def handle(self, *args, **opts):
        user = User.objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"账号不存在：{opts['username']}")
        expires_at = None
        if opts["expires_days"] is not None:
            if opts["expires_days"] <= 0:
                raise CommandError("--expires-days 应为正整数")
            expires_at = timezone.now() + dt.timedelta(days=opts["expires_days"])
        try:
            token, raw = token_issue(
                actor=None,
                user=user,
                name=opts["name"],
                scopes=opts["scopes"],
                expires_at=expires_at,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"已签发令牌「{token.name}」（前缀 {token.prefix}，账号 {user.username}）。"
            "令牌只显示这一次，请妥善保存："
        )
        self.stdout.write(raw)
