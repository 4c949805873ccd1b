from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "apps.customers"
    label = "customers"
    verbose_name = "客户"

    def ready(self) -> None:
        from django.conf import settings
        from django.utils.translation import gettext_lazy as _

        from apps.core import registry

        from .services import check_profile

        registry.register_audit_type(
            registry.AuditType(
                code="customer",
                label=_("客户"),
                model="customers.customer",
                view_perm="customers.view_customer",
                detail_url="customers:detail",
                name_fields=("id", "name", "enterprise_no"),
                customer_field="pk",
                list_labels={"modules": lambda: dict(settings.CUSTOMER_MODULES)},
                region_fields=("province", "city"),
            )
        )
        registry.register_audit_type(
            registry.AuditType(
                code="package",
                label=_("套餐"),
                model="customers.package",
                view_perm="customers.manage_package",
                detail_url="customers:package_edit",
                name_fields=("id", "name"),
                list_labels={"modules": lambda: dict(settings.CUSTOMER_MODULES)},
            )
        )
        registry.register_actions(
            {
                "service_state": _("服务状态变更"),
                "trial_start": _("开通试用"),
                "trial_extend": _("延长试用"),
                "service_reminder": _("到期提醒"),
            }
        )
        registry.register_activation_check(
            registry.ActivationCheck("profile", check_profile, order=10)
        )
        registry.register_notice_kind(
            registry.NoticeKind(
                "service_reminder",
                _("到期提醒（试用、服务期、宽限期）"),
                "customers.view_customer",
                40,
            )
        )
