"""Builders for customers: created through the service on the real database."""

from __future__ import annotations

import itertools
from typing import Any

_seq = itertools.count(1)

# Valid 统一社会信用代码 (check characters verified), including letter-leading authorities.
VALID_USCC = [
    "91110000600037341L",
    "91310000MA1FL4CK1E",
]

COMPLETE_PROFILE: dict[str, Any] = {
    "license_no": "91110000600037341L",
    "name": "北京安居物业管理有限公司",
    "province": "110000",
    "city": "110100",
    "address": "朝阳区建国路 88 号",
    "contact_name": "王经理",
    "contact_phone": "13800138000",
}


def make_customer(*, actor, owner: Any = "creator", complete: bool = False, **data: Any):
    """A customer created through the service. ``owner``: "creator" (default), a user, or
    None for the unassigned pool."""
    from apps.customers.services import UNSET, customer_create

    payload: dict[str, Any] = {"name": data.pop("name", f"测试物业{next(_seq)}")}
    if complete:
        payload.update({k: v for k, v in COMPLETE_PROFILE.items() if k != "name"})
        payload["license_no"] = data.pop("license_no", None) or unique_uscc()
    payload.update(data)
    return customer_create(actor=actor, data=payload, owner=UNSET if owner == "creator" else owner)


def uscc_with_check(body17: str) -> str:
    from stdnum.cn import uscc

    return body17 + uscc.calc_check_digit(body17)


def unique_uscc() -> str:
    n = next(_seq)
    return uscc_with_check(f"91440300MA{n:07d}")
