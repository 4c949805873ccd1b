"""Excel export of any list: Chinese headers, one row per record, written in streaming mode."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXPORT_ROWS = 200_000


def xlsx_response(
    filename: str,
    headers: list[str],
    rows: Iterable[Any],
    to_row: Callable[[Any], list[Any]],
) -> HttpResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(headers)
    for count, row in enumerate(rows):
        if count >= MAX_EXPORT_ROWS:
            break
        sheet.append(to_row(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    name = quote(f"{filename}-{stamp}.xlsx")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response
