from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "通知"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from apps.core import registry

        from . import services

        registry.register_notifier("robot", services.send)
        registry.register_actions(
            {
                "robot_create": _("新建群机器人"),
                "robot_update": _("修改群机器人"),
                "robot_delete": _("删除群机器人"),
            },
            perm="notifications.manage_robot",
        )
