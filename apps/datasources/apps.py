import re

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DatasourcesConfig(AppConfig):
    name = "apps.datasources"
    label = "datasources"
    verbose_name = "数据源"

    def ready(self) -> None:
        from apps.core import crypto

        # Refuse to start with a malformed key or an unsafe database-name prefix.
        crypto.validate_keys()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,19}", settings.TENANT_DB_PREFIX or ""):
            raise ImproperlyConfigured(
                "TENANT_DB_PREFIX must be 1-20 characters of [a-z0-9_] starting with a letter"
            )
        _register()


def _register() -> None:
    from django.utils.translation import gettext_lazy as _

    from apps.core import registry

    from . import schemas
    from .services import datasource_blocker
    from .views import panel_context

    manage = "datasources.manage_datasource"
    # Rows about a customer that name its server and account: shown in the data-source
    # panel and to those who may see connection details, not in the customer's history.
    registry.register_actions(
        {
            "datasource_check": _("检测数据源连接"),
            "datasource_configure": _("配置数据源"),
            "datasource_configure_failed": _("配置数据源失败"),
            "datasource_retry": _("重试配置数据源"),
            "datasource_run_cleanup": _("清理配置记录"),
            "datasource_status": _("变更实施状态"),
            "datasource_delete": _("删除数据源"),
            "datasource_rotate_keys": _("轮换数据源密钥"),
            "datasource_clear": _("申请清空数据表"),
            "datasource_clear_done": _("清空数据表"),
            "datasource_clear_failed": _("清空数据表失败"),
            "datasource_restore": _("申请恢复数据表"),
            "datasource_restore_done": _("恢复数据表"),
            "datasource_restore_failed": _("恢复数据表失败"),
            "datasource_backup_expired": _("删除过期的数据表备份"),
            "datasource_relocate": _("申请迁移数据源"),
            "datasource_relocated": _("迁移数据源"),
            "datasource_relocate_failed": _("迁移数据源失败"),
            "datasource_retired_removed": _("删除旧库"),
            "datasource_rotate": _("申请轮换账号"),
            "datasource_rotated": _("轮换账号"),
            "datasource_rotate_failed": _("轮换账号失败"),
            "datasource_rotation_done": _("停用旧账号"),
        },
        own_history=False,
        perm=manage,
    )
    registry.register_actions({"registry_read": _("读取租户注册表")}, perm=manage, counted=True)
    registry.register_customer_merge_step(registry.MergeStep("datasources", _merge_step, 10))
    registry.register_actions(
        {
            "tenant_rollout_start": _("发起租户库升级"),
            "tenant_rollout_pause": _("暂停租户库升级"),
            "tenant_rollout_resume": _("继续租户库升级"),
            "tenant_rollout_retry": _("重试租户库升级"),
            "tenant_rollout_finish": _("租户库升级结束"),
            "tenant_migrate": _("租户库升级"),
            "tenant_migrate_failed": _("租户库升级失败"),
        },
        own_history=False,
        perm=manage,
    )
    registry.register_metric(
        registry.Metric(
            name="hgj_provisioning_runs",
            documentation="Data-source provisioning runs by status",
            samples=_provisioning_counts,
        )
    )
    registry.register_audit_type(
        registry.AuditType(
            code="rollout",
            label=_("租户库升级"),
            model="datasources.rollout",
            view_perm=manage,
            name_fields=("id", "target_version"),
            describe=_rollout_name,
        )
    )
    registry.register_audit_type(
        registry.AuditType(
            code="datasource",
            label=_("数据源"),
            model="datasources.datasource",
            view_perm=manage,
            name_fields=("id", "name"),
            customer_field="customer",
        )
    )

    def panel(request, customer):
        context = panel_context(request, customer)
        return context if context["ds_panel"] else None

    registry.register_customer_panel(
        registry.CustomerPanel("datasource", "datasources/_panel.html", panel, order=10)
    )
    registry.register_customer_filter(
        registry.CustomerFilter(
            param="impl",
            label=_("实施状态"),
            choices=(
                ("none", _("未配置数据源")),
                ("0", _("未实施")),
                ("1", _("实施中")),
                ("2", _("已上线")),
            ),
            condition=_impl_condition,
            order=40,
        )
    )
    registry.register_customer_filter(
        registry.CustomerFilter(
            param="schema",
            label=_("表结构版本"),
            choices=schemas.FILTER_CHOICES,
            condition=schemas.customer_condition,
            perm=manage,
        )
    )
    # 开通 requires a configured data source.
    registry.register_activation_check(
        registry.ActivationCheck("datasource", datasource_blocker, order=20)
    )


def _rollout_name(rollout) -> str:
    return f"#{rollout.pk} → {rollout.target_version}"


def _provisioning_counts() -> list[tuple[dict[str, str], float]]:
    from django.db.models import Count

    from .models import ProvisioningRun

    counts = dict(ProvisioningRun.objects.values_list("status").annotate(n=Count("id")).order_by())
    return [
        ({"status": status}, float(counts.get(status, 0)))
        for status in ProvisioningRun.Status.values
    ]


def _impl_condition(value: str):
    """The customer list's 实施状态 filter: a data source's status, or none configured."""
    from django.db.models import Q

    if value == "none":
        return Q(datasource__isnull=True)
    if value in {"0", "1", "2"}:
        return Q(datasource__impl_status=int(value))
    return None


def _merge_step(actor, keep, drop) -> str:
    from .services import refuse_customer_merge

    refuse_customer_merge(keep, drop)
    return ""
