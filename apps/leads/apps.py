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
            registry.NoticeKind("lead_recycled", _("客户申请退回公海"), "leads.view_lead", 27),
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
                "recycle": _("退回公海"),
                "merge": _("合并"),
                "merged_into": _("被合并"),
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
        for code, label, model in (
            ("poolpolicy", _("公海规则"), "leads.poolpolicy"),
            ("placementrule", _("分配规则"), "leads.placementrule"),
        ):
            registry.register_audit_type(
                registry.AuditType(
                    code=code,
                    label=label,
                    model=model,
                    view_perm="leads.manage_pool_rules",
                    extra_labels={"specialists": _("轮流分配给")},
                    region_fields=("province",),
                )
            )
        registry.register_customer_merge_step(registry.MergeStep("leads", _merge_step, 50))
        registry.register_daily_job(
            registry.DailyJob(
                "recycle_leads", _recycle, _("%(n)d 条客户申请超期未回访，已退回公海")
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


def _recycle(now) -> int:
    from .pool import recycle

    return recycle(now=now)


def _merge_step(actor, keep, drop) -> str:
    from .merging import customer_merge_step

    return customer_merge_step(actor, keep, drop)
