from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from apps.audit import services as audit
from apps.audit.selectors import history
from apps.core.errors import Conflict, ValidationFailed
from apps.core.excel import table_response
from apps.core.forms import apply_errors, submit
from apps.core.listing import paginate
from apps.core.navigation import hx_redirect, safe_next
from apps.core.permissions import require_perm

from . import selectors, services, twofactor
from .forms import (
    PasswordResetForm,
    StaffCreateForm,
    StaffEditForm,
    StaffFilterForm,
    TokenIssueForm,
)
from .roles import ROLES


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": gettext_lazy("用户名或密码不正确"),
        "inactive": gettext_lazy("该账号已停用，请联系系统管理员"),
    }


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


def _modal_or_page(request: HttpRequest) -> str:
    """Base template: the modal shell for HTMX requests, the full page otherwise."""
    return "partials/modal.html" if request.htmx else "base.html"


# --- Staff (员工与角色) ----------------------------------------------------------------


@require_http_methods(["GET"])
def _staff_filters(request: HttpRequest) -> selectors.StaffFilters:
    return selectors.StaffFilters(
        q=request.GET.get("q", ""),
        role=request.GET.get("role", ""),
        active=request.GET.get("active", ""),
    )


def staff_list(request: HttpRequest) -> HttpResponse:
    qs = selectors.staff_list(user=request.user, filters=_staff_filters(request))
    context = paginate(request, qs)
    context["rows"] = [
        {
            "member": member,
            "roles": [str(ROLES[c].label) for c in selectors.staff_roles(member) if c in ROLES],
        }
        for member in context["page_obj"].object_list
    ]
    context.update(form=StaffFilterForm(request.GET or None), nav="staff")
    return render(request, "accounts/staff_list.html", context)


@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest) -> HttpResponse:
    require_perm(request.user, selectors.STAFF_PERM)
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = services.staff_create(
                actor=request.user,
                username=data["username"],
                password=data["password"],
                roles=data["roles"],
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
            )
        except (ValidationFailed, Conflict) as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("已创建员工 %(u)s") % {"u": member.username})
            return redirect("accounts:staff_list")
    return render(
        request, "accounts/staff_form.html", {"form": form, "creating": True, "nav": "staff"}
    )


@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    member = selectors.access_staff(request.user, pk)
    if request.method == "POST":
        form = StaffEditForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.staff_update(
                    actor=request.user,
                    user=member,
                    name=data["name"],
                    phone=data["phone"],
                    email=data["email"],
                    roles=data["roles"],
                    is_active=data["is_active"],
                )
            except (ValidationFailed, Conflict) as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("已保存员工 %(u)s") % {"u": member.username})
                return redirect("accounts:staff_list")
    else:
        form = StaffEditForm(
            initial={
                "name": member.name,
                "phone": member.phone,
                "email": member.email,
                "roles": selectors.staff_roles(member),
                "is_active": member.is_active,
            }
        )
    context = {
        "form": form,
        "member": member,
        "history": history(member, viewer=request.user, limit=30),
        "locked": selectors.staff_locked(member),
        "has_second_factor": twofactor.has_second_factor(member),
        "nav": "staff",
    }
    return render(request, "accounts/staff_form.html", context)


@require_http_methods(["GET", "POST"])
def staff_password(request: HttpRequest, pk: int) -> HttpResponse:
    """重置密码: a modal for HTMX (a page otherwise)."""
    member = selectors.access_staff(request.user, pk)
    form = PasswordResetForm(request.POST or None)
    done = submit(
        request,
        form,
        lambda: services.staff_set_password(
            actor=request.user, user=member, password=form.cleaned_data["password"]
        ),
    )
    if done:
        if member.pk == request.user.pk:
            member.refresh_from_db()
            update_session_auth_hash(request, member)
        messages.success(request, _("已重置 %(u)s 的密码") % {"u": member.username})
        return hx_redirect(request, reverse("accounts:staff_list"))
    return render(
        request,
        "accounts/staff_password.html",
        {"form": form, "member": member, "base_template": _modal_or_page(request), "nav": "staff"},
    )


