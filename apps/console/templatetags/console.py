"""Template filters used across the console (registered as builtins in settings)."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from apps.core import registry
from apps.core.forms import with_label

register = template.Library()

ACTION_LABELS = {
    "create": _("新建"),
    "update": _("修改"),
    "delete": _("删除"),
    "activate": _("开通"),
    "close": _("关闭"),
    "assign": _("分配负责人"),
    "apply": _("公开报名"),
    "repeat_apply": _("重复申请"),
    "claim": _("领取"),
    "follow_up": _("回访"),
    "reopen": _("重新打开"),
    "convert": _("转为客户"),
    "unlock": _("解除登录锁定"),
    "login": _("登录"),
    "login_failed": _("登录失败"),
    "logout": _("退出"),
    "set_password": _("重置密码"),
    "disable": _("停用"),
    "enable": _("启用"),
    "issue_token": _("签发令牌"),
    "revoke_token": _("吊销令牌"),
    "datasource_check": _("检测数据源连接"),
    "datasource_configure": _("配置数据源"),
    "datasource_configure_failed": _("配置数据源失败"),
    "datasource_status": _("变更实施状态"),
    "datasource_delete": _("删除数据源"),
    "datasource_rotate_keys": _("轮换数据源密钥"),
    "registry_read": _("读取租户注册表"),
}


@register.filter
def action_label(code: str) -> str:
    """The generic actions' labels here; those an app registered, from the registry."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else registry.action_label(code)


@register.filter
def role_label(code: str) -> str:
    from apps.accounts.roles import ROLES

    role = ROLES.get(code)
    return str(role.label) if role else code


@register.filter
def field_error(message: str, label: str) -> str:
    """A field's error under the field, naming it once (see ``apps.core.forms.with_label``)."""
    return with_label(str(label or ""), str(message))
