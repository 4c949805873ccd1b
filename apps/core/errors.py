"""Domain errors raised by services and selectors.

Each carries a stable ``code``, a Chinese ``message`` and optionally per-field messages.
The API turns them into ``{"code", "message", "fields"}`` with ``status``; console views
turn them into form errors or flash messages. Nothing here may contain a secret.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import ValidationError as DjangoValidationError


class ErrorCode(StrEnum):
    """Every ``code`` the platform answers with — in the API's error body, in console
    messages' data and in logs. One enumeration, so clients can switch on a closed set (the
    OpenAPI document lists it) and a new code is a reviewed addition, not a free string."""

    # Request and access
    BAD_REQUEST = "bad_request"  # 请求无法解析或无法处理
    UNAUTHENTICATED = "unauthenticated"  # 未登录或令牌无效
    FORBIDDEN = "forbidden"  # 没有执行此操作的权限
    CSRF_FAILED = "csrf_failed"  # CSRF 校验失败
    SECOND_FACTOR_REQUIRED = "second_factor_required"  # 须先完成二次验证
    SECOND_FACTOR_ENROLMENT_REQUIRED = "second_factor_enrolment_required"  # 须先绑定身份验证器
    NOT_FOUND = "not_found"  # 记录不存在或无权访问
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 不支持此请求方法
    REQUEST_TOO_LARGE = "request_too_large"  # 请求体过大
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 不支持的内容类型
    RATE_LIMITED = "rate_limited"  # 操作过于频繁
    VALIDATION_ERROR = "validation_error"  # 提交的数据有误
    PROFILE_INCOMPLETE = "profile_incomplete"  # 客户资料不全
    CONFLICT = "conflict"  # 当前状态不允许此操作
    DATABASE_UNAVAILABLE = "database_unavailable"  # 控制库暂时无法访问
    SERVER_ERROR = "server_error"  # 服务器内部错误

    # Staff and tokens
    DUPLICATE = "duplicate"  # 用户名已存在
    SELF_DISABLE = "self_disable"  # 不能停用自己的账号
    SELF_DEMOTE = "self_demote"  # 不能取消自己的管理员角色
    ALREADY_REVOKED = "already_revoked"  # 令牌已吊销

    # Customers and contracts
    ALREADY_OPEN = "already_open"  # 客户已开通
    ALREADY_CLOSED = "already_closed"  # 客户已关闭
    NOT_OPENED = "not_opened"  # 客户尚未开通
    NO_FILE = "no_file"  # 未上传扫描件

    # Leads
    DUPLICATE_LEAD = "duplicate_lead"  # 该手机号已有申请
    ALREADY_CLAIMED = "already_claimed"  # 申请已被领取
    ALREADY_CONVERTED = "already_converted"  # 申请已转化
    LEAD_CLOSED = "lead_closed"  # 申请已关闭
    NOT_CLOSED = "not_closed"  # 申请未关闭
    SMS_SEND_FAILED = "sms_send_failed"  # 短信发送失败
    HOLD_LIMIT = "hold_limit"  # 持有的客户申请已达上限
    CLAIM_LIMIT = "claim_limit"  # 今日领取已达上限
    RECLAIM_WAIT = "reclaim_wait"  # 退回公海后原负责人暂不能领取
    MERGE_REFUSED = "merge_refused"  # 这两条记录不能合并

    # Data sources and the registry
    DATASOURCE_EXISTS = "datasource_exists"  # 已配置数据源
    DATASOURCE_NOT_CONFIGURED = "datasource_not_configured"  # 尚未配置数据源
    DATASOURCE_MISSING = "datasource_missing"  # 开通前须先配置数据源
    DATASOURCE_IMMUTABLE = "datasource_immutable"  # 数据源保存后不可修改
    DATASOURCE_IN_USE = "datasource_in_use"  # 数据源已实施，不可删除
    DATASOURCE_HAS_DATA = "datasource_has_data"  # 租户库中已有数据
    INVALID_TRANSITION = "invalid_transition"  # 实施状态只能逐级向前
    DROP_FAILED = "drop_failed"  # 删除租户库失败
    PROBE_FAILED = "probe_failed"  # 无法检测租户库
    PROVISIONING_FAILED = "provisioning_failed"  # 配置数据源失败
    PROVISIONING_IN_PROGRESS = "provisioning_in_progress"  # 数据源正在配置中
    RUN_NOT_RETRYABLE = "run_not_retryable"  # 该配置记录不能重试
    RUN_NOT_CLEANABLE = "run_not_cleanable"  # 该配置记录无需清理
    CLEANUP_FAILED = "cleanup_failed"  # 清理租户服务器上的遗留内容失败
    ROLLOUT_IN_PROGRESS = "rollout_in_progress"  # 已有租户库升级在进行或暂停中
    TENANT_NOT_FOUND = "tenant_not_found"  # 租户不存在或未配置数据源
    NOT_IN_IMPLEMENTATION = "not_in_implementation"  # 仅「实施中」的租户库可以清空数据表
    TABLE_OPERATION_IN_PROGRESS = "table_operation_in_progress"  # 已有清空或恢复在进行
    NOT_RESTORABLE = "not_restorable"  # 该记录不能恢复（未清空、已恢复或备份已过期）


class DomainError(Exception):
    status = 400
    code = ErrorCode.BAD_REQUEST
    default_message = "请求无法处理"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
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
    code = ErrorCode.NOT_FOUND
    default_message = "记录不存在或无权访问"


class Forbidden(DomainError):
    status = 403
    code = ErrorCode.FORBIDDEN
    default_message = "没有执行此操作的权限"


class Conflict(DomainError):
    status = 409
    code = ErrorCode.CONFLICT
    default_message = "当前状态不允许此操作"


class ValidationFailed(DomainError):
    status = 422
    code = ErrorCode.VALIDATION_ERROR
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
    code = ErrorCode.PROFILE_INCOMPLETE


class RateLimited(DomainError):
    """Too many requests. ``retry_after`` (seconds, optional) becomes the API's Retry-After."""

    status = 429
    code = ErrorCode.RATE_LIMITED
    default_message = "操作过于频繁，请稍后再试"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
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
