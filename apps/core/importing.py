"""Excel import, the parts every import shares: the template a console page offers (the
columns, required ones marked ＊, a dropdown for each enumeration fed from a hidden 选项
sheet, text-formatted cells for numbers that are not numbers) and reading a filled one back
(the header found by name, every non-empty row as text, limits on size and rows).

What a row means is the importing app's business: it checks every row by the rules of its
forms and reports ``RowError``s by row and column before writing anything.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from .errors import ValidationFailed

MAX_BYTES = 5 * 2**20
TEMPLATE_ROWS = 5000  # how far down the dropdowns reach
CHOICES_SHEET = "选项"


@dataclass(frozen=True)
class Column:
    name: str  # the field it fills
    header: str  # 中文 column title
    required: bool = False  # the cell must be filled (and the column present)
    choices: tuple[str, ...] = ()  # a dropdown of these labels
    strict: bool = True  # only the dropdown's labels (False: they are suggestions)
    width: int = 16
    text: bool = False  # numbers that are not numbers (phones, account numbers)
    example: str = ""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet's row number (the header is row 1)
    column: str
    message: str


@dataclass
class ImportResult:
    created: int = 0
    errors: list[RowError] = field(default_factory=list)


def template_bytes(title: str, columns: Sequence[Column], note: str = "") -> bytes:
    """The template: the headers (required ones marked ＊), widths, one example row (its
    last cell says to delete it), and the dropdowns."""
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append([f"{c.header}＊" if c.required else c.header for c in columns])
    example = [c.example for c in columns]
    if note:
        example[-1] = note
    sheet.append(example)
    lists = None
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.text:  # the column's style: what is typed into it stays text
            sheet.column_dimensions[letter].number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
        if column.choices:
            if lists is None:
                lists = book.create_sheet(CHOICES_SHEET)
                lists.sheet_state = "hidden"
            source = lists.max_column + 1 if lists.max_row > 1 or lists["A1"].value else 1
            src_letter = get_column_letter(source)
            lists.cell(row=1, column=source, value=column.header)
            for row, choice in enumerate(column.choices, start=2):
                lists.cell(row=row, column=source, value=choice)
            end = len(column.choices) + 1
            rule = DataValidation(
                type="list",
                formula1=f"{quote_sheetname(CHOICES_SHEET)}!${src_letter}$2:${src_letter}${end}",
                allow_blank=not column.required,
                showErrorMessage=column.strict,
                errorTitle=_("请从下拉列表中选择"),
                error=_("「%(c)s」请从下拉列表中选择") % {"c": column.header},
            )
            rule.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
            sheet.add_data_validation(rule)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def cell_text(value: Any) -> str:
    """A cell as text: a number typed for a phone loses its ``.0``; a date keeps its day."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "date") and hasattr(value, "hour"):
        value = value.date() if (value.hour, value.minute, value.second) == (0, 0, 0) else value
    return str(value).strip()


def read_rows(
    upload: Any, columns: Sequence[Column], *, max_rows: int
) -> list[tuple[int, dict[str, str]]]:
    """(row number, {field: text}) of every non-empty row, or a 422 naming ``file``. A
    column that is not required may be missing (a template from before it was added)."""

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
        header = [cell_text(h).rstrip("＊*") for h in next(rows, ())]
        positions = {}
        for column in columns:
            if column.header in header:
                positions[column.name] = header.index(column.header)
            elif column.required:
                raise refuse(_("缺少「%(c)s」列，请使用下载的导入模板") % {"c": column.header})
        found: list[tuple[int, dict[str, str]]] = []
        for number, row in enumerate(rows, start=2):
            values = {c.name: "" for c in columns}
            for name, i in positions.items():
                values[name] = cell_text(row[i]) if i < len(row) else ""
            if not any(values.values()):
                continue
            if len(found) >= max_rows:
                raise refuse(_("一次最多导入 %(n)d 行") % {"n": max_rows})
            found.append((number, values))
    finally:
        book.close()
    if not found:
        raise refuse(_("文件中没有数据行"))
    return found


def errors_of(number: int, exc: ValidationFailed, labels: dict[str, str]) -> list[RowError]:
    """A service's refusal of one row, as errors of that row by column."""
    return [
        RowError(number, labels.get(name, name), messages[0])
        for name, messages in exc.fields.items()
    ]


def import_page(
    request: Any,
    *,
    perm: str,
    run: Callable[[Any, Any], ImportResult],
    done_message: str,
    done_url: str,
    context: dict[str, Any],
) -> HttpResponse:
    """The import page every list shares: upload the filled template; every row is checked
    first, then all are imported (→ ``done_url`` with ``done_message`` % n) or none
    (errors listed by row and column). ``context`` names the page (``title``,
    ``template_url``, ``back_url``, ``description``, ``nav``)."""
    from django.contrib import messages
    from django.shortcuts import redirect, render

    from .errors import DomainError
    from .permissions import require_perm

    require_perm(request.user, perm)
    result, error = None, ""
    if request.method == "POST":
        try:
            result = run(request.user, request.FILES.get("file"))
        except DomainError as exc:
            error = exc.message
        else:
            if result.created:
                messages.success(request, done_message % {"n": result.created})
                return redirect(done_url)
    return render(request, "partials/import.html", {**context, "result": result, "error": error})


def template_response(content: bytes, filename: str) -> HttpResponse:
    """The template as a download named ``filename``."""
    from urllib.parse import quote

    from .excel import XLSX

    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
