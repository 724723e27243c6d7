"""The teacher pages: home, course, live session page, opening/closing and corrections."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course
from students.models import Student
from tests.attendance.builders import logged_in

pytestmark = pytest.mark.django_db


def session_config(html: str) -> dict[str, Any]:
    """The JSON the session page hands to its script (`json_script`)."""
    start = html.index('<script id="session-config" type="application/json">') + len(
        '<script id="session-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def opening_tag(html: str, element_id: str) -> str:
    match = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html)
    assert match, f"no element #{element_id}"
    return match.group(0)


def record_post(client: Client, session: ClassSession, body: object) -> Any:
    return client.post(
        f"/sessions/{session.pk}/records/",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
    )


# --- Pages for each person ---------------------------------------------------------------


def test_home_lists_the_teachers_courses_and_open_sessions(teacher: User, open_session: ClassSession) -> None:
    response = logged_in(teacher).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "My courses" in html
    assert "Take attendance: CS101 Computing" in html
    assert f'href="/sessions/{open_session.pk}/"' in html
    assert f'href="/courses/{open_session.course_id}/"' in html
    assert "Tess Teacher" in html


def test_home_of_another_teacher_shows_none_of_it(other_teacher: User, open_session: ClassSession) -> None:
    response = logged_in(other_teacher).get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "CS101" not in html
    assert "You do not teach any course yet." in html


def test_staff_see_all_courses(staff: User, open_session: ClassSession) -> None:
    response = logged_in(staff).get("/")

    html = response.content.decode()
    assert "All courses" in html
    assert "Take attendance: CS101 Computing" in html


def test_course_page_lists_its_sessions_and_starts_new_ones(teacher: User, open_session: ClassSession) -> None:
    response = logged_in(teacher).get(f"/courses/{open_session.course_id}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "CS101 Computing" in html
    assert "Start a session now" in html
    assert f'href="/sessions/{open_session.pk}/"' in html


def test_session_page_has_the_roster_and_the_camera_button(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    response = logged_in(teacher).get(f"/sessions/{open_session.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "disabled" not in opening_tag(html, "camera-toggle")
    assert "End session" in html
    config = session_config(html)
    assert config["websocketPath"] == f"/ws/sessions/{open_session.pk}/"
    assert config["recordUrl"] == f"/sessions/{open_session.pk}/records/"
    assert config["roster"]["type"] == "roster"
    assert config["roster"]["session"]["state"] == "open"
    assert config["roster"]["students"] == [
        {
            "student_id": student.pk,
            "name": "Ada Lovelace",
            "student_number": "S001",
            "has_photo": False,
            "consented": True,
            "photo_url": None,
            "status": None,
            "first_seen": None,
            "last_seen": None,
            "source": None,
            "note": "",
            "changed_by": None,
        }
    ]


def test_session_page_of_a_closed_session_disables_the_camera(teacher: User, open_session: ClassSession) -> None:
    open_session.state = ClassSession.State.CLOSED
    open_session.save()

    html = logged_in(teacher).get(f"/sessions/{open_session.pk}/").content.decode()

    assert "disabled" in opening_tag(html, "camera-toggle")
    assert "Open the session to use the camera." in html
    assert "Reopen session" in html


def test_staff_may_open_any_session_page(staff: User, open_session: ClassSession) -> None:
    response = logged_in(staff).get(f"/sessions/{open_session.pk}/")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/courses/{course}/"),
        ("post", "/courses/{course}/sessions/start/"),
        ("get", "/sessions/{session}/"),
        ("post", "/sessions/{session}/state/"),
        ("post", "/sessions/{session}/records/"),
    ],
)
def test_another_teacher_gets_404(other_teacher: User, open_session: ClassSession, method: str, path: str) -> None:
    url = path.format(course=open_session.course_id, session=open_session.pk)

    client = logged_in(other_teacher)

    response = client.get(url) if method == "get" else client.post(url, {"action": "close"})

    assert response.status_code == 404
    open_session.refresh_from_db()
    assert open_session.state == "open"
    assert ClassSession.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),
        ("get", "/courses/{course}/"),
        ("post", "/courses/{course}/sessions/start/"),
        ("get", "/sessions/{session}/"),
        ("post", "/sessions/{session}/state/"),
        ("post", "/sessions/{session}/records/"),
    ],
)
def test_anonymous_visitors_are_sent_to_log_in(open_session: ClassSession, method: str, path: str) -> None:
    url = path.format(course=open_session.course_id, session=open_session.pk)

    client = Client()

    response = client.get(url) if method == "get" else client.post(url, {"action": "close"})

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"
    assert ClassSession.objects.count() == 1
    assert not AttendanceRecord.objects.exists()


def test_missing_session_is_404(teacher: User) -> None:
    assert logged_in(teacher).get("/sessions/999999/").status_code == 404


# --- Starting, closing and reopening sessions ---------------------------------------------


def test_starting_a_session_opens_it_and_shows_its_page(teacher: User, course: Course, settings: Any) -> None:
    settings.SESSION_DEFAULT_MINUTES = 45

    response = logged_in(teacher).post(f"/courses/{course.pk}/sessions/start/")

    session = ClassSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/"
    assert session.state == "open"
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=45)


def test_starting_a_session_needs_post(teacher: User, course: Course) -> None:
    response = logged_in(teacher).get(f"/courses/{course.pk}/sessions/start/")

    assert response.status_code == 405
    assert not ClassSession.objects.exists()


def test_closing_marks_the_unseen_absent_and_reopening_opens(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    client = logged_in(teacher)

    closed = client.post(f"/sessions/{open_session.pk}/state/", {"action": "close"})

    assert closed.status_code == 302
    assert closed["Location"] == f"/sessions/{open_session.pk}/"
    open_session.refresh_from_db()
    assert open_session.state == "closed"
    assert list(AttendanceRecord.objects.values_list("student", "status", "source")) == [
        (student.pk, "absent", "system")
    ]

    reopened = client.post(f"/sessions/{open_session.pk}/state/", {"action": "open"})

    assert reopened.status_code == 302
    open_session.refresh_from_db()
    assert open_session.state == "open"


def test_an_unknown_session_action_is_refused(teacher: User, open_session: ClassSession) -> None:
    response = logged_in(teacher).post(f"/sessions/{open_session.pk}/state/", {"action": "pause"})

    assert response.status_code == 400
    assert response.content.decode() == "Unknown action: use open or close."
    open_session.refresh_from_db()
    assert open_session.state == "open"


# --- Manual corrections -------------------------------------------------------------------


def test_a_teacher_sets_a_students_status(teacher: User, open_session: ClassSession, student: Student) -> None:
    response = record_post(
        logged_in(teacher), open_session, {"student_id": student.pk, "status": "excused", "note": "Doctor's note"}
    )

    assert response.status_code == 200
    assert response.json() | {"student_id": student.pk} == {
        "student_id": student.pk,
        "status": "excused",
        "source": "manual",
        "note": "Doctor's note",
        "changed_by": "Tess Teacher",
        "first_seen": None,
        "last_seen": None,
    }
    record = AttendanceRecord.objects.get()
    assert (record.status, record.source, record.changed_by, record.note) == (
        "excused",
        "manual",
        teacher,
        "Doctor's note",
    )
    change = AttendanceChange.objects.get()
    assert (change.old_status, change.new_status, change.source, change.changed_by) == (
        "",
        "excused",
        "manual",
        teacher,
    )


def test_a_correction_replaces_what_face_recognition_said(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    AttendanceRecord.objects.create(
        session=open_session, student=student, status="present", source="face", first_seen_at=timezone.now()
    )

    response = record_post(logged_in(teacher), open_session, {"student_id": student.pk, "status": "absent"})

    assert (response.json()["status"], response.json()["source"]) == ("absent", "manual")
    assert list(AttendanceChange.objects.values_list("old_status", "new_status")) == [("present", "absent")]


def test_a_note_may_be_null(teacher: User, open_session: ClassSession, student: Student) -> None:
    response = record_post(logged_in(teacher), open_session, {"student_id": student.pk, "status": "late", "note": None})

    assert response.status_code == 200
    assert AttendanceRecord.objects.get().note == ""


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "[1, 2]",
        "null",
        {"status": "present"},
        {"student_id": "Ada", "status": "present"},
        {"student_id": None, "status": "present"},
    ],
    ids=["not json", "empty", "a list", "null", "no student", "a name for an id", "no id"],
)
def test_a_correction_that_is_not_the_expected_json_is_refused(
    teacher: User, open_session: ClassSession, body: object
) -> None:
    response = record_post(logged_in(teacher), open_session, body)

    assert response.status_code == 400
    assert response.json() == {"error": "Send JSON with student_id, status and an optional note."}
    assert not AttendanceRecord.objects.exists()


def test_an_unknown_status_is_refused(teacher: User, open_session: ClassSession, student: Student) -> None:
    response = record_post(logged_in(teacher), open_session, {"student_id": student.pk, "status": "here"})

    assert response.status_code == 400
    assert response.json() == {"error": "Unknown status 'here'; use one of present, late, absent, excused."}
    assert not AttendanceRecord.objects.exists()


def test_a_student_not_enrolled_is_refused(teacher: User, open_session: ClassSession) -> None:
    stranger = Student.objects.create(student_number="X999", first_name="Not", last_name="Enrolled")

    for student_id in (stranger.pk, 999999):
        response = record_post(logged_in(teacher), open_session, {"student_id": student_id, "status": "present"})

        assert response.status_code == 400
        assert response.json() == {"error": "That student is not enrolled in this session's course."}
    assert not AttendanceRecord.objects.exists()


def test_corrections_need_post(teacher: User, open_session: ClassSession) -> None:
    response = logged_in(teacher).get(f"/sessions/{open_session.pk}/records/")

    assert response.status_code == 405
