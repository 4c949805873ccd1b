"""The fixed roles of the platform (DESIGN §2) and the permissions each one holds.

Roles are Django groups named by their code. ``sync_roles`` makes the groups match this
table exactly; it runs from a migration and after every ``migrate`` so that permissions
added by later apps reach the roles without hand work.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    description: str
    permissions: tuple[str, ...]  # "app_label.codename"; "*" means every permission


OPS_PERMS = (
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.activate_customer",
    "customers.close_customer",
    "customers.view_customer_file",
    "customers.view_package",
    "contracts.view_contract",
    "contracts.add_contract",
    "contracts.change_contract",
    "contracts.view_contract_file",
    "leads.view_lead",
    "leads.add_lead",
    "leads.change_lead",
    "leads.claim_lead",
    "leads.convert_lead",
    "datasources.view_datasource",
)

# Roles that hold the keys (every tenant database, every staff account) hold this permission
# and log in with a second factor (apps/accounts/twofactor.py); 系统管理员 holds every one.
SECOND_FACTOR_PERM = "accounts.requires_second_factor"

ROLES: dict[str, Role] = {
    role.code: role
    for role in (
        Role(
            "ops",
            _("运营专员"),
            _("客户、合同、开通；只看本人负责与未分配的记录"),
            OPS_PERMS,
        ),
        Role(
            "ops_manager",
            _("运营主管"),
            _("运营专员的全部权限，范围为全部记录；可分配负责人、管理套餐、查看业务操作日志"),
            (
                *OPS_PERMS,
                "customers.assign_customer",
                "leads.assign_lead",
                "leads.manage_qrchannel",
                "customers.manage_package",
                "customers.extend_trial",
                "customers.export_customer",
                "customers.import_customer",
                "customers.merge_customer",
                "leads.export_lead",
                "leads.import_lead",
                "leads.merge_lead",
                "leads.manage_pool_rules",
                "contracts.export_contract",
                "accounts.data_scope_all",
                "audit.view_scoped_auditlog",
            ),
        ),
        Role(
            "devops",
            _("开发运维"),
            _("配置、检测、删除租户数据源并推进实施状态；只读客户"),
            (
                "customers.view_customer",
                "accounts.data_scope_all",
                "datasources.manage_datasource",
                "datasources.view_datasource",
                SECOND_FACTOR_PERM,
            ),
        ),
        Role("admin", _("系统管理员"), _("全部权限，含员工账号与角色"), ("*",)),
    )
}

ROLE_CHOICES = [(code, role.label) for code, role in ROLES.items()]
PROJECT_APPS = (
    "accounts",
    "audit",
    "customers",
    "contracts",
    "leads",
    "datasources",
    "notifications",
)


def sync_roles(apps=None) -> None:
    """Create or update the role groups so that they hold exactly the listed permissions."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in=PROJECT_APPS
        )
    }
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.code)
        if "*" in role.permissions:
            wanted = list(perms.values())
        else:
            wanted = [perms[name] for name in role.permissions if name in perms]
        group.permissions.set(wanted)


def sync_roles_after_migrate(sender, **kwargs) -> None:
    # Run once per migrate, after the last app has created its permissions.
    if getattr(sender, "label", None) != "accounts":
        return
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles()
