"""Keep the API's error contract for answers that never reach a router: an unknown path
under /api/ (Django's 404 page) and a method a path does not take (ninja's plain 405)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

_API_PREFIX = "/api/"
_ERRORS = {
    404: ("not_found", "接口不存在：请检查请求路径"),
    405: ("method_not_allowed", "不支持此请求方法"),
}


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith(_API_PREFIX)
            and response.status_code in _ERRORS
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = _ERRORS[response.status_code]
            replaced = JsonResponse(
                {"code": code, "message": message, "fields": {}},
                status=response.status_code,
                json_dumps_params={"ensure_ascii": False},
            )
            if response.has_header("Allow"):
                replaced["Allow"] = response["Allow"]
            return replaced
        return response