@require_POST
def staff_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    """停用 / 启用 an account (POST ``active=0|1``)."""
    member = selectors.access_staff(request.user, pk)
    active = request.POST.get("active") == "1"
    try:
        services.staff_update(actor=request.user, user=member, is_active=active)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        text = _("已启用 %(u)s") if active else _("已停用 %(u)s")
        messages.success(request, text % {"u": member.username})
    return redirect(safe_next(request, reverse("accounts:staff_list")))


@require_POST
def staff_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """解除锁定 after too many failed logins."""
    member = selectors.access_staff(request.user, pk)
    services.staff_unlock(actor=request.user, user=member)
    messages.success(request, _("已解除 %(u)s 的登录锁定") % {"u": member.username})
    return redirect("accounts:staff_edit", pk=member.pk)


# --- API tokens (API 令牌) ------------------------------------------------------------


@require_http_methods(["GET"])
@require_GET
def staff_export(request: HttpRequest) -> HttpResponse:
    """The staff the filters show, with their roles (never a password or a secret)."""
    qs = selectors.staff_list(user=request.user, filters=_staff_filters(request))

    def roles(member) -> str:
        return "、".join(str(ROLES[c].label) for c in selectors.staff_roles(member) if c in ROLES)

    return table_response(
        "员工",
        [
            (_("用户名"), lambda m: m.username),
            (_("姓名"), lambda m: m.name),
            (_("手机号"), lambda m: m.phone),
            (_("角色"), roles),
            (_("状态"), lambda m: _("在职") if m.is_active else _("已停用")),
            (_("二次验证"), lambda m: _("已启用") if m.second_factor_enabled else ""),
            (_("最近登录"), lambda m: m.last_login),
            (_("创建时间"), lambda m: m.date_joined),
        ],
        qs.iterator(chunk_size=2000),
    )


@require_GET
def token_export(request: HttpRequest) -> HttpResponse:
    """The tokens the filter shows — their names and prefixes, never a secret or a hash."""
    qs = selectors.token_list(
        user=request.user, filters=selectors.TokenFilters(status=request.GET.get("status", ""))
    )

    def state(token) -> str:
        if token.revoked_at:
            return _("已吊销")
        return _("有效") if token.is_active else _("已过期")

    return table_response(
        "API令牌",
        [
            (_("名称"), lambda t: t.name),
            (_("前缀"), lambda t: t.prefix),
            (_("账号"), lambda t: t.user.display_name),
            (_("权限范围"), lambda t: "、".join(t.scope_labels)),
            (_("状态"), state),
            (_("签发人"), lambda t: t.created_by.display_name if t.created_by_id else ""),
            (_("签发时间"), lambda t: t.created_at),
            (_("过期时间"), lambda t: t.expires_at),
            (_("吊销时间"), lambda t: t.revoked_at),
            (_("最近使用"), lambda t: t.last_used_at),
        ],
        qs.iterator(chunk_size=2000),
    )


