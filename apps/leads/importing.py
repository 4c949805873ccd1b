"""Excel import of leads (线下拓客 spreadsheets) from the template the console provides.

Every row is checked by the same rules as 线下录入 (``clean_applicant``: name, mainland
mobile — Unicode digits read as ASCII — company, notes; control characters refused) before
anything is written; a phone already on a lead, or twice in the file, is an error of its
row. With any error nothing is imported and every error is reported by row and column;
otherwise all rows are created in one transaction, owned by the importer, channel 线下, with
one audit row each written in one statement. Formula-looking text is kept as typed: it is
text here, and every export writes it as text.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from apps.audit import services as audit
from apps.core.errors import Conflict, ValidationFailed
from apps.core.permissions import require_perm

from .models import Channel, Lead
from .services import _clean_notes, clean_applicant, clean_channel_ref

PERM = "leads.import_lead"
MAX_ROWS = 5000
MAX_BYTES = 5 * 2**20
# (field, header, required)
COLUMNS = (
    ("name", "姓名", True),
    ("phone", "手机号", True),
    ("company", "公司名", False),
    ("notes", "备注", False),
)
LABELS = {name: header for name, header, _required in COLUMNS}


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet's row number (the header is row 1)
    column: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    errors: list[RowError] = field(default_factory=list)


def template_bytes() -> bytes:
    """The template: the headers (required ones marked ＊), widths, one example row."""
    book = Workbook()
    sheet = book.active
    sheet.title = "客户申请"
    sheet.append([f"{h}＊" if required else h for _n, h, required in COLUMNS])
    sheet.append(["张三", "13800138000", "阳光物业服务有限公司", "示例行，导入前请删除"])
    for letter, width in zip("ABCD", (14, 16, 30, 40), strict=True):
        sheet.column_dimensions[letter].width = width
    for cell in sheet["B"]:
        cell.number_format = "@"  # phones stay text
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone typed as a number
    return str(value).strip()


def read_rows(upload: Any) -> list[tuple[int, dict[str, str]]]:
    """(row number, {field: text}) of every non-empty row, or a 422 naming ``file``."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(_("文件：%(m)s") % {"m": message}, fields={"file": [message]})

    if upload is None:
        raise refuse(_("请选择要导入的 Excel 文件（.xlsx）"))
    if upload.size > MAX_BYTES:
        raise refuse(_("文件不能超过 5 MB"))
    try:
        book = load_workbook(upload, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise refuse(_("不是有效的 .xlsx 文件，请使用下载的导入模板")) from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [_text(h).rstrip("＊*") for h in next(rows, ())]
        positions = {}
        for name, label, _required in COLUMNS:
            if label not in header:
                raise refuse(_("缺少「%(c)s」列，请使用下载的导入模板") % {"c": label})
            positions[name] = header.index(label)
        found: list[tuple[int, dict[str, str]]] = []
        for number, row in enumerate(rows, start=2):
            values = {n: _text(row[i]) if i < len(row) else "" for n, i in positions.items()}
            if not any(values.values()):
                continue
            if len(found) >= MAX_ROWS:
                raise refuse(_("一次最多导入 %(n)d 行") % {"n": MAX_ROWS})
            found.append((number, values))
    finally:
        book.close()
    if not found:
        raise refuse(_("文件中没有数据行"))
    return found


def leads_import(*, actor: Any, upload: Any) -> ImportResult:
    """Check every row, then import all of them or none (see the module)."""
    require_perm(actor, PERM)
    rows = read_rows(upload)
    errors: list[RowError] = []
    clean: list[tuple[int, dict[str, str], str]] = []
    seen: dict[str, int] = {}
    for number, values in rows:
        try:
            data = clean_applicant(
                name=values["name"], phone=values["phone"], company=values["company"]
            )
            notes = _clean_notes(values["notes"])
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                errors.append(RowError(number, LABELS.get(name, name), messages[0]))
            continue
        if data["phone"] in seen:
            errors.append(
                RowError(
                    number,
                    LABELS["phone"],
                    _("与第 %(r)d 行的手机号重复") % {"r": seen[data["phone"]]},
                )
            )
            continue
        seen[data["phone"]] = number
        clean.append((number, data, notes))
    taken = set(
        Lead.objects.filter(phone__in=[d["phone"] for _n, d, _t in clean]).values_list(
            "phone", flat=True
        )
    )
    for number, data, _notes in clean:
        if data["phone"] in taken:
            errors.append(RowError(number, LABELS["phone"], _("该手机号已有客户申请，不重复导入")))
    if errors:
        return ImportResult(0, sorted(errors, key=lambda e: (e.row, e.column)))
    now = timezone.now()
    ref = clean_channel_ref(actor.username)
    try:
        with transaction.atomic():
            Lead.objects.bulk_create(
                [
                    Lead(
                        **data,
                        notes=notes,
                        channel=Channel.OFFLINE,
                        channel_ref=ref,
                        owner=actor,
                        created_by=actor,
                        registered_at=now,
                        last_applied_at=now,
                    )
                    for _n, data, notes in clean
                ]
            )
            created = list(Lead.objects.filter(phone__in=list(seen)).order_by("pk"))
            audit.record_many(
                actor=actor,
                action="import",
                entries=[(lead, {}) for lead in created],
                message=_("Excel 导入"),
            )
    except IntegrityError:  # the same phone entered meanwhile
        raise Conflict(_("导入期间有相同手机号的申请被录入，未导入任何行，请重试")) from None
    return ImportResult(len(created), [])
