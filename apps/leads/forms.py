"""Lead forms: they render and parse; the rules live in ``services``."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import User
from apps.core import forms as core_forms
from apps.core import regions

from .models import FollowUp, Lead, PlacementRule, PoolPolicy, QrChannel

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class LeadForm(core_forms.Form):
    """线下录入 and correcting a lead. Phone and name rules live in ``clean_applicant``."""

    name = forms.CharField(label=_("姓名"), max_length=50)
    phone = forms.CharField(
        label=_("电话"),
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": _("11 位手机号"), "inputmode": "tel"}),
    )
    company = forms.CharField(label=_("公司名"), max_length=100, required=False)
    province = forms.ChoiceField(label=_("所在省份"), required=False, choices=())
    notes = forms.CharField(
        label=_("备注"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("在哪里认识、需求、约定等")}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["province"].choices = province_choices(_("不填"))

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) or "" for name in self.fields}


def province_choices(empty: str) -> list[tuple[str, str]]:
    return [("", empty), *regions.provinces()]


class FollowUpForm(core_forms.Form):
    method = forms.ChoiceField(
        label=_("回访方式"),
        choices=FollowUp.Method.choices,
        widget=forms.RadioSelect,
        initial=FollowUp.Method.PHONE,
    )
    result = forms.ChoiceField(
        label=_("回访结果"), choices=[("", _("请选择")), *FollowUp.Result.choices]
    )
    notes = forms.CharField(
        label=_("回访记录"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("沟通要点、客户需求")}),
    )
    next_follow_up_at = forms.DateTimeField(
        label=_("下次回访时间"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("未接通且不填时，默认 1 天后再回访"),
    )
    lost_reason = forms.ChoiceField(
        label=_("无意向原因"),
        required=False,
        choices=[("", _("（结果为无意向时必选）")), *Lead.LostReason.choices],
    )
    lost_note = forms.CharField(
        label=_("原因说明"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("原因为“其他”时必填")}),
    )

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {
            "method": data["method"],
            "result": data["result"],
            "notes": data.get("notes") or "",
            "next_follow_up_at": data.get("next_follow_up_at"),
            "lost_reason": data.get("lost_reason") or "",
            "lost_note": data.get("lost_note") or "",
        }


def default_next_follow_up() -> dt.datetime:
    from django.utils import timezone

    tomorrow = timezone.localtime() + dt.timedelta(days=1)
    return tomorrow.replace(hour=10, minute=0, second=0, microsecond=0)


class CloseForm(core_forms.Form):
    reason = forms.ChoiceField(
        label=_("无意向原因"),
        choices=[("", _("请选择")), *Lead.LostReason.choices],
        error_messages={"required": _("请选择无意向原因")},
    )
    note = forms.CharField(
        label=_("原因说明"),
        max_length=200,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("原因为“其他”时必填")}),
    )


class QrChannelForm(core_forms.ModelForm):
    owner = forms.ModelChoiceField(
        label=_("负责人"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("不指定（报名进入公海）"),
        help_text=_("扫此码报名的客户申请自动分给负责人"),
    )

    class Meta:
        model = QrChannel
        fields = ["name", "campaign", "owner", "is_active"]
        widgets = {"campaign": forms.TextInput(attrs={"placeholder": _("如 2026 物业博览会")})}

    def __init__(self, *args, owners=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if owners is not None:
            self.fields["owner"].queryset = owners
        if self.instance.pk is None:
            del self.fields["is_active"]

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.fields}


class PoolPolicyForm(core_forms.ModelForm):
    """公海规则: the rules live in ``pool.policy_update``."""

    class Meta:
        model = PoolPolicy
        fields = [
            "recycle_days",
            "warn_days",
            "hold_limit",
            "daily_claim_limit",
            "reclaim_wait_days",
        ]

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.fields}


class PlacementRuleForm(core_forms.ModelForm):
    province = forms.ChoiceField(label=_("省份"), required=False, choices=())
    specialists = forms.ModelMultipleChoiceField(
        label=_("轮流分配给"),
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("新的客户申请依次分给这些专员；达到持有上限、停用的专员会被跳过"),
    )

    class Meta:
        model = PlacementRule
        fields = ["name", "position", "province", "channel", "specialists", "is_active"]

    def __init__(self, *args, owners=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["province"].choices = province_choices(_("任何省份"))
        self.fields["channel"].choices = [("", _("任何渠道")), *self.fields["channel"].choices[1:]]
        if owners is not None:
            self.fields["specialists"].queryset = owners

    def service_data(self) -> dict:
        data = {name: self.cleaned_data.get(name) for name in self.fields}
        data["specialists"] = list(data["specialists"] or [])
        return data