def token_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    qs = selectors.token_list(user=request.user, filters=selectors.TokenFilters(status=status))
    context = paginate(request, qs)
    context.update(status=status, nav="tokens")
    return render(request, "accounts/token_list.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def token_issue(request: HttpRequest) -> HttpResponse:
    """签发令牌. After issuing, the raw token is in this response only: never stored,
    never put in the session or a flash message."""
    owners = selectors.token_owner_choices(request.user)  # checks the permission
    form = TokenIssueForm(request.POST or None, owners=owners)
    context = {"form": form, "base_template": _modal_or_page(request), "nav": "tokens"}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, raw = services.token_issue(
                actor=request.user,
                user=data["user"],
                name=data["name"],
                scopes=data["scopes"],
                expires_at=form.expires_at,
            )
        except ValidationFailed as exc:
            apply_errors(form, exc, aliases={"expires_at": "expires_on"})
        else:
            context.update(token=token, raw_token=raw)
            return render(request, "accounts/token_issued.html", context)
    return render(request, "accounts/token_issue.html", context)


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = selectors.access_token(request.user, pk)
    try:
        services.token_revoke(actor=request.user, token=token)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已吊销令牌 %(n)s") % {"n": token.name})
    return redirect(safe_next(request, reverse("accounts:token_list")))


# --- Two-factor login (二次验证) --------------------------------------------------------

_FAILURES_KEY = "two_factor_failures"
_SETUP_KEY = "two_factor_setup_device"


def _after_login(request: HttpRequest) -> str:
    return safe_next(request, reverse(settings.LOGIN_REDIRECT_URL))


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of login: a code from the authenticator, or a recovery code."""
    user = request.user
    if user.is_verified():
        return redirect(_after_login(request))
    if not twofactor.has_second_factor(user):
        return redirect("accounts:two_factor_setup")
    error = ""
    if request.method == "POST":
        device = twofactor.second_factor_verify(user=user, token=request.POST.get("token", ""))
        if device is not None:
            otp_login(request, device)
            request.session.pop(_FAILURES_KEY, None)
            return redirect(_after_login(request))
        failures = request.session.get(_FAILURES_KEY, 0) + 1
        request.session[_FAILURES_KEY] = failures
        audit.record(
            actor=user,
            action="two_factor_failed",
            obj=user,
            changes={},
            message=_("二次验证码错误（本次登录第 %(n)d 次）") % {"n": failures},
        )
        if failures >= settings.TWO_FACTOR_MAX_FAILURES:
            logout(request)
            messages.error(request, _("验证码错误次数过多，请重新登录"))
            return redirect(reverse("accounts:login"))
        error = _(
            "验证码不正确或已使用过，请输入身份验证器上最新的 6 位验证码，或一个未用过的恢复码"
        )
    context = {"error": error, "next": _after_login(request), "bare_page": True}
    return render(request, "accounts/two_factor_verify.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """绑定身份验证器: a QR code (shown while the binding is unconfirmed), then a code from the
    app to confirm, then the ten recovery codes, once."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = request.user
    if twofactor.has_second_factor(user):
        if not user.is_verified():
            return redirect("accounts:two_factor_verify")
        return render(
            request,
            "accounts/two_factor_status.html",
            {"required": twofactor.second_factor_required(user)},
        )
    device = None
    error = ""
    if request.method == "POST":
        device = TOTPDevice.objects.filter(
            pk=request.session.get(_SETUP_KEY), user=user, confirmed=False
        ).first()
        if device is not None:
            codes = twofactor.enrolment_confirm(
                user=user, device=device, token=request.POST.get("token", "")
            )
            if codes is not None:
                request.session.pop(_SETUP_KEY, None)
                device.refresh_from_db()
                otp_login(request, device)
                context = {"codes": codes, "bare_page": True}
                return render(request, "accounts/two_factor_codes.html", context)
            error = _("验证码不正确，请输入应用中当前显示的 6 位数字")
        else:
            error = _("绑定已过期，请重新扫描二维码")
            device = None
    if device is None:
        device = twofactor.enrolment_start(user=user)
        request.session[_SETUP_KEY] = device.pk
    context = {
        "qr_uri": twofactor.qr_data_uri(device),
        "secret": twofactor.secret_base32(device),
        "error": error,
        "required": twofactor.second_factor_required(user),
        "bare_page": True,
    }
    return render(request, "accounts/two_factor_setup.html", context)


@require_POST
def staff_reset_second_factor(request: HttpRequest, pk: int) -> HttpResponse:
    member = selectors.access_staff(request.user, pk)
    twofactor.second_factor_reset(actor=request.user, user=member)
    messages.success(
        request, _("已重置 %(u)s 的二次验证，其下次登录时需重新绑定") % {"u": member.username}
    )
    return redirect("accounts:staff_edit", pk=member.pk)
