"""The 工作台's filter form: period, channel, owner (managers only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms
from apps.core.permissions import has_perm
from apps.leads.models import Channel

from .figures import Filters


class FiguresForm(core_forms.Form):
    date_from = forms.DateField(label=_("申请日期自"), required=False)
    date_to = forms.DateField(label=_("至"), required=False)
    channel = forms.ChoiceField(
        label=_("渠道"), required=False, choices=[("", _("全部渠道")), *Channel.choices]
    )
    owner = forms.ModelChoiceField(
        label=_("负责人"),
        required=False,
        queryset=get_user_model().objects.none(),
        empty_label=_("全部负责人"),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if has_perm(user, "accounts.data_scope_all"):
            people = get_user_model().objects.filter(is_active=True, groups__isnull=False)
            self.fields["owner"].queryset = people.distinct().order_by("username")
            self.fields["owner"].label_from_instance = lambda u: u.display_name
        else:
            del self.fields["owner"]
        for name in ("date_from", "date_to"):
            self.fields[name].widget = forms.DateInput(attrs={"type": "date"})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_from", _("不能晚于结束日期"))
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        owner = data.get("owner")
        return Filters(
            data.get("date_from"), data.get("date_to"), data.get("channel") or "",
            owner.pk if owner else None,
        )  # fmt: skip

    def list_query(self) -> str:
        """The same filters for the leads list behind a chart."""
        data = self.cleaned_data
        values = {
            "date_from": data.get("date_from") or "",
            "date_to": data.get("date_to") or "",
            "channel": data.get("channel") or "",
            "owner": data["owner"].pk if data.get("owner") else "",
        }
        return urlencode({k: v for k, v in values.items() if v})
