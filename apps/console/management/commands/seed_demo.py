from __future__ import annotations

import logging
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.services import staff_create
from apps.console import demo
from apps.contracts.services import contract_create, contract_update
from apps.core.errors import DomainError
from apps.customers.models import Customer, Package
from apps.customers.packages import package_create
from apps.customers.services import (
    customer_activate,
    customer_assign,
    customer_close,
    customer_create,
    customer_update,
)

DEMO_STAFF = [
    ("admin", "admin", "刘洋"),
    ("opsmgr", "ops_manager", "张敏"),
    ("ops", "ops", "王磊"),
    ("ops2", "ops", "李娜"),
    ("devops", "devops", "赵强"),
]

STATE_LABELS = {
    "lead": "仅有名称与联系人",
    "partial": "资料未填全",
    "complete": "资料完整未开通",
    "open": "已开通",
    "closed": "开通后关闭",
}


DEMO_PACKAGES = [
    ("基础版", ["property", "repair"], 10, 3),
    ("标准版", ["property", "repair", "community", "owner_app"], 50, 20),
    ("旗舰版", [code for code, _label in settings.CUSTOMER_MODULES], None, None),
]


def seed_packages(manager: User) -> int:
    """The demo's 套餐 catalogue, created once (by name); returns how many were created."""
    created = 0
    for name, modules, accounts, communities in DEMO_PACKAGES:
        if not Package.objects.filter(name=name).exists():
            package_create(
                actor=manager,
                data={
                    "name": name,
                    "modules": modules,
                    "max_accounts": accounts,
                    "max_communities": communities,
                },
            )
            created += 1
    return created


def demo_data_present(plans: list[demo.CustomerPlan]) -> bool:
    """True when an earlier run already created the demo customers (or someone else holds
    their licence numbers): then seed_demo leaves customers and contracts alone."""
    return Customer.objects.filter(
        Q(remarks__startswith=demo.DEMO_MARKER) | Q(license_no__in=demo.plan_license_numbers(plans))
    ).exists()


def create_demo_customers(plans: list[demo.CustomerPlan], staff: dict[str, User]) -> Counter:
    """Create the planned customers and contracts through the services, so that each step
    leaves the audit row a member of staff doing it by hand would leave."""
    manager = staff["opsmgr"]
    counts: Counter = Counter()
    for plan in plans:
        owner = staff[plan.owner] if plan.owner else None
        worker = owner or manager  # who follows the customer up
        if plan.via == "self":
            customer = customer_create(actor=owner, data=plan.created)
        elif plan.via == "handover":
            customer = customer_create(actor=staff["ops"], data=plan.created)
        elif plan.via == "direct":
            customer = customer_create(actor=manager, data=plan.created, owner=owner)
        else:  # pool, assigned
            customer = customer_create(actor=manager, data=plan.created, owner=None)
        if plan.via in {"assigned", "handover"}:
            customer_assign(actor=manager, customers=[customer], owner=owner)
        if plan.later:
            customer = customer_update(actor=worker, customer=customer, data=plan.later)

        goes_live = plan.state in {"open", "closed"}
        if goes_live:
            demo.demo_datasource(customer, actor=staff["devops"], index=counts["datasources"])
            counts["datasources"] += 1
        if goes_live and not plan.contracts:
            customer = customer_activate(actor=worker, customer=customer, modules=plan.modules)
        for index, contract_plan in enumerate(plan.contracts):
            contract = contract_create(actor=worker, customer=customer, data=contract_plan.data)
            counts["contracts"] += 1
            if goes_live and index == 0:
                customer = customer_activate(actor=worker, customer=customer, modules=plan.modules)
            if contract_plan.update:
                contract_update(actor=worker, contract=contract, data=contract_plan.update)
        if plan.amend:
            customer = customer_update(actor=worker, customer=customer, data=plan.amend)
        if plan.state == "closed":
            customer_close(actor=worker, customer=customer, reason=plan.close_reason)
        counts[plan.state] += 1
    return counts


class Command(BaseCommand):
    help = "创建演示数据与演示账号（重复运行不会改变任何数据）"

    def handle(self, *args, **opts):
        # The services log each demo registration at INFO; keep the start-up output short.
        app_log = logging.getLogger("apps")
        level = app_log.level
        app_log.setLevel(logging.WARNING)
        try:
            self._seed()
        finally:
            app_log.setLevel(level)

    def _seed(self) -> None:
        password = settings.DEMO_PASSWORD
        self.stdout.write(f"演示账号密码（DEMO_PASSWORD）：{password}")
        plans = demo.build_plan(timezone.localdate())
        try:
            with transaction.atomic():
                for username, role, name in DEMO_STAFF:
                    if not User.objects.filter(username=username).exists():
                        staff_create(
                            actor=None,
                            username=username,
                            password=password,
                            roles=[role],
                            name=name,
                        )
                staff = {
                    u.username: u
                    for u in User.objects.filter(username__in=["opsmgr", "ops", "ops2", "devops"])
                }
                packages = seed_packages(staff["opsmgr"])
                present = demo_data_present(plans)
                counts = None if present else create_demo_customers(plans, staff)
                if counts is not None:
                    counts.update(demo.create_demo_leads(staff))
        except DomainError as exc:
            raise CommandError(f"演示数据创建失败：{exc.message} {exc.fields or ''}") from exc

        self.stdout.write("")
        if counts is None:
            self.stdout.write("已存在演示客户与合同，未做任何修改。")
        else:
            total = (
                f"已创建演示客户 {len(plans)} 个、合同 {counts['contracts']} 份、"
                f"数据源 {counts['datasources']} 个（演示记录）："
            )
            self.stdout.write(self.style.SUCCESS(total))
            for state, label in STATE_LABELS.items():
                self.stdout.write(f"  {label}：{counts[state]} 个")
            self.stdout.write(
                f"已创建客户申请 {counts['leads']} 条（回访 {counts['follow_ups']} 次，"
                f"转化 {counts['converted']} 条）与二维码渠道 {len(demo.DEMO_QR_CHANNELS)} 个"
            )
        if packages:
            self.stdout.write(f"已创建演示套餐 {packages} 个：基础版、标准版、旗舰版")
        self.stdout.write(self.style.SUCCESS("演示账号（密码均为 DEMO_PASSWORD）："))
        for username, _role, name in DEMO_STAFF:
            self.stdout.write(f"  {username:<8} {name}")
        self.stdout.write(f"  密码：{password}")
        self.stdout.write(f"  控制台：{settings.PUBLIC_BASE_URL}/")
        if settings.TWO_FACTOR_ENFORCED:
            self.stdout.write(
                "  二次验证：devops 与 admin 首次登录时须用手机身份验证器扫码绑定"
                "（演示可设 TWO_FACTOR_ENFORCED=0 跳过；生产环境不允许）"
            )
        else:
            self.stdout.write("  二次验证：演示环境中可选（TWO_FACTOR_ENFORCED=0），生产环境必需")
        self.stdout.write(f"  报名页：{settings.PUBLIC_BASE_URL}/apply/")
