"""Notification forms: they render and parse; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms

from .models import Robot


class RobotForm(core_forms.Form):
    """The webhook and the secret are write-only: never rendered back; empty keeps them."""

    REQUIRED = ("name", "kind", "webhook")

    name = forms.CharField(label=_("名称"), max_length=50, required=False)
    kind = forms.ChoiceField(label=_("类型"), choices=Robot.Kind.choices, required=False)
    webhook = forms.CharField(
        label=_("Webhook 地址"),
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "群设置 → 群机器人 → 复制 Webhook 地址；加密保存，保存后不再显示，修改时留空表示不变"
        ),
    )
    secret = forms.CharField(
        label=_("加签密钥（钉钉）"),
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("钉钉机器人安全设置选择「加签」时填写（SEC 开头）；留空表示不变"),
    )
    owner = forms.ModelChoiceField(
        label=_("个人机器人的主人"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("（团队机器人）"),
    )
    members = forms.ModelMultipleChoiceField(
        label=_("团队成员"),
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("团队机器人把这些成员的通知发到群里"),
    )
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["owner"].queryset = people
        self.fields["members"].queryset = people
        self.fields["owner"].label_from_instance = lambda u: u.display_name
        self.fields["members"].label_from_instance = lambda u: u.display_name


class PreferencesForm(core_forms.Form):
    kinds = forms.MultipleChoiceField(
        label=_("接收的通知"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kinds"].choices = choices
