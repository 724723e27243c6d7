"""The reports as files: CSV for programs, XLSX for people, streamed to the browser.

A report exports one table. CSV gets only that table: one header row, then flat rows, times as
text in the school's time zone (24 h) and rates as percentages with one decimal; whether open
sessions were counted is a column of its own there, and a line of the heading in XLSX. XLSX puts a heading
(what the report covers) above the table as people read it (the rate beside the name), with a
bold, frozen header row and filters, real dates and times, rates formatted as percentages, and
the totals on a sheet of their own.

Every text cell goes through `safe_cell`, so a student named ``=HYPERLINK(...)`` stays text in a
spreadsheet. CSV is written row by row into the response; XLSX goes through openpyxl's write-only
workbook into a temporary file that is then streamed.

Under ASGI (daphne) Django collects a synchronous iterator into a list before sending it, which
would hold a whole export in memory; there the blocks are handed over as an asynchronous iterator
that fetches each one in the request's thread instead.
"""

from __future__ import annotations

import csv
import datetime
import itertools
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from attendance.models import ClassSession
from attendance.reports import (
    CourseHistory,
    CourseReport,
    SessionReport,
    Tally,
    as_percent,
    local_time,
    source_label,
    status_label,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from students.models import Student


@dataclass(frozen=True)
class Moment:
    """A point in time, shown in the school's time zone to the second (or to the minute)."""

    at: datetime.datetime
    seconds: bool = True


@dataclass(frozen=True)
class Rate:
    """An attendance rate (a fraction): a percentage in CSV, a fraction formatted as one in XLSX."""

    value: float


Plain = str | int | float | None
Cell = Plain | Moment | Rate
HeadingValue = Cell | datetime.date

FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BLOCK_SIZE = 64 * 1024
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMATS = {True: "%Y-%m-%d %H:%M:%S", False: "%Y-%m-%d %H:%M"}
XLSX_TIME_FORMATS = {True: "yyyy-mm-dd hh:mm:ss", False: "yyyy-mm-dd hh:mm"}
XLSX_DATE_FORMAT = "yyyy-mm-dd"
XLSX_PERCENT_FORMAT = "0.0%"


def safe_cell(value: Plain) -> Plain:
    """The value, with text that a spreadsheet would run as a formula prefixed by a single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


# --- Tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    title: Cell
    width: float = 12  # in XLSX, in characters


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: Iterable[list[Cell]]
    frozen_columns: int = 0  # in XLSX, kept in view when scrolling sideways


@dataclass(frozen=True)
class Export:
    """A report as files. CSV gets `table` alone; XLSX puts `heading` above `sheet` (the table as
    people read it: `table` unless given) and `totals` on a sheet of their own. The totals are read
    after the table, as some fill while its rows run."""

    heading: list[tuple[str, HeadingValue]]
    table: Table
    totals: Table
    sheet: Table | None = None


NUMBER, NAME, STATUS, TIME, SOURCE = (
    Column("Student number", 16),
    Column("Name", 28),
    Column("Status", 10),
    Column("First seen", 20),
    Column("Source", 17),
)
SESSION_WIDTH = 17
COURSE, COURSE_NAME = Column("Course", 12), Column("Course name", 28)


def _tally_columns(counted: str) -> list[Column]:
    """The counts, the rate and its flag: always the last two, see `_rate_beside_name`."""
    counts = [Column(title, 10) for title in ("Present", "Late", "Absent", "Excused")]
    return [*counts, Column(counted, 17), Column("Rate (%)", 10), Column(f"Below {_warning_percent()}%", 11)]


def _warning_percent() -> str:
    return f"{settings.ATTENDANCE_RATE_WARNING * 100:g}"


def _tally_cells(tally: Tally) -> list[Cell]:
    rate = tally.rate
    return [
        tally.present,
        tally.late,
        tally.absent,
        tally.excused,
        tally.counted,
        None if rate is None else Rate(rate),
        "yes" if tally.flagged else None,
    ]


Item = TypeVar("Item")


def _rate_beside_name(cells: list[Item], *, names: int) -> list[Item]:
    """The rate and its flag (the last two cells) moved to just after the first `names` cells."""
    return [*cells[:names], *cells[-2:], *cells[names:-2]]


def _people_table(table: Table, *, names: int) -> Table:
    """The table with the rate beside the names, both kept in view when scrolling sideways."""
    return Table(
        columns=_rate_beside_name(table.columns, names=names),
        rows=(_rate_beside_name(row, names=names) for row in table.rows),
        frozen_columns=names + 2,
    )


def _moment(at: datetime.datetime | None, *, seconds: bool = True) -> Moment | None:
    return None if at is None else Moment(at, seconds=seconds)


def _person(user: User | None) -> str:
    return "" if user is None else user.get_full_name() or user.get_username()


def _time_zone() -> tuple[str, HeadingValue]:
    return ("Time zone", settings.TIME_ZONE)


OPEN_COLUMN = Column("Open sessions counted", 12)


def _open_sessions(*, include_open: bool, left_out: int | None = None) -> tuple[str, HeadingValue]:
    """Whether open sessions were counted, and how many were left out when that is known up front."""
    if include_open:
        return ("Open sessions", "counted (their figures are provisional)")
    return ("Open sessions", "left out" if left_out is None else f"left out ({left_out})")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _session_title(session: ClassSession) -> Cell:
    """A session column's title: its start, marked when it is still open."""
    if session.state == ClassSession.State.OPEN:
        return f"{local_time(session.starts_at, TIME_FORMATS[False])} (open)"
    return Moment(session.starts_at, seconds=False)


def _session_width(session: ClassSession) -> float:
    # An open session's title is text, " (open)" longer than a time.
    return SESSION_WIDTH + 7 if session.state == ClassSession.State.OPEN else SESSION_WIDTH


def _without_last_column(table: Table) -> Table:
    """The table without its CSV-only last column (the XLSX heading says it once instead)."""
    return Table(table.columns[:-1], (row[:-1] for row in table.rows), frozen_columns=table.frozen_columns)


def session_export(report: SessionReport) -> Export:
    """Every student who counts in the session, with the note and who changed the record last."""
    session = report.session

    def rows() -> Iterator[list[Cell]]:
        for line in report.lines():
            yield [
                line.student.student_number,
                line.student.full_name,
                status_label(line.status),
                _moment(line.first_seen_at),
                source_label(line.source),
                line.note,
                _person(line.changed_by),
            ]

    def totals() -> Iterator[list[Cell]]:
        yield _rate_beside_name(_tally_cells(report.tally), names=0)

    columns = [NUMBER, NAME, STATUS, TIME, SOURCE, Column("Note", 40), Column("Changed by", 20)]
    state = session.get_state_display()
    if session.state == ClassSession.State.OPEN:
        state = f"{state}: still taking attendance, the figures are provisional"
    return Export(
        heading=[
            ("Course", f"{session.course.code} {session.course.name}"),
            ("Starts", Moment(session.starts_at, seconds=False)),
            ("Ends", Moment(session.ends_at, seconds=False)),
            ("State", state),
            _time_zone(),
        ],
        table=Table(columns, rows(), frozen_columns=2),
        totals=Table(_rate_beside_name(_tally_columns("Students counted"), names=0), totals()),
    )


def course_export(report: CourseReport) -> Export:
    """Students by sessions with their tallies; the totals are one row per session.

    The CSV table ends with whether open sessions were counted; the XLSX sheet says it in its heading."""
    sessions = [Column(_session_title(session), _session_width(session)) for session in report.sessions]
    counted_open = _yes_no(report.include_open)

    def rows() -> Iterator[list[Cell]]:
        for row in report.rows():
            yield [
                row.student.student_number,
                row.student.full_name,
                *(status_label(cell) for cell in row.cells),
                *_tally_cells(row.tally),
                counted_open,
            ]

    def totals() -> Iterator[list[Cell]]:
        for session, tally in zip(report.sessions, report.session_totals, strict=True):
            yield _rate_beside_name([_session_title(session), *_tally_cells(tally)], names=1)

    table = Table([NUMBER, NAME, *sessions, *_tally_columns("Sessions counted"), OPEN_COLUMN], rows())
    total_columns = [Column("Session", SESSION_WIDTH), *_tally_columns("Students counted")]
    return Export(
        heading=[
            ("Course", f"{report.course.code} {report.course.name}"),
            ("From", report.date_from or "the first session"),
            ("To", report.date_to or "the last session"),
            ("Sessions counted", len(report.sessions)),
            _open_sessions(include_open=report.include_open, left_out=len(report.open_left_out)),
            ("Sessions cancelled", len(report.cancelled)),
            _time_zone(),
        ],
        table=table,
        sheet=_people_table(_without_last_column(table), names=2),
        totals=Table(_rate_beside_name(total_columns, names=1), totals()),
    )


def student_export(*, student: Student, histories: Iterable[CourseHistory], include_open: bool) -> Export:
    """Every counted session of the student while enrolled; the totals are one row per course.

    The CSV table ends with whether open sessions were counted; the XLSX sheet says it in its heading."""
    summaries: list[list[Cell]] = []
    counted_open = _yes_no(include_open)

    def rows() -> Iterator[list[Cell]]:
        for history in histories:
            for entry in history.entries:
                yield [
                    history.course.code,
                    history.course.name,
                    _session_title(entry.session),
                    status_label(entry.status),
                    _moment(entry.first_seen_at),
                    source_label(entry.source),
                    counted_open,
                ]
            summaries.append([history.course.code, history.course.name, *_tally_cells(history.tally)])

    def totals() -> Iterator[list[Cell]]:
        for summary in summaries:
            yield _rate_beside_name(summary, names=2)

    columns = [COURSE, COURSE_NAME, Column("Session", SESSION_WIDTH), STATUS, TIME, SOURCE, OPEN_COLUMN]
    table = Table(columns, rows())
    total_columns = [COURSE, COURSE_NAME, *_tally_columns("Sessions counted")]
    return Export(
        heading=[
            ("Student", f"{student.student_number} {student.full_name}"),
            _open_sessions(include_open=include_open),
            _time_zone(),
        ],
        table=table,
        sheet=_without_last_column(table),
        totals=Table(_rate_beside_name(total_columns, names=2), totals()),
    )


# --- Writers ------------------------------------------------------------------------------


def _csv_value(cell: Cell) -> Plain:
    if isinstance(cell, Moment):
        return local_time(cell.at, TIME_FORMATS[cell.seconds])
    if isinstance(cell, Rate):
        return as_percent(cell.value)
    return safe_cell(cell)


class _Echo:
    """The file-like object csv.writer needs; writerow() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_blocks(table: Table) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    # The byte order mark makes Excel read the file as UTF-8 (accents in names).
    block = ["\ufeff"]
    size = 0
    header = [[column.title for column in table.columns]]
    for row in itertools.chain(header, table.rows):
        line = writer.writerow([_csv_value(cell) for cell in row])
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


def csv_response(request: HttpRequest, *, table: Table, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_for_server(request, _csv_blocks(table)), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = content_disposition_header(True, f"{filename}.csv")
    return response


BOLD = Font(bold=True)
# The heading's labels and values (times among them) sit in the first two columns, whatever the
# table has there; Excel shows a time in too narrow a column as ####.
HEADING_WIDTHS = (14, 18)


def _xlsx_cell(sheet: Any, cell: HeadingValue, *, bold: bool = False) -> Any:
    """The value as openpyxl writes it: times naive in the school's time zone (Excel has no zones)."""
    number_format = None
    value: Any
    if isinstance(cell, Moment):
        value = timezone.localtime(cell.at).replace(tzinfo=None)
        number_format = XLSX_TIME_FORMATS[cell.seconds]
    elif isinstance(cell, Rate):
        value, number_format = cell.value, XLSX_PERCENT_FORMAT
    elif isinstance(cell, datetime.date):
        value, number_format = cell, XLSX_DATE_FORMAT
    elif isinstance(cell, str):
        # openpyxl refuses control characters (a note may hold one): shown as a replacement mark.
        # Empty text is no cell at all, as a blank cell is in a spreadsheet.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(safe_cell(cell))) or None
    else:
        value = cell
    if number_format is None and not bold:
        return value
    styled = WriteOnlyCell(sheet, value=value)
    if number_format is not None:
        styled.number_format = number_format
    if bold:
        styled.font = BOLD
    return styled


def _write_sheet(workbook: Workbook, *, title: str, heading: list[tuple[str, HeadingValue]], table: Table) -> None:
    """The heading, an empty row, then the table under a bold header row that stays in view and filters."""
    sheet: Any = workbook.create_sheet(title)
    widths = [column.width for column in table.columns]
    widths[: len(HEADING_WIDTHS)] = [max(pair) for pair in zip(widths, HEADING_WIDTHS, strict=False)]
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    header_row = len(heading) + 2
    sheet.freeze_panes = f"{get_column_letter(table.frozen_columns + 1)}{header_row + 1}"
    for label, value in heading:
        sheet.append([_xlsx_cell(sheet, label, bold=True), _xlsx_cell(sheet, value)])
    sheet.append([])
    sheet.append([_xlsx_cell(sheet, column.title, bold=True) for column in table.columns])
    last_row = header_row
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, cell) for cell in row])
        last_row += 1
    sheet.auto_filter.ref = f"A{header_row}:{get_column_letter(len(table.columns))}{last_row}"


def _write_xlsx(export: Export, target: IO[bytes]) -> None:
    workbook = Workbook(write_only=True)
    _write_sheet(workbook, title="Attendance", heading=export.heading, table=export.sheet or export.table)
    _write_sheet(workbook, title="Totals", heading=export.heading, table=export.totals)
    workbook.save(target)


def xlsx_response(request: HttpRequest, *, export: Export, filename: str) -> FileResponse:
    # The write-only workbook keeps rows on disk as they are appended; the file is deleted on close.
    target = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    _write_xlsx(export, target)
    target.seek(0)
    response = FileResponse(target, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX_CONTENT_TYPE)
    if isinstance(request, ASGIRequest):
        response.streaming_content = _AsyncBlocks(iter(partial(target.read, BLOCK_SIZE), b""))
    return response


def export_response(
    request: HttpRequest, *, export_format: str, export: Export, filename: str
) -> StreamingHttpResponse | FileResponse:
    """The export as a CSV or XLSX download named `filename` (made safe, without an extension)."""
    filename = get_valid_filename(filename)
    if export_format == "xlsx":
        return xlsx_response(request, export=export, filename=filename)
    return csv_response(request, table=export.table, filename=filename)
