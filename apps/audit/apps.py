from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
    verbose_name = "操作日志"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from apps.core import registry

        # The verbs every app shares; apps register their own actions beside theirs.
        registry.register_actions(
            {
                "create": _("新建"),
                "update": _("修改"),
                "delete": _("删除"),
                "activate": _("开通"),
                "close": _("关闭"),
                "assign": _("分配负责人"),
                "disable": _("停用"),
                "enable": _("启用"),
            }
        )
