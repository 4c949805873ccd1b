from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "员工与权限"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")

        from . import signals

        signals.connect()
        _register()


def _register() -> None:
    from django.utils.translation import gettext_lazy as _

    from apps.core import registry

    from .models import ApiToken
    from .roles import ROLES

    registry.register_actions(
        {
            "unlock": _("解除登录锁定"),
            "login": _("登录"),
            "login_failed": _("登录失败"),
            "logout": _("退出"),
            "set_password": _("重置密码"),
            "issue_token": _("签发令牌"),
            "revoke_token": _("吊销令牌"),
            "two_factor_enable": _("启用二次验证"),
            "two_factor_reset": _("重置二次验证"),
            "two_factor_failed": _("二次验证失败"),
            "recovery_code_used": _("使用恢复码"),
        }
    )
    registry.register_audit_type(
        registry.AuditType(
            code="staff",
            label=_("员工"),
            model="accounts.user",
            view_perm="accounts.manage_staff",
            detail_url="accounts:staff_edit",
            name_fields=("id", "username", "name"),
            extra_labels={"roles": _("角色")},
            list_labels={"roles": lambda: {code: role.label for code, role in ROLES.items()}},
        )
    )
    registry.register_audit_type(
        registry.AuditType(
            code="token",
            label=_("API 令牌"),
            model="accounts.apitoken",
            view_perm="accounts.manage_api_tokens",
            extra_labels={"created_by": _("签发人")},
            list_labels={"scopes": lambda: dict(ApiToken.SCOPE_CHOICES)},
        )
    )
