"""登录日志: successful logins, logouts and failed logins become audit rows (actions
``login``, ``logout``, ``login_failed``) through Django's auth signals.

The object is the account when it is known. Passwords never reach these rows: Django
masks them in the failed-login credentials, and only the typed username is kept.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from apps.audit import services as audit

USER_AGENT_MAX = 200


def _user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return (request.META.get("HTTP_USER_AGENT") or "")[:USER_AGENT_MAX]


def on_logged_in(sender, request: HttpRequest | None = None, user=None, **kwargs) -> None:
    if user is None:
        return
    audit.record(actor=user, action="login", obj=user, changes={}, message=_user_agent(request))


def on_logged_out(sender, request: HttpRequest | None = None, user=None, **kwargs) -> None:
    if user is None:  # logging out without a session
        return
    audit.record(actor=user, action="logout", obj=user, changes={}, message=_user_agent(request))


def _failure_reason(request: HttpRequest | None, user) -> str:
    if request is not None and getattr(request, "axes_locked_out", False):
        return "失败次数过多，已锁定"
    if user is None:
        return "用户名不存在"
    if not user.is_active:
        return "账号已停用"
    return "密码错误"


def on_login_failed(
    sender, credentials: dict | None = None, request: HttpRequest | None = None, **kwargs
) -> None:
    User = get_user_model()
    username = str((credentials or {}).get(User.USERNAME_FIELD) or "")[:150]
    user = User.objects.filter(username=username).first() if username else None
    reason = _failure_reason(request, user)
    ua = _user_agent(request)
    audit.record(
        actor=None,
        actor_name=username or "（未填用户名）",
        action="login_failed",
        obj=user,
        object_repr=None if user is not None else username,
        changes={},
        message=f"{reason}；{ua}" if ua else reason,
    )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="accounts.audit_login")
    user_logged_out.connect(on_logged_out, dispatch_uid="accounts.audit_logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="accounts.audit_login_failed")
