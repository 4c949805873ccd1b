"""Every API error is ``{"code", "message", "fields"}`` with a fitting 4xx status."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from apps.core.errors import DomainError, ErrorCode, RateLimited


def _body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


# Chinese labels of request fields, so that a message names the field as users know it.
# Routers register theirs (values may be lazy translations).
_LABELS: dict[str, object] = {}


def register_labels(labels: Mapping[str, object]) -> None:
    _LABELS.update(labels)


def _label(name: str) -> str:
    leaf = name.rsplit(".", 1)[-1]
    label = _LABELS.get(name) or _LABELS.get(leaf)
    return str(label) if label else name


def _field_name(loc: list) -> str:
    # ninja locations look like ["body", "payload", "name"] or ["query", "page"].
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "form", "file", "header", "cookie"):
        parts = parts[1:]
    if parts and parts[0] in ("payload", "data", "filters"):
        parts = parts[1:]
    return ".".join(parts) or "__all__"


_TYPE_MESSAGES = {
    "missing": "此项为必填项",
    "int_parsing": "请输入整数",
    "int_type": "请输入整数",
    "decimal_parsing": "请输入数字",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "string_type": "请输入文本",
    "string_too_long": "内容过长",
    "bool_parsing": "请输入 true 或 false",
    "json_invalid": "请求体不是有效的 JSON",
    "list_type": "应为数组",
    "extra_forbidden": "不允许的字段",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "int_from_float": "请输入整数",
    "decimal_type": "请输入数字",
    "bool_type": "请输入 true 或 false",
    "dict_type": "应为对象",
    "model_type": "应为对象",
}


def install(api: NinjaAPI) -> None:
    @api.exception_handler(DomainError)
    def domain_error(request: HttpRequest, exc: DomainError):
        response = api.create_response(request, exc.as_dict(), status=exc.status)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            response["Retry-After"] = str(max(1, int(exc.retry_after)))
        return response

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError):
        fields: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        for err in exc.errors:
            name = _field_name(list(err.get("loc", [])))
            label = (err.get("ctx") or {}).get("label")
            if label:
                labels.setdefault(name, str(label))
            if err.get("type") == "invalid_input":  # the input rules' own Chinese message
                message = str(err.get("msg"))
            else:
                message = _TYPE_MESSAGES.get(err.get("type", ""), "格式不正确")
            fields.setdefault(name, []).append(message)
        summary = "；".join(
            f"{labels.get(k) or _label(k)}：{'，'.join(v)}" for k, v in fields.items()
        )
        return api.create_response(
            request,
            _body(ErrorCode.VALIDATION_ERROR, f"提交的数据有误：{summary}", fields),
            status=422,
        )

    @api.exception_handler(AuthenticationError)
    def auth_error(request: HttpRequest, exc: AuthenticationError):
        return api.create_response(
            request, _body(ErrorCode.UNAUTHENTICATED, "未登录或令牌无效"), status=401
        )

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied):
        return api.create_response(
            request, _body(ErrorCode.FORBIDDEN, "没有执行此操作的权限"), status=403
        )

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404):
        return api.create_response(
            request, _body(ErrorCode.NOT_FOUND, "记录不存在或无权访问"), status=404
        )

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError):
        # ninja's own HttpErrors carry English text; answer in Chinese with a stable code.
        known = {
            400: (ErrorCode.BAD_REQUEST, "请求体无法解析：应为有效的 JSON 或 multipart 表单"),
            401: (ErrorCode.UNAUTHENTICATED, "未登录或令牌无效"),
            403: (ErrorCode.FORBIDDEN, "没有执行此操作的权限"),
            404: (ErrorCode.NOT_FOUND, "记录不存在或无权访问"),
            405: (ErrorCode.METHOD_NOT_ALLOWED, "不支持此请求方法"),
        }
        status = exc.status_code
        error_code, message = known.get(status, (ErrorCode.BAD_REQUEST, "请求无法处理"))
        if status == 403 and "CSRF" in str(exc):
            error_code = ErrorCode.CSRF_FAILED
            message = "CSRF 校验失败：请在请求头 X-CSRFToken 中携带令牌"
        return api.create_response(request, _body(error_code, message), status=status)
