"""Domain errors raised by services and selectors.

Each carries a stable ``code``, a Chinese ``message`` and optionally per-field messages.
The API turns them into ``{"code", "message", "fields"}`` with ``status``; console views
turn them into form errors or flash messages. Nothing here may contain a secret.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError


class DomainError(Exception):
    status = 400
    code = "bad_request"
    default_message = "请求无法处理"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    default_message = "记录不存在或无权访问"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    default_message = "没有执行此操作的权限"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    default_message = "当前状态不允许此操作"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"
    default_message = "提交的数据有误，请检查标出的字段"

    @classmethod
    def from_django(cls, exc: DjangoValidationError, labels: dict[str, str] | None = None):
        """Build from a Django ValidationError, prefixing field messages' summary with labels."""
        fields: dict[str, list[str]] = {}
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                fields[name] = [m for e in errors for m in e.messages]
        else:
            fields["__all__"] = list(exc.messages)
        return cls(summarise(fields, labels), fields=fields)


class ProfileIncomplete(ValidationFailed):
    code = "profile_incomplete"


class RateLimited(DomainError):
    """Too many requests. ``retry_after`` (seconds, optional) becomes the API's Retry-After."""

    status = 429
    code = "rate_limited"
    default_message = "操作过于频繁，请稍后再试"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code, fields=fields)
        self.retry_after = retry_after


def summarise(fields: dict[str, list[str]], labels: dict[str, str] | None = None) -> str:
    """One Chinese sentence naming the fields in error, e.g. 「企业名称：不能为空」."""
    labels = labels or {}
    parts = []
    for name, messages in fields.items():
        label = labels.get(name, "" if name == "__all__" else name)
        text = "；".join(messages)
        parts.append(f"{label}：{text}" if label else text)
    return "；".join(parts) or ValidationFailed.default_message
