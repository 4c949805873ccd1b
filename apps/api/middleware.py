"""Keep the API's error contract for answers that never reach a router: an unknown path
under /api/ (Django's 404 page), a method a path does not take (ninja's plain 405), and
requests that fail before any field is read — a body over the size limit (413), a content
type the API does not read (415), malformed JSON or multipart (Django's HTML 400)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.errors import ErrorCode

_API_PREFIX = "/api/"
_ERRORS = {
    400: (
        ErrorCode.BAD_REQUEST,
        "请求体无法解析：应为有效的 JSON（application/json）或 multipart 表单",
    ),
    404: (ErrorCode.NOT_FOUND, "接口不存在：请检查请求路径"),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "不支持此请求方法"),
    413: (ErrorCode.REQUEST_TOO_LARGE, "请求体过大"),
}
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# What the API reads: JSON bodies, and multipart for the scan uploads.
_READABLE = ("application/json", "multipart/form-data")


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message, "fields": {}},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def refuse_unreadable(request: HttpRequest) -> JsonResponse | None:
    """The 413 or 415 for a request body the API will not read, or None."""
    if request.method not in _BODY_METHODS:
        return None
    length = _content_length(request)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        mb = limit / (1024 * 1024)
        return _error(413, ErrorCode.REQUEST_TOO_LARGE, f"请求体过大：最大 {mb:.0f} MB")
    content_type = (request.content_type or "").lower()
    if length and not content_type.endswith("+json") and content_type not in _READABLE:
        return _error(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"不支持的内容类型：{content_type or '未指定'}；"
            "请求体应为 application/json（上传文件为 multipart/form-data）",
        )
    return None


class ApiErrorShapeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(_API_PREFIX):
            return self.get_response(request)
        refused = refuse_unreadable(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code in _ERRORS and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            code, message = _ERRORS[response.status_code]
            replaced = _error(response.status_code, code, message)
            if response.has_header("Allow"):
                replaced["Allow"] = response["Allow"]
            return replaced
        return response
