"""``GET /api/v1/dashboard``: the 工作台's figures (``console.figures``), the same numbers the
page charts, for the same filters and the same scope."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router

from apps.api.common import Input, errors
from apps.core.errors import ValidationFailed

from . import figures

router = Router(tags=["工作台"])


class DashboardQuery(Input):
    date_from: dt.date | None = Field(None, description="申请日期自（含）")
    date_to: dt.date | None = Field(None, description="申请日期至（含）")
    channel: Literal["", "web", "wechat", "qr", "offline"] = Field(
        "", description="渠道：`web` 网页、`wechat` 微信、`qr` 二维码、`offline` 线下"
    )
    owner: int | None = Field(None, description="负责人（员工编号；只看本人记录的员工忽略此项）")


@router.get(
    "dashboard",
    response={200: dict[str, Any], **errors(401, 422)},
    summary="工作台数据",
    description=(
        "转化漏斗（申请 → 已回访 → 有意向 → 已转化 → 已开通 → 已上线，按渠道）、按月申请与转化、"
        "首次回访用时中位数与 24 小时内回访占比、按负责人与二维码渠道的转化、按服务状态与实施状态"
        "的客户数、30/60/90 天内到期的合同、按月合同金额。只看本人记录的员工得到本人记录的数字。"
    ),
)
def dashboard(request: HttpRequest, query: Query[DashboardQuery]):
    return figures.figures(request.user, filters_of(query))


def filters_of(query: Any) -> figures.Filters:
    if query.date_from and query.date_to and query.date_from > query.date_to:
        message = "不能晚于结束日期"
        raise ValidationFailed(f"申请日期自：{message}", fields={"date_from": [message]})
    return figures.Filters(query.date_from, query.date_to, query.channel, query.owner)
