"""The reports as tables of cells, written as CSV or XLSX and streamed to the browser.

Both formats get the same rows and every text cell goes through `safe_cell`, so a student named
``=HYPERLINK(...)`` stays text in a spreadsheet. CSV is written row by row into the response;
XLSX goes through openpyxl's write-only workbook into a temporary file that is then streamed.

Under ASGI (daphne) Django collects a synchronous iterator into a list before sending it, which
would hold a whole export in memory; there the blocks are handed over as an asynchronous iterator
that fetches each one in the request's thread instead.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from functools import partial
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from openpyxl import Workbook

from attendance.reports import (
    CourseHistory,
    CourseReport,
    SessionReport,
    Tally,
    local_time,
    source_label,
    status_label,
)

Cell = str | int | float | None

FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BLOCK_SIZE = 64 * 1024
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Cell) -> Cell:
    """The value, with text that a spreadsheet would run as a formula prefixed by a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


# --- Tables -------------------------------------------------------------------------------

TALLY_HEADER = ["Present", "Late", "Absent", "Excused", "Sessions counted", "Rate (%)"]


def _tally_cells(tally: Tally) -> list[Cell]:
    return [tally.present, tally.late, tally.absent, tally.excused, tally.counted, tally.percent]


def _flag(tally: Tally) -> str:
    return "yes" if tally.flagged else ""


def _warning_header() -> str:
    return f"Below {settings.ATTENDANCE_RATE_WARNING * 100:g}%"


def session_table(report: SessionReport) -> Iterator[list[Cell]]:
    yield ["Student number", "Name", "Status", "First seen", "Source"]
    for line in report.lines():
        yield [
            line.student.student_number,
            line.student.full_name,
            status_label(line.status),
            local_time(line.first_seen_at),
            source_label(line.source),
        ]


def course_table(report: CourseReport) -> Iterator[list[Cell]]:
    """Students by sessions, then one row per status with each session's totals."""
    session_names = [local_time(session.starts_at, "%Y-%m-%d %H:%M") for session in report.sessions]
    yield ["Student number", "Name", *session_names, *TALLY_HEADER, _warning_header()]
    for row in report.rows():
        yield [
            row.student.student_number,
            row.student.full_name,
            *(status_label(cell) for cell in row.cells),
            *_tally_cells(row.tally),
            _flag(row.tally),
        ]
    totals = report.session_totals
    yield ["", "Present", *(tally.present for tally in totals)]
    yield ["", "Late", *(tally.late for tally in totals)]
    yield ["", "Absent", *(tally.absent for tally in totals)]
    yield ["", "Excused", *(tally.excused for tally in totals)]
    yield ["", "Sessions counted", *(tally.counted for tally in totals)]
    yield ["", "Rate (%)", *(tally.percent for tally in totals)]


def student_table(histories: Iterable[CourseHistory]) -> Iterator[list[Cell]]:
    """Every session of the student, then after an empty row one summary row per course."""
    yield ["Course", "Course name", "Session", "Status", "First seen", "Source"]
    summaries: list[list[Cell]] = []
    for history in histories:
        for entry in history.entries:
            yield [
                history.course.code,
                history.course.name,
                local_time(entry.session.starts_at, "%Y-%m-%d %H:%M"),
                status_label(entry.status),
                local_time(entry.first_seen_at),
                source_label(entry.source),
            ]
        summaries.append([history.course.code, history.course.name, *_tally_cells(history.tally), _flag(history.tally)])
    yield []
    yield ["Course", "Course name", *TALLY_HEADER, _warning_header()]
    yield from summaries


# --- Writers ------------------------------------------------------------------------------


class _Echo:
    """The file-like object csv.writer needs; writerow() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_blocks(rows: Iterable[list[Cell]]) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    # The byte order mark makes Excel read the file as UTF-8 (accents in names).
    block = ["\ufeff"]
    size = 0
    for row in rows:
        line = writer.writerow([safe_cell(cell) for cell in row])
        block.append(line)
        size += len(line)
        if size >= BLOCK_SIZE:
            yield "".join(block).encode()
            block, size = [], 0
    if block:
        yield "".join(block).encode()


def _next_block(blocks: Iterator[bytes]) -> bytes | None:
    return next(blocks, None)


class _AsyncBlocks:
    """A synchronous iterator served asynchronously, one block per trip to the request's thread."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._next = sync_to_async(_next_block, thread_sensitive=True)

    def __aiter__(self) -> _AsyncBlocks:
        return self

    async def __anext__(self) -> bytes:
        block = await self._next(self._blocks)
        if block is None:
            raise StopAsyncIteration
        return block

    def close(self) -> None:
        # The response calls this when done or disconnected: close the database cursors.
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()


def _for_server(request: HttpRequest, blocks: Iterator[bytes]) -> Iterator[bytes] | _AsyncBlocks:
    return _AsyncBlocks(blocks) if isinstance(request, ASGIRequest) else blocks


def csv_response(request: HttpRequest, *, rows: Iterable[list[Cell]], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_for_server(request, _csv_blocks(rows)), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = content_disposition_header(True, f"{filename}.csv")
    return response


def _write_xlsx(rows: Iterable[list[Cell]], target: IO[bytes]) -> None:
    workbook = Workbook(write_only=True)
    sheet: Any = workbook.create_sheet("Attendance")
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 28
    for row in rows:
        sheet.append([safe_cell(cell) for cell in row])
    workbook.save(target)


def xlsx_response(request: HttpRequest, *, rows: Iterable[list[Cell]], filename: str) -> FileResponse:
    # The write-only workbook keeps rows on disk as they are appended; the file is deleted on close.
    target = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    _write_xlsx(rows, target)
    target.seek(0)
    response = FileResponse(target, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX_CONTENT_TYPE)
    if isinstance(request, ASGIRequest):
        response.streaming_content = _AsyncBlocks(iter(partial(target.read, BLOCK_SIZE), b""))
    return response


def export_response(
    request: HttpRequest, *, export_format: str, rows: Iterable[list[Cell]], filename: str
) -> StreamingHttpResponse | FileResponse:
    """`rows` as a CSV or XLSX download named `filename` (made safe, without an extension)."""
    filename = get_valid_filename(filename)
    if export_format == "xlsx":
        return xlsx_response(request, rows=rows, filename=filename)
    return csv_response(request, rows=rows, filename=filename)
