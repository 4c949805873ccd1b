"""The console menu, declared in code: each item names the permission it needs."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.core.permissions import has_perm


@dataclass(frozen=True)
class MenuItem:
    label: str
    url_name: str
    perm: str | tuple[str, ...] | None  # None: every signed-in member; a tuple: any of them
    section: str
    badge: str = ""  # URL name of a count loaded after the page


MENU: list[MenuItem] = [
    MenuItem(_("工作台"), "console:dashboard", None, "dashboard"),
    MenuItem(_("待办"), "console:inbox", None, "inbox", badge="console:inbox_count"),
    MenuItem(_("客户申请"), "leads:list", "leads.view_lead", "leads"),
    MenuItem(_("待回访"), "leads:to_call", "leads.view_lead", "to_call"),
    MenuItem(_("客户"), "customers:list", "customers.view_customer", "customers"),
    MenuItem(_("合同"), "contracts:list", "contracts.view_contract", "contracts"),
    MenuItem(_("套餐"), "customers:package_list", "customers.manage_package", "packages"),
    MenuItem(_("二维码渠道"), "leads:qr_list", "leads.manage_qrchannel", "qr"),
    MenuItem(_("公海与分配规则"), "leads:rules", "leads.manage_pool_rules", "rules"),
    MenuItem(_("租户库升级"), "fleet:list", "datasources.manage_datasource", "fleet"),
    MenuItem(
        _("操作日志"), "audit:list", ("audit.view_auditlog", "audit.view_scoped_auditlog"), "audit"
    ),
    MenuItem(_("员工与角色"), "accounts:staff_list", "accounts.manage_staff", "staff"),
    MenuItem(_("API 令牌"), "accounts:token_list", "accounts.manage_api_tokens", "tokens"),
    MenuItem(_("群机器人"), "notifications:robot_list", "notifications.manage_robot", "robots"),
    MenuItem(_("通知设置"), "notifications:preferences", None, "notifications"),
]


def _allowed(user, perm: str | tuple[str, ...] | None) -> bool:
    if perm is None:
        return True
    return any(has_perm(user, p) for p in ((perm,) if isinstance(perm, str) else perm))


def menu_for(user) -> list[dict]:
    return [
        {
            "label": item.label,
            "url": reverse(item.url_name),
            "section": item.section,
            "badge": reverse(item.badge) if item.badge else "",
        }
        for item in MENU
        if _allowed(user, item.perm)
    ]
