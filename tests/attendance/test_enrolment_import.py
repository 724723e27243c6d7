"""Enrolling students from a CSV file: what the preview finds, line by line, and what apply writes."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attendance.enrolment_import import (
    MAX_BYTES,
    MAX_ROWS,
    EnrolmentPreview,
    LineError,
    enrolment_csv_apply,
    enrolment_csv_preview,
)
from attendance.models import Course, Enrollment
from config.web import ApplicationError
from students.models import Student

pytestmark = pytest.mark.django_db

D = datetime.date


@pytest.fixture
def students(course: Course, student: Student) -> dict[str, Student]:
    """S001 (enrolled since 2020-01-01 by the course fixture), S002 and S004 not enrolled, S003 enrolled."""
    others = {
        number: Student.objects.create(student_number=number, first_name=first, last_name="Pupil")
        for number, first in [("S002", "Bea"), ("S003", "Cy"), ("S004", "Di")]
    }
    Enrollment.objects.create(course=course, student=others["S003"], start_date=D(2024, 9, 1))
    return {"S001": student, **others}


def enrolments(course: Course) -> dict[str, tuple[D, D | None]]:
    return {
        e.student.student_number: (e.start_date, e.end_date)
        for e in Enrollment.objects.filter(course=course).select_related("student")
    }


def numbers(lines: list) -> list[tuple[int, str]]:
    return [(line.line, line.student_number) for line in lines]


def preview_of(course: Course, text: str | bytes) -> EnrolmentPreview:
    return enrolment_csv_preview(course=course, data=text.encode() if isinstance(text, str) else text)


# --- A good file --------------------------------------------------------------------------


GOOD = """student_number,start_date,end_date
S002,2025-09-01,
S001,2020-01-01,
S003,,2026-01-31

