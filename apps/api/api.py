"""The REST API instance under /api/v1/: its description, authentication and error format.

The routers live with their apps (``apps/<app>/api.py``) and are mounted beside the URL
configuration, in ``config/api.py``: this app knows no domain app."""

from __future__ import annotations

from ninja import NinjaAPI

from . import errors
from .auth import session_auth, token_auth

api = NinjaAPI(
    title="绘管家 客户入驻平台 API",
    version="1.0.0",
    description=(
        "客户、合同等资源的 REST 接口。控制台用户使用会话（写操作需 X-CSRFToken），"
        "机器使用 `Authorization: Bearer <token>`（由系统管理员签发、可吊销）。"
        '错误格式：`{"code": "...", "message": "<中文>", "fields": {"<字段>": ["<中文>"]}}`，'
        "状态码 400 请求体无法解析、401 未认证、403 无权限、404 不存在或不在数据范围内、"
        "409 状态冲突、422 校验失败（资料不全时 code 为 `profile_incomplete`）。"
        "\n\n格式：日期 `YYYY-MM-DD`；时间为 ISO 8601 北京时间，如 `2026-05-01T09:30:00+08:00`；"
        '金额为两位小数的字符串，如 `"128000.00"`。列表用 `page`、`page_size` 分页，'
        "返回 `items`、`count`（总数）、`page`、`page_size`、`pages`。"
    ),
    auth=[token_auth, session_auth],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
