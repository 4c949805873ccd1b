from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "基础"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from . import tasking
        from .inputs import guard_model_save

        tasking.connect()  # request context and outcome counts for every task

        # Every platform model passes the input rules before it is written.
        pre_save.connect(guard_model_save, dispatch_uid="core.inputs.guard_model_save")
