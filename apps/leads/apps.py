from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "apps.leads"
    label = "leads"
    verbose_name = "客户申请"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from apps.core import registry

        for kind in (
            registry.NoticeKind("lead_new", _("新的自助申请"), "leads.claim_lead", 10),
            registry.NoticeKind("lead_assigned", _("分配给我的客户申请"), "leads.view_lead", 20),
            registry.NoticeKind("callback_overdue", _("回访逾期"), "leads.view_lead", 25),
        ):
            registry.register_notice_kind(kind)
        registry.register_actions(
            {
                "apply": _("公开报名"),
                "import": _("Excel 导入"),
                "repeat_apply": _("重复申请"),
                "claim": _("领取"),
                "follow_up": _("回访"),
                "reopen": _("重新打开"),
                "convert": _("转为客户"),
            }
        )
        registry.register_audit_type(
            registry.AuditType(
                code="lead",
                label=_("客户申请"),
                model="leads.lead",
                view_perm="leads.view_lead",
                detail_url="leads:detail",
                name_fields=("id", "name", "phone"),
                customer_field="customer",
            )
        )
        registry.register_audit_type(
            registry.AuditType(
                code="qrchannel",
                label=_("二维码渠道"),
                model="leads.qrchannel",
                view_perm="leads.manage_qrchannel",
                name_fields=("id", "name", "code"),
            )
        )
