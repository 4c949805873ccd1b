"""Pieces every router shares: the error and page schemas, output types that fix the wire
formats (datetimes in Asia/Shanghai with +08:00, amounts as 2-place decimal strings),
pagination, and streaming of private scans."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, get_args

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.http import FileResponse
from django.utils import timezone
from ninja import Field, Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from apps.core import inputs
from apps.core.errors import DomainError, ErrorCode, NotFound, ValidationFailed
from apps.core.fields import readable_datetime
from apps.core.files import serve_private
from apps.core.listing import count_rows, encode_cursor, keyset_order, list_page, page_rows


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is (or may be) a number, so a string of Unicode digits sent
    for it is read as ASCII digits."""
    if annotation in (int, float, Decimal):
        return True
    return any(_numeric(arg) for arg in get_args(annotation))


class Input(Schema):
    """The base of every request body and query schema: every field passes the input rules
    of ``apps.core.inputs`` (control characters, NUL, lone surrogates, date and integer
    ranges; Unicode digits in numbers read as ASCII), and a refusal is a 422 naming the
    field. Multi-line text fields are listed in ``multiline``."""

    multiline: ClassVar[frozenset[str]] = frozenset()
    # Field labels in error messages; by default the start of each field's description
    # (「企业名称」 for a customer's ``name``, 「姓名」 for a lead's), so every schema names its
    # own fields.
    labels: ClassVar[dict[str, str]] = {}

    @classmethod
    def label_for(cls, name: str) -> str:
        if name in cls.labels:
            return str(cls.labels[name])
        field = cls.model_fields.get(name)
        description = (field.description or "") if field is not None else ""
        label = re.split(r"[（(：:，,；;。]", description, maxsplit=1)[0].strip()
        return label or name

    @model_validator(mode="wrap")
    @classmethod
    def _labelled_errors(cls, data: Any, handler: Any) -> Any:
        """Field errors carry the field's label (``ctx["label"]``) for the 422 message."""
        try:
            return handler(data)
        except PydanticValidationError as exc:
            details = []
            for error in exc.errors(include_url=False):
                loc = error.get("loc") or ()
                ctx = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
                if loc and isinstance(loc[0], str) and "label" not in ctx:
                    ctx["label"] = cls.label_for(loc[0])
                details.append(
                    {
                        "type": PydanticCustomError(error["type"], error["msg"], ctx),
                        "loc": loc,
                        "input": error.get("input"),
                    }
                )
            raise PydanticValidationError.from_exception_data(exc.title, details) from None

    @field_validator("*", mode="before")
    @classmethod
    def _ascii_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and info.field_name:
            field = cls.model_fields.get(info.field_name)
            if field is not None and _numeric(field.annotation):
                return inputs.ascii_digits(value).strip()
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _input_rules(cls, value: Any, info: ValidationInfo) -> Any:
        try:
            inputs.check_value(value, multiline=info.field_name in cls.multiline)
        except DjangoValidationError as exc:
            raise PydanticCustomError("invalid_input", exc.messages[0]) from None
        return value


class StrictInput(Input):
    """A request body that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    """The one error shape of the API."""

    code: ErrorCode = Field(..., examples=["profile_incomplete"])
    message: str = Field(..., examples=["资料不全，开通前请先补全：营业执照号、联系人"])
    fields: dict[str, list[str]] = Field(
        default_factory=dict, examples=[{"license_no": ["请补全此项"]}]
    )


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Document error responses of an operation: ``{**errors(403, 404)}``."""
    return {status: ErrorOut for status in statuses}


def _local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(readable_datetime(value)).replace(microsecond=0)


def _money(value: Any) -> str:
    return f"{Decimal(value):.2f}"


# ISO 8601 in the platform's time zone, e.g. 2026-05-01T09:30:00+08:00.
LocalDateTime = Annotated[dt.datetime, AfterValidator(_local)]
# 合作金额 and the like: a decimal string with 2 places, e.g. "128000.00".
Money = Annotated[
    str,
    BeforeValidator(_money),
    Field(pattern=r"^-?\d+\.\d{2}$", examples=["128000.00"]),
]


class StaffRef(Schema):
    id: int
    name: str = Field(..., description="姓名（未填写姓名时为用户名）")

    @staticmethod
    def resolve_name(obj) -> str:
        return obj.display_name


