"""Excel export: streamed (openpyxl write-only), constant memory, safe against formula injection."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import FileResponse
from openpyxl import Workbook

# A cell starting with one of these is read as a formula by Excel / WPS / LibreOffice (CSV and
# XLSX alike); OWASP's advice is to prefix it with a single quote so it stays text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    """A value as it may go into a cell: numbers and dates as they are, text never a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            from django.utils import timezone

            return timezone.localtime(value).replace(tzinfo=None)
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def write_xlsx(
    *, headers: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "Sheet1"
) -> tempfile.SpooledTemporaryFile[bytes]:
    """Write rows to an .xlsx in a temporary file (spooled to disk past 8 MB) and rewind it."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.append([safe_cell(h) for h in headers])
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    out: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=8 * 1024 * 1024
    )
    wb.save(out)
    out.seek(0)
    return out


def xlsx_response(
    *, filename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "Sheet1"
) -> FileResponse:
    """An HTTP download of ``rows`` as .xlsx."""
    out = write_xlsx(headers=headers, rows=rows, sheet=sheet)
    return FileResponse(
        out,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def chunked(queryset: Any, size: int = 2000) -> Iterator[Any]:
    """Iterate a large query set in primary-key order without loading it whole."""
    return queryset.iterator(chunk_size=size)
