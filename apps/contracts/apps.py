from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "apps.contracts"
    label = "contracts"
    verbose_name = "合同"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from apps.core import registry

        from .selectors import customer_panel, service_periods

        registry.register_audit_type(
            registry.AuditType(
                code="contract",
                label=_("合同"),
                model="contracts.contract",
                view_perm="contracts.view_contract",
                detail_url="contracts:detail",
                name_fields=("id",),
                describe=lambda c: f"合同 #{c.pk}",
                customer_field="customer",
            )
        )
        registry.register_service_periods("contracts", service_periods)
        registry.register_customer_merge_step(registry.MergeStep("contracts", _merge_step, 40))
        registry.register_customer_panel(
            registry.CustomerPanel(
                "contracts", "contracts/_customer_panel.html", customer_panel, order=20
            )
        )


def _merge_step(actor, keep, drop) -> str:
    from .services import contracts_follow_merge

    return contracts_follow_merge(actor=actor, keep=keep, drop=drop)
