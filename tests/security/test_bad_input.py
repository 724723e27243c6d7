"""Issue 9, finding 5: inputs that made the server answer 500, and that each now gets a 4xx with a
clear message and changes nothing (run on PostgreSQL, which cannot store a NUL character).

Dates out of Python's range (a session at 9999-12-31 23:00 for 600 minutes, report ranges to
9999-12-31 or from 0001-01-01), a session accepted at 9999-12-31 22:00 whose page then failed,
`late_after_minutes=2**40`, deeply nested JSON and `1e400` in JSON bodies, and NUL characters in
notes.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student

pytestmark = pytest.mark.django_db

OUT_OF_RANGE = "Dates must be in the years 2000 to 2100, not {year}."
BAD_RECORD = "Send JSON with student_id, status and an optional note."
TOO_DEEP = "JSON parse error - the JSON is nested too deeply."
DEPTH = 100_000


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_json(client: Client, path: str, body: str, method: str = "post") -> Any:
    return getattr(client, method)(path, body, content_type="application/json")


def session_rows() -> list[tuple[Any, ...]]:
    return list(ClassSession.objects.order_by("pk").values_list())


def record_rows() -> tuple[list[tuple[Any, ...]], int]:
    return list(AttendanceRecord.objects.order_by("pk").values_list()), AttendanceChange.objects.count()


# --- Dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize("repeat", [False, True], ids=["one session", "weekly series"])
def test_a_session_at_the_end_of_year_9999_is_refused_on_the_course_page(
    teacher: User, course: Course, repeat: bool
) -> None:
    form: dict[str, str | list[str]] = {
        "first_date": "9999-12-31",
        "start_time": "23:00",
        "duration_minutes": "600",
        "late_after_minutes": "10",
    }
    if repeat:
        form |= {"repeat_weekly": "on", "last_date": "9999-12-31", "weekdays": ["4"]}

    response = logged_in(teacher).post(f"/courses/{course.pk}/", form)

    assert response.status_code == 400
    assert OUT_OF_RANGE.format(year=9999) in response.content.decode()
    assert not ClassSession.objects.exists()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("to=9999-12-31", f"'to': {OUT_OF_RANGE.format(year=9999)}"),
        ("from=0001-01-01", f"'from': {OUT_OF_RANGE.format(year=1)}"),
        ("from=%00", "'from' must be a date like 2025-01-31, not '\\x00'."),
    ],
)
@pytest.mark.parametrize("export", ["", "&format=csv", "&format=xlsx"], ids=["page", "csv", "xlsx"])
def test_a_course_report_over_extreme_dates_is_refused(
    teacher: User, course: Course, open_session: ClassSession, query: str, message: str, export: str
) -> None:
    response = logged_in(teacher).get(f"/reports/courses/{course.pk}/?{query}{export}")

    assert response.status_code == 400
    assert response.content.decode() == message


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("date_to=9999-12-31", {"date_to": [OUT_OF_RANGE.format(year=9999)]}),
        ("date_from=0001-01-01", {"date_from": [OUT_OF_RANGE.format(year=1)]}),
    ],
)
def test_a_course_report_over_extreme_dates_is_refused_by_the_api(
    teacher: User, course: Course, query: str, errors: dict[str, Any]
) -> None:
    response = logged_in(teacher).get(f"/api/reports/courses/{course.pk}/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


@pytest.mark.parametrize(
    "path",
    [
        "/reports/students/{pk}/",
        "/reports/students/{pk}/?format=csv",
        "/reports/students/{pk}/?format=xlsx",
        "/api/reports/students/{pk}/",
    ],
)
def test_a_student_enrolled_from_the_first_to_the_last_date_python_knows_has_a_report(
    teacher: User, course: Course, student: Student, open_session: ClassSession, path: str
) -> None:
    # Enrolment dates come from the admin and the roster import: "until 9999-12-31" means for good.
    Enrollment.objects.filter(student=student).update(start_date=datetime.date.min, end_date=datetime.date.max)

    response: Any = logged_in(teacher).get(path.format(pk=student.pk))

    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body


def test_an_api_session_at_the_end_of_year_9999_is_refused(teacher: User, course: Course) -> None:
    client = logged_in(teacher)
    upcoming = ClassSession.objects.create(
        course=course,
        starts_at=timezone.now() + datetime.timedelta(days=1),
        ends_at=timezone.now() + datetime.timedelta(days=1, hours=1),
    )
    before = session_rows()
    far = {"starts_at": "9999-12-31T22:00:00Z", "ends_at": "9999-12-31T23:00:00Z"}

    created = post_json(client, "/api/sessions/", json.dumps({"course": course.pk, **far}))
    moved = post_json(client, f"/api/sessions/{upcoming.pk}/", json.dumps(far), method="patch")

    for response in (created, moved):
        assert response.status_code == 400
        assert response.json() == {
            "starts_at": [OUT_OF_RANGE.format(year=9999)],
            "ends_at": [OUT_OF_RANGE.format(year=9999)],
        }
    assert session_rows() == before


def admin_session_form(course: Course, starts: str, ends: str, late: str = "10") -> dict[str, str]:
    return {
        "course": str(course.pk),
        "starts_at_0": starts[:10],
        "starts_at_1": starts[11:],
        "ends_at_0": ends[:10],
        "ends_at_1": ends[11:],
        "late_after_minutes": late,
        "time_changes-TOTAL_FORMS": "0",
        "time_changes-INITIAL_FORMS": "0",
    }


def test_the_admin_refuses_a_session_at_the_end_of_year_9999(admin_client: Client, course: Course) -> None:
    response = admin_client.post(
        reverse("admin:attendance_classsession_add"),
        admin_session_form(course, "9999-12-31 22:00:00", "9999-12-31 23:00:00"),
    )

    assert response.status_code == 200
    assert OUT_OF_RANGE.format(year=9999) in response.content.decode()
    assert not ClassSession.objects.exists()


# --- Late minutes -----------------------------------------------------------------------------


def test_late_minutes_of_2_to_the_40_are_refused_everywhere(
    teacher: User, admin_client: Client, course: Course, open_session: ClassSession
) -> None:
    client = logged_in(teacher)
    before = session_rows()
    huge = 2**40
    times = {"starts_at": "2030-03-04T09:00:00Z", "ends_at": "2030-03-04T10:30:00Z"}

    created = post_json(
        client, "/api/sessions/", json.dumps({"course": course.pk, **times, "late_after_minutes": huge})
    )
    patched = post_json(client, f"/api/sessions/{open_session.pk}/", json.dumps({"late_after_minutes": huge}), "patch")
    page = client.post(
        f"/courses/{course.pk}/",
        {"first_date": "2030-03-04", "start_time": "09:00", "duration_minutes": "90", "late_after_minutes": str(huge)},
    )
    admin = admin_client.post(
        reverse("admin:attendance_classsession_add"),
        admin_session_form(course, "2030-03-04 09:00:00", "2030-03-04 10:30:00", late=str(huge)),
    )

    for response in (created, patched):
        assert response.status_code == 400
        assert response.json() == {"late_after_minutes": ["Ensure this value is less than or equal to 1440."]}
    assert page.status_code == 400
    assert "Ensure this value is less than or equal to 600." in page.content.decode()
    assert admin.status_code == 200
    assert "Ensure this value is less than or equal to 1440." in admin.content.decode()
    assert session_rows() == before
    open_session.late_after_minutes = huge
    with pytest.raises(ValidationError, match="less than or equal to 1440"):
        open_session.full_clean()


# --- JSON bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * DEPTH + "]" * DEPTH,
        '{"a":' * DEPTH + "0" + "}" * DEPTH,
        '{"student_id": ' + "[" * DEPTH + "]" * DEPTH + ', "status": "present"}',
        '{"student_id": 1e400, "status": "present"}',
        '{"student_id": -1e400, "status": "present"}',
        '{"student_id": NaN, "status": "present"}',
        '{"student_id": STUDENT, "status": ["present"]}',
        '{"student_id": STUDENT, "status": "present", "note": {"a": [1]}}',
        '"present"',
        "5",
        "[]",
    ],
    ids=[
        "nested arrays",
        "nested objects",
        "nested value",
        "1e400",
        "-1e400",
        "NaN",
        "a list for the status",
        "an object for the note",
        "a string",
        "a number",
        "an empty list",
    ],
)
def test_a_correction_on_the_page_that_is_not_a_plain_json_object_is_refused(
    teacher: User, open_session: ClassSession, student: Student, body: str
) -> None:
    before = record_rows()

    response = post_json(
        logged_in(teacher), f"/sessions/{open_session.pk}/records/", body.replace("STUDENT", str(student.pk))
    )

    assert response.status_code == 400
    assert response.json() == {"error": BAD_RECORD}
    assert record_rows() == before


@pytest.mark.parametrize("path", ["/api/records/", "/api/sessions/", "/api/courses/", "/api/students/"])
@pytest.mark.parametrize("array", [True, False], ids=["arrays", "objects"])
def test_deeply_nested_json_at_the_api_is_refused(
    admin_user: User, open_session: ClassSession, path: str, array: bool
) -> None:
    """Every API view parses JSON with the project's parser (REST_FRAMEWORK's default)."""
    body = "[" * DEPTH + "]" * DEPTH if array else '{"a":' * DEPTH + "0" + "}" * DEPTH
    sessions, records = session_rows(), record_rows()

    response = post_json(logged_in(admin_user), path, body)

    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}
    assert (session_rows(), record_rows()) == (sessions, records)


def test_1e400_at_the_api_is_refused(teacher: User, open_session: ClassSession, student: Student) -> None:
    before = record_rows()

    response = post_json(
        logged_in(teacher), "/api/records/", f'{{"session": 1e400, "student": {student.pk}, "status": "present"}}'
    )

    assert response.status_code == 400
    assert response.json() == {"session": ["A valid integer is required."]}
    assert record_rows() == before


# --- NUL characters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("note", "page_error", "api_error"),
    [
        ("Bus\x00", "Note: Null characters are not allowed.", "Null characters are not allowed."),
        # JSON spells it \ud800; no database encoding can store it.
        ("Bus\ud800", "Note: Surrogate characters are not allowed.", "Surrogate characters are not allowed: U+D800."),
    ],
    ids=["NUL", "lone surrogate"],
)
def test_a_character_postgresql_cannot_store_in_a_note_is_refused_on_the_page_and_the_api(
    teacher: User, open_session: ClassSession, student: Student, note: str, page_error: str, api_error: str
) -> None:
    client = logged_in(teacher)
    before = record_rows()

    page = post_json(
        client,
        f"/sessions/{open_session.pk}/records/",
        json.dumps({"student_id": student.pk, "status": "late", "note": note}),
    )
    api = post_json(
        client,
        "/api/records/",
        json.dumps({"session": open_session.pk, "student": student.pk, "status": "late", "note": note}),
    )

    assert page.status_code == 400
    assert page.json() == {"error": page_error}
    assert api.status_code == 400
    assert api.json() == {"note": [api_error]}
    assert record_rows() == before


def test_a_nul_character_in_a_note_is_refused_in_the_admin(
    admin_client: Client, open_session: ClassSession, student: Student
) -> None:
    record = AttendanceRecord.objects.create(session=open_session, student=student, status="present", source="face")
    before = record_rows()

    response = admin_client.post(
        reverse("admin:attendance_attendancerecord_change", args=[record.pk]), {"status": "late", "note": "Bus\x00"}
    )

    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert record_rows() == before


def test_a_long_note_on_the_page_is_refused_as_on_the_api(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    response = post_json(
        logged_in(teacher),
        f"/sessions/{open_session.pk}/records/",
        json.dumps({"student_id": student.pk, "status": "late", "note": "x" * 501}),
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Note: Ensure this value has at most 500 characters (it has 501)."}
    assert not AttendanceRecord.objects.exists()