class PageMeta(Schema):
    count: int = Field(
        ...,
        description="符合条件的总条数；count_exact 为 false 时为下限（超过统计上限）或整表的估计值",
    )
    count_exact: bool = Field(True, description="count 是否为精确值")
    page: int = Field(..., description="当前页码（从 1 开始）")
    page_size: int = Field(..., description="每页条数")
    pages: int = Field(..., description="总页数（count 不精确时按 count 估算）")
    next_cursor: str | None = Field(
        None, description="下一页的游标：作为 after 参数传回即取下一页（深翻页时比页码快）"
    )


PAGE_SIZE_MAX = max(settings.LIST_PAGE_SIZE_CHOICES)
PAGE_MAX = 1_000_000


def one_of(values: Iterable[str]) -> Any:
    """A ``Literal`` type of the given values, for a query or body field whose allowed
    values come from code (model choices, sort keys): OpenAPI lists them as an enum."""
    return Literal[tuple(values)]


def sort_keys(sorts: Iterable[str]) -> Any:
    """``one_of`` every sort key, ascending and descending (``name``, ``-name``)."""
    return one_of(k for key in sorts for k in (key, f"-{key}"))


class PageQuery(Input):
    """Query parameters of every list: ``page`` (from 1) and ``page_size``."""

    page: int = Field(1, ge=1, le=PAGE_MAX, description="页码（从 1 开始）")
    page_size: int = Field(settings.LIST_PAGE_SIZE, ge=1, le=PAGE_SIZE_MAX, description="每页条数")
    after: str = Field(
        "", max_length=2000, description="上一页响应的 next_cursor：取它之后的一页（page 仅作显示）"
    )


def paginate(qs: QuerySet, query: PageQuery) -> dict[str, Any]:
    """The page asked for — by number, or after a cursor — and the list's size, counted up
    to ``LIST_COUNT_CAP`` (``core.listing``); a numbered page past the end is empty."""
    page_size = query.page_size
    total = count_rows(qs)
    if query.after:
        page = list_page(qs, {"after": query.after, "page": query.page}, page_size, total)
        items, number, cursor = page.object_list, page.number, page.next_cursor
    else:
        number = query.page
        start = (number - 1) * page_size
        items = []
        if not total.exact or start < total.value:
            items = page_rows(qs, start, start + page_size + 1)
        more = len(items) > page_size
        items = items[:page_size]
        order = keyset_order(qs)
        cursor = encode_cursor(items[-1], order) if (more and order) else ""
    return {
        "items": items,
        "count": total.value,
        "count_exact": total.exact,
        "page": number,
        "page_size": page_size,
        "pages": max(1, math.ceil(total.value / page_size)),
        "next_cursor": cursor or None,
    }


@contextlib.contextmanager
def renamed_fields(mapping: dict[str, str]) -> Iterator[None]:
    """Report a service's field errors under the request body's names (owner → owner_id)."""
    try:
        yield
    except DomainError as exc:
        exc.fields = {mapping.get(k, k): v for k, v in exc.fields.items()}
        raise


def stream_scan(field: FieldFile, download_name: str, missing_message: str) -> FileResponse:
    """Stream a private scan; NotFound when none was uploaded or the file is gone."""
    if not field:
        raise NotFound(missing_message, code=ErrorCode.NO_FILE)
    ext = field.name.rsplit(".", 1)[-1] if "." in field.name else "bin"
    try:
        return serve_private(field, f"{download_name}.{ext}")
    except FileNotFoundError:
        raise NotFound(missing_message, code=ErrorCode.NO_FILE) from None


# --- Owners -----------------------------------------------------------------------------


class AssignIn(StrictInput):
    owner_id: int | None = Field(..., description="新负责人的员工 id；null 表示放回公海")


def owner_from_id(owner_id: int | None):
    """The member of staff an ``owner_id`` names (None: the pool); an unknown id is a 422
    on ``owner_id``. Whether they may own the records is the service's rule."""
    from django.contrib.auth import get_user_model

    if owner_id is None:
        return None
    owner = get_user_model().objects.filter(pk=owner_id).first()
    if owner is None:
        raise ValidationFailed("负责人：该员工不存在", fields={"owner_id": ["该员工不存在"]})
    return owner
