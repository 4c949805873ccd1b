"""The second step of login: a signed-in session that still owes its second factor reaches
nothing but that step (and logging out). API requests with a Bearer token never do."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode

from apps.core.errors import ErrorCode
from apps.core.navigation import hx_redirect

# Views a session may reach before its second factor.
ALLOWED_VIEWS = {
    "accounts:two_factor_verify",
    "accounts:two_factor_setup",
    "accounts:logout",
    "accounts:login",
}


class SecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return None
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name in ALLOWED_VIEWS:
            return None
        if request.path.startswith(("/static/", "/healthz", "/readyz", "/apply/")):
            return None
        if request.path.startswith("/api/v1/public/"):
            return None
        from .twofactor import has_second_factor, second_factor_required

        if has_second_factor(user):
            target, code, message = (
                "accounts:two_factor_verify",
                ErrorCode.SECOND_FACTOR_REQUIRED,
                "请先完成二次验证（输入身份验证器上的 6 位验证码）",
            )
        elif second_factor_required(user):
            target, code, message = (
                "accounts:two_factor_setup",
                ErrorCode.SECOND_FACTOR_ENROLMENT_REQUIRED,
                "您的角色须启用二次验证：请先在控制台绑定身份验证器",
            )
        else:
            return None
        if request.path.startswith("/api/"):
            if request.headers.get("Authorization", "").startswith("Bearer "):
                return None  # a token request: the session plays no part
            return JsonResponse(
                {"code": code, "message": message, "fields": {}},
                status=403,
                json_dumps_params={"ensure_ascii": False},
            )
        url = reverse(target)
        if request.method == "GET" and target == "accounts:two_factor_verify":
            url += "?" + urlencode({"next": request.get_full_path()})
        return hx_redirect(request, url)
