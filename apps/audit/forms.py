"""The filter form of the 操作日志 list (renders and parses only)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms

from .selectors import AuditFilters, action_choices, type_choices


class AuditFilterForm(core_forms.Form):
    actor = forms.ChoiceField(label=_("操作人"), required=False)
    action = forms.ChoiceField(label=_("操作"), required=False)
    object_type = forms.ChoiceField(label=_("对象类型"), required=False)
    date_from = forms.DateField(
        label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(
        label=_("对象"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("名称或编号")}),
    )

    customer = forms.IntegerField(
        label=_("客户"), required=False, min_value=1, max_value=2**31 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args, actors: list[tuple[str, str]], user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", _("全部操作人")), *actors]
        self.fields["action"].choices = [("", _("全部操作")), *action_choices(user)]
        self.fields["object_type"].choices = [("", _("全部类型")), *type_choices(user)]

    def filters(self) -> AuditFilters:
        """The valid filters; a field that does not parse is ignored (and shown in error)."""
        if not self.is_bound:
            return AuditFilters()
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return AuditFilters(
            actor=data.get("actor") or "",
            action=data.get("action") or "",
            object_type=data.get("object_type") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=data.get("q") or "",
            customer=data.get("customer"),
        )
