"""Excel export of any list: the one helper every export uses.

What users typed is always written as text, never as a formula: a string cell is typed as
a string and, when it begins with ``=``, ``+``, ``-``, ``@``, a tab or a CR, also marked
``quotePrefix`` — Excel's own marker for "text that looks like a formula", which WPS and
LibreOffice honour too — so the value is shown exactly as typed and stays text when the
cell is edited. (The OWASP alternative, a leading apostrophe inside the value, would change
the data and pile up on every export → import round trip.) Characters a worksheet cannot
hold (C0 controls, lone surrogates) become U+FFFD instead of failing the export, so an old
row can never break it. Datetimes are written in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from .fields import readable_datetime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 200_000
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

# What openpyxl refuses (its ILLEGAL_CHARACTERS_RE) and what UTF-8 cannot encode.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REPLACEMENT = "\ufffd"


def local_text(value: dt.datetime | None) -> str:
    """A datetime as ``YYYY-MM-DD HH:mm:ss`` in Asia/Shanghai ("" for None), whatever its
    year."""
    if value is None:
        return ""
    return timezone.localtime(readable_datetime(value)).strftime("%Y-%m-%d %H:%M:%S")


def safe_text(value: str) -> str:
    """``value`` with the characters a worksheet cannot hold replaced."""
    return _ILLEGAL.sub(REPLACEMENT, value)


def cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell | Any:
    """One cell of an export: numbers stay numbers, datetimes are local, anything else is
    text that can never be a formula."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(readable_datetime(value)).replace(tzinfo=None)
        if 1900 <= value.year <= 9999:
            stamp = WriteOnlyCell(sheet, value=value)
            stamp.number_format = DATETIME_FORMAT
            return stamp
        value = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    value = str(value)
    if not value.startswith(FORMULA_START) and not _ILLEGAL.search(value):
        return value  # plain text: openpyxl writes a str that is no formula as a string
    text = WriteOnlyCell(sheet, value=safe_text(value))
    text.data_type = "s"
    if text.value.startswith(FORMULA_START):
        text.quotePrefix = True
    return text


def write_workbook(
    target: Any,
    headers: Sequence[str],
    rows: Iterable[Any],
    to_row: Callable[[Any], Sequence[Any]],
    *,
    title: str = "",
    widths: Sequence[int] = (),
) -> None:
    """Write the rows to ``target`` (a path or a binary file) with openpyxl's write-only
    mode: each row goes to disk as it comes, so memory stays flat however many rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title or None)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append([cell(sheet, h) for h in headers])
    for count, row in enumerate(rows):
        if count >= MAX_EXPORT_ROWS:
            break
        sheet.append([cell(sheet, value) for value in to_row(row)])
    workbook.save(target)


def workbook_bytes(
    headers: Sequence[str],
    rows: Iterable[Any],
    to_row: Callable[[Any], Sequence[Any]],
    *,
    title: str = "",
    widths: Sequence[int] = (),
) -> bytes:
    buffer = io.BytesIO()
    write_workbook(buffer, headers, rows, to_row, title=title, widths=widths)
    return buffer.getvalue()


def xlsx_response(
    filename: str,
    headers: Sequence[str],
    rows: Iterable[Any],
    to_row: Callable[[Any], Sequence[Any]],
    *,
    title: str = "",
    widths: Sequence[int] = (),
) -> FileResponse:
    """The rows as an .xlsx download named ``<filename>-<timestamp>.xlsx``, written to a
    temporary file and streamed from it: the server's memory does not grow with the rows
    (callers pass ``queryset.iterator(chunk_size=…)``). The file is gone once sent."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response when sent
    try:
        write_workbook(spool, headers, rows, to_row, title=title, widths=widths)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = FileResponse(spool, content_type=XLSX)
    name = quote(f"{filename}-{stamp}.xlsx")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    response["Cache-Control"] = "private, no-store"
    return response


def table_response(
    filename: str,
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    rows: Iterable[Any],
    *,
    title: str = "",
) -> FileResponse:
    """``xlsx_response`` for a list declared as (中文 header, value of a row) columns."""
    return xlsx_response(
        filename,
        [header for header, _value in columns],
        rows,
        lambda row: [value(row) for _header, value in columns],
        title=title,
    )
