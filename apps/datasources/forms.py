"""Data-source forms: they render and parse; the rules live in the model and the services.

The password field is write-only: it is never rendered back into the page, not even
after a failed attempt (the user types it again)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core import forms as core_forms

from .models import DataSource

_field = DataSource._meta.get_field


class DataSourceForm(core_forms.Form):
    """Every value goes to the service as typed: ``datasource_check`` and
    ``datasource_configure`` validate it and name each wrong field (no second set of rules
    here). ``REQUIRED`` only marks the labels."""

    REQUIRED = ("host", "port", "db_type", "username", "password", "max_connections",
                "min_connections")  # fmt: skip

    host = forms.CharField(
        label=_field("host").verbose_name,
        required=False,
        max_length=253,
        help_text=_("内网 IP 或主机名，如 10.0.3.12"),
    )
    port = forms.CharField(
        label=_field("port").verbose_name,
        required=False,
        max_length=5,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "3306"}),
        help_text=_("MySQL 一般为 3306，PostgreSQL 一般为 5432"),
    )
    db_type = forms.ChoiceField(
        label=_field("db_type").verbose_name,
        required=False,
        choices=DataSource.DbType.choices,
        initial=DataSource.DbType.MYSQL,
    )
    username = forms.CharField(
        label=_field("username").verbose_name,
        required=False,
        max_length=_field("username").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("最小权限账号；不可使用 root、postgres 等超级账号"),
    )
    password = forms.CharField(
        label=_("密码"),
        required=False,
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("至少 8 位，含大写字母、数字和特殊字符；加密保存，保存后不再显示"),
    )
    max_connections = forms.CharField(
        label=_field("max_connections").verbose_name,
        required=False,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "20"}),
        help_text=_("连接池上限（1–10000）"),
    )
    min_connections = forms.CharField(
        label=_field("min_connections").verbose_name,
        required=False,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "2"}),
        help_text=_("不大于最大连接数"),
    )
    remarks = forms.CharField(
        label=_field("remarks").verbose_name,
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.REQUIRED:
            self.fields[name].widget.attrs["aria-required"] = "true"

    def service_data(self) -> dict[str, Any]:
        """The typed values for the service (only after ``is_valid()``)."""
        return {name: self.cleaned_data.get(name, "") for name in self.fields}


class DeleteForm(core_forms.Form):
    confirm_name = forms.CharField(
        label=_("确认名称"),
        max_length=64,
        help_text=_("请输入数据源名称以确认删除"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class ClearTablesForm(core_forms.Form):
    """清空数据表: the tables (choices are the tenant's business tables, read when the modal
    opens) and the data source's name typed to confirm."""

    tables = forms.MultipleChoiceField(
        label=_("数据表"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一张数据表")},
    )
    confirm_name = forms.CharField(
        label=_("确认名称"),
        max_length=64,
        help_text=_("请输入数据源名称以确认清空"),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, tables: list[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tables"].choices = [(t.label, t.label) for t in tables]


class RotationForm(core_forms.Form):
    """轮换账号: a DBA account of the tenant's server, used for this rotation only."""

    admin_username = forms.CharField(
        label=_("管理账号"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_(
            "能创建账号并授权的数据库管理员账号（MySQL 需 CREATE USER，PostgreSQL 需 CREATEROLE）"
        ),
    )
    admin_password = forms.CharField(
        label=_("管理账号密码"),
        required=False,
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("加密保存到旧账号停用为止，之后删除；任何页面和日志都不显示"),
    )
