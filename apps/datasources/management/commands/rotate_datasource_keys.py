"""Re-encrypt every stored data-source password with the current key — the data sources'
and those kept on provisioning runs that are queued or may be retried.

Key rotation: put the new key first in DATASOURCE_ENCRYPTION_KEYS (keep the old ones after
it), run this command, then remove the old keys."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.audit import services as audit
from apps.core import crypto
from apps.customers.services import registry_changed
from apps.datasources.models import DataSource, ProvisioningRun


class Command(BaseCommand):
    help = "用当前密钥（DATASOURCE_ENCRYPTION_KEYS 的第一个）重新加密所有已保存的数据源密码"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="只检查每个密码能否解密，不写入")

    def handle(self, *args, **options) -> None:
        dry_run = options["dry_run"]
        with transaction.atomic():
            rows = list(
                DataSource.objects.select_for_update()
                .order_by("pk")
                .values_list("pk", "name", "password_encrypted")
            )
            runs = list(
                ProvisioningRun.objects.select_for_update()
                .exclude(secret_encrypted="")
                .order_by("pk")
                .values_list("pk", "name", "secret_encrypted")
            )
            rotated: list[tuple[int, str]] = []
            rotated_runs: list[tuple[int, str]] = []
            unreadable: list[str] = []
            for source, target in ((rows, rotated), (runs, rotated_runs)):
                for pk, name, token in source:
                    try:
                        target.append((pk, crypto.rotate(token)))
                    except crypto.InvalidToken:
                        unreadable.append(name)
            if unreadable:
                raise CommandError(
                    "以下数据源的密码无法用已配置的任何密钥解密，未做任何修改："
                    + "、".join(unreadable)
                )
            if dry_run:
                self.stdout.write(f"检查完成：{len(rows)} 个数据源的密码均可解密（未写入）")
                return
            for pk, token in rotated:
                DataSource.objects.reencrypt(pk, token)
            for pk, token in rotated_runs:
                ProvisioningRun.objects.filter(pk=pk).update(secret_encrypted=token)
            # The registry's tags cover the ciphertext: the business system sees new ones.
            registry_changed(DataSource.objects.values_list("customer_id", flat=True))
            audit.record(
                actor=None,
                action="datasource_rotate_keys",
                message=f"已用当前密钥重新加密 {len(rotated)} 个数据源密码",
            )
        self.stdout.write(self.style.SUCCESS(f"已用当前密钥重新加密 {len(rotated)} 个数据源密码"))
