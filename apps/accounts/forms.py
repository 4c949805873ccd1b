"""Forms for the staff and API-token pages. They render and parse only; the rules
(password policy, phone format, roles, scopes, expiry) live in ``services.py``."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.password_validation import password_validators_help_texts
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms

from .models import ApiToken
from .roles import ROLE_CHOICES


class RoleFieldMixin:
    @property
    def role_options(self) -> list[dict]:
        """Each role with its description and whether it is ticked, for the checkbox list."""
        from .roles import ROLES

        field = self["roles"]
        selected = {str(v) for v in (field.value() or [])}
        return [
            {
                "code": code,
                "label": role.label,
                "description": role.description,
                "checked": code in selected,
            }
            for code, role in ROLES.items()
        ]


class StaffCreateForm(RoleFieldMixin, core_forms.Form):
    username = forms.CharField(
        label=_("用户名"),
        max_length=150,
        help_text=_("登录用，创建后不可修改；字母、数字和 @ . + - _"),
    )
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    phone = forms.CharField(label=_("手机号"), max_length=20, required=False)
    email = forms.CharField(
        label=_("邮箱"), max_length=254, required=False, widget=forms.EmailInput
    )
    roles = forms.MultipleChoiceField(
        label=_("角色"), choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        label=_("初始密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("确认密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = "；".join(password_validators_help_texts())

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("两次输入的密码不一致"))
        return data


class StaffEditForm(RoleFieldMixin, core_forms.Form):
    name = forms.CharField(label=_("姓名"), max_length=50, required=False)
    phone = forms.CharField(label=_("手机号"), max_length=20, required=False)
    email = forms.CharField(
        label=_("邮箱"), max_length=254, required=False, widget=forms.EmailInput
    )
    roles = forms.MultipleChoiceField(
        label=_("角色"), choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("启用"), required=False)


class PasswordResetForm(core_forms.Form):
    password = forms.CharField(
        label=_("新密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("确认新密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = "；".join(password_validators_help_texts())

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", _("两次输入的密码不一致"))
        return data


class StaffFilterForm(core_forms.Form):
    q = forms.CharField(label=_("搜索"), required=False)
    role = forms.ChoiceField(
        label=_("角色"),
        required=False,
        choices=[("", _("全部角色")), *ROLE_CHOICES, ("none", _("无角色"))],
    )
    active = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=[("", _("全部")), ("1", _("启用")), ("0", _("已停用"))],
    )


class TokenIssueForm(core_forms.Form):
    name = forms.CharField(
        label=_("名称"), max_length=100, help_text=_("用途，例如「业务系统-生产环境」")
    )
    user = forms.ModelChoiceField(
        label=_("所属账号"),
        queryset=None,
        help_text=_("令牌以该账号的身份和权限访问 API；账号停用后令牌随之失效"),
    )
    scopes = forms.MultipleChoiceField(
        label=_("权限范围"),
        choices=ApiToken.SCOPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    expires_on = forms.DateField(
        label=_("有效期至"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("含当日（北京时间 24:00 失效）；留空为长期有效"),
    )

    def __init__(self, *args, owners=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        user_field = self.fields["user"]
        user_field.queryset = owners
        user_field.label_from_instance = lambda u: (
            f"{u.username}（{u.name}）" if u.name else u.username
        )
        user_field.empty_label = _("请选择账号")

    @property
    def expires_at(self) -> dt.datetime | None:
        """The end of the chosen day in the site's time zone."""
        day = self.cleaned_data.get("expires_on")
        if not day:
            return None
        return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))

    @property
    def scope_options(self) -> list[dict]:
        selected = {str(v) for v in (self["scopes"].value() or [])}
        return [
            {"code": code, "label": label, "checked": code in selected}
            for code, label in ApiToken.SCOPE_CHOICES
        ]