S004,,
"""


def test_preview_sorts_the_lines_into_adds_date_changes_and_unchanged(
    course: Course, students: dict[str, Student]
) -> None:
    preview = preview_of(course, GOOD)

    assert preview.errors == []
    assert numbers(preview.to_add) == [(2, "S002"), (6, "S004")]
    assert (preview.to_add[0].start_date, preview.to_add[0].end_date) == (D(2025, 9, 1), None)
    # A new enrolment without a start date starts today.
    assert preview.to_add[1].start_date == timezone.localdate()
    assert preview.to_add[0].student_name == "Bea Pupil"
    assert numbers(preview.unchanged) == [(3, "S001")]
    # An empty start date keeps the enrolment's own; the end date is new.
    assert numbers(preview.to_update) == [(4, "S003")]
    update = preview.to_update[0]
    assert (update.old_start_date, update.old_end_date) == (D(2024, 9, 1), None)
    assert (update.start_date, update.end_date) == (D(2024, 9, 1), D(2026, 1, 31))


def test_preview_only_reads(course: Course, students: dict[str, Student]) -> None:
    before = enrolments(course)

    with CaptureQueriesContext(connection) as queries:
        preview_of(course, GOOD)

    assert enrolments(course) == before
    assert queries.captured_queries
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)


def test_apply_writes_the_preview_and_counts_what_changed(course: Course, students: dict[str, Student]) -> None:
    preview = preview_of(course, GOOD)

    assert enrolment_csv_apply(course=course, preview=preview) == 3

    assert enrolments(course) == {
        "S001": (D(2020, 1, 1), None),
        "S002": (D(2025, 9, 1), None),
        "S003": (D(2024, 9, 1), D(2026, 1, 31)),
        "S004": (timezone.localdate(), None),
    }
    # Applying the same file again changes nothing.
    assert enrolment_csv_apply(course=course, preview=preview_of(course, GOOD)) == 0
    assert enrolment_csv_apply(course=course, preview=preview) == 0


def test_a_spreadsheet_export_with_bom_semicolons_crlf_and_spaced_header_is_read(
    course: Course, students: dict[str, Student]
) -> None:
    data = "\ufeffStudent number ; Start date\r\n S002 ;2025-09-01\r\n".encode()

    preview = preview_of(course, data)

    assert preview.errors == []
    assert numbers(preview.to_add) == [(2, "S002")]
    assert preview.to_add[0].start_date == D(2025, 9, 1)


def test_a_header_without_rows_changes_nothing(course: Course, students: dict[str, Student]) -> None:
    preview = preview_of(course, "student_number\n")

    assert preview == EnrolmentPreview(course_id=course.pk)
    assert enrolment_csv_apply(course=course, preview=preview) == 0


# --- Errors per line ----------------------------------------------------------------------


BAD = """student_number,start_date,end_date
S002,2025-09-01,
S999,2025-09-01,
S002,2025-10-01,
S004,2025-13-01,
S998,01/09/2025,
,2025-09-01,
S001,2025-09-01,2025-08-31
S003,,2024-08-31
S004,2025-09-01,,extra
"""


def test_each_problem_is_reported_with_its_line(course: Course, students: dict[str, Student]) -> None:
    preview = preview_of(course, BAD)

    assert preview.errors == [
        LineError(3, "Unknown student number “S999”."),
        LineError(4, "Student number “S002” is already on line 2."),
        LineError(5, "The start date “2025-13-01” is not a date in the form YYYY-MM-DD."),
        LineError(6, "The start date “01/09/2025” is not a date in the form YYYY-MM-DD."),
        LineError(7, "The student number is empty."),
        LineError(8, "The end date 2025-08-31 is before the start date 2025-09-01."),
        LineError(
            9,
            "The end date 2024-08-31 is before the start date 2024-09-01 (an empty start date keeps the current one).",
        ),
        LineError(10, "The line has more values than the header line has columns."),
    ]
    # The good line is still previewed, but nothing can be applied.
    assert numbers(preview.to_add) == [(2, "S002")]


def test_dates_outside_the_supported_years_are_refused_with_their_line(
    course: Course, students: dict[str, Student]
) -> None:
    preview = preview_of(course, "student_number,start_date,end_date\nS002,0001-01-01,9999-12-31\n")

    assert preview.errors == [
        LineError(2, "The start date “0001-01-01”: Dates must be in the years 2000 to 2100, not 1."),
        LineError(2, "The end date “9999-12-31”: Dates must be in the years 2000 to 2100, not 9999."),
    ]


def test_a_new_enrolment_ending_before_today_needs_a_start_date(course: Course, students: dict[str, Student]) -> None:
    preview = preview_of(course, "student_number,end_date\nS002,2001-01-01\n")

    today = timezone.localdate().isoformat()
    assert preview.errors == [
        LineError(
            2, f"The end date 2001-01-01 is before the start date {today} (today, as the line has no start date)."
        )
    ]


def test_a_file_with_errors_is_not_applied(course: Course, students: dict[str, Student]) -> None:
    before = enrolments(course)
    preview = preview_of(course, BAD)

    with pytest.raises(ApplicationError) as raised:
        enrolment_csv_apply(course=course, preview=preview)

    assert raised.value.message == "The file has 8 error(s); correct them and upload it again. Nothing was changed."
    assert enrolments(course) == before


def test_a_preview_applies_only_to_its_own_course(course: Course, students: dict[str, Student]) -> None:
    other = Course.objects.create(code="CS102", name="More computing")
    preview = preview_of(course, GOOD)

    with pytest.raises(ApplicationError, match="another course"):
        enrolment_csv_apply(course=other, preview=preview)

    assert not other.enrollments.exists()


def test_a_value_spanning_lines_is_numbered_by_the_line_it_starts_on(
    course: Course, students: dict[str, Student]
) -> None:
    preview = preview_of(course, 'student_number\n"S0\n02"\nS999\n')

    assert preview.errors == [
        LineError(2, "Unknown student number “S0\n02”."),
        LineError(4, "Unknown student number “S999”."),
    ]


# --- Files that are not what they should be -------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", LineError(0, "The file is empty; it needs a header line with student_number and a line per student.")),
        (
            b" \r\n\n",
            LineError(0, "The file is empty; it needs a header line with student_number and a line per student."),
        ),
        (
            "student_number\nS001\n".encode("utf-16"),
            LineError(0, "The file is not a CSV text file (save it from the spreadsheet as “CSV UTF-8”)."),
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00",  # the start of an .xlsx file
            LineError(0, "The file is not a CSV text file (save it from the spreadsheet as “CSV UTF-8”)."),
        ),
        (
            "student_number\nS001\nRenée\n".encode("latin-1"),
            LineError(3, "Line 3 is not UTF-8 text; save the file from the spreadsheet as “CSV UTF-8”."),
        ),
        (
            b"S001\nS002\n",
            LineError(
                1,
                "The first line must be a header with the columns student_number and optionally start_date and "
                "end_date; found “S001”.",
            ),
        ),
        (
            b"student_number,start,end\nS001,2025-01-01,\n",
            LineError(
                1,
                "The first line must be a header with the columns student_number and optionally start_date and "
                "end_date; found “student_number”, “start”, “end”.",
            ),
        ),
        (
            b"student_number,start_date,Start date\n",
            LineError(1, "The header line has the column start_date more than once."),
        ),
        (b'student_number\n"S001\nS002\n', LineError(2, 'Line 2 opens a quote (") that is never closed.')),
        (b'student_number\n"S001"x\n', LineError(2, "Line 2 is not valid CSV (',' expected after '\"').")),
    ],
    ids=["empty", "blank", "utf-16", "xlsx", "latin-1", "no-header", "unknown-column", "twice", "quote", "stray"],
)
def test_a_file_that_is_not_a_utf8_csv_gives_one_clear_error(
    course: Course, students: dict[str, Student], data: bytes, error: LineError
) -> None:
    preview = preview_of(course, data)

    assert preview.errors == [error]
    assert (preview.to_add, preview.to_update, preview.unchanged) == ([], [], [])


def test_a_file_over_the_size_limit_is_refused_whole(course: Course, students: dict[str, Student]) -> None:
    data = b"student_number\n" + b"S002\n" * (MAX_BYTES // 5)

    preview = preview_of(course, data)

    assert preview.errors == [LineError(0, "The file is larger than 1 MB; split it into smaller files.")]
    assert preview.to_add == []


def test_the_row_limit_is_checked(course: Course, students: dict[str, Student]) -> None:
    rows = "".join(f"X{index}\n" for index in range(MAX_ROWS))

    at_limit = preview_of(course, "student_number\n" + rows)
    over_limit = preview_of(course, "student_number\n" + rows + "\nX-last\n")

    assert len(at_limit.errors) == MAX_ROWS
    assert {error.message for error in at_limit.errors[:1]} == {"Unknown student number “X0”."}
    assert over_limit.errors == [
        LineError(MAX_ROWS + 3, "The file has more than 5,000 students; split it into files of at most 5,000.")
    ]
