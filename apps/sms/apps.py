from django.apps import AppConfig


class SmsConfig(AppConfig):
    name = "apps.sms"
    label = "sms"
    verbose_name = "短信验证码"

    def ready(self) -> None:
        from apps.core import registry

        from . import notices

        registry.register_notifier("sms", notices.send)
