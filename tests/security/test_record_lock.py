"""Issue 9, finding 3: the attacks on the record lock, and that each of them now fails.

A teacher moved a 30-day-old session's start to now through the API, changed its records and
moved it back, leaving no trace; reopening a locked session (API, page, admin) let face sightings
change its absent records. Now a teacher cannot change a locked session nor move one into the
locked past, nobody reopens one, no sighting changes one, and every change of a session's times is
in the audit trail (`SessionChange`).
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, SessionChange
from attendance.services import Sighting, attendance_record_sighting, attendance_set_status
from config.web import ApplicationError
from students.models import Student
from tests.students.builders import staff_with_model_permissions

pytestmark = pytest.mark.django_db

LOCKED_CHANGE = "This session started more than 14 days ago: it is locked and cannot be changed; ask an administrator."
LOCKED_OPEN = (
    "This session started more than 14 days ago: it is locked and cannot be opened. "
    "Correct its records one by one instead."
)
INTO_THE_PAST = "A session cannot be moved to start more than 14 days ago; ask an administrator."
LOCKED_RECORDS = "Records of sessions older than 14 days are locked; ask an administrator."


@pytest.fixture(autouse=True)
def lock_days(settings: Settings) -> None:
    settings.ATTENDANCE_LOCK_DAYS = 14


@pytest.fixture
def staff(db: None) -> User:
    return staff_with_model_permissions("staff", "attendance")


def session_days_ago(course: Course, days: float, *, state: str = ClassSession.State.CLOSED) -> ClassSession:
    starts_at = timezone.now() - datetime.timedelta(days=days)
    return ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=90), state=state
    )


@pytest.fixture
def locked(course: Course, student: Student) -> ClassSession:
    """A session held 30 days ago; the student was never seen and was marked absent on closing."""
    session = session_days_ago(course, 30)
    AttendanceRecord.objects.create(session=session, student=student, status="absent", source="system")
    AttendanceChange.objects.create(session=session, student=student, new_status="absent", source="system")
    return session


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def times(session: ClassSession) -> tuple[datetime.datetime, datetime.datetime, int, str]:
    session.refresh_from_db()
    return session.starts_at, session.ends_at, session.late_after_minutes, session.state


def audit(session: ClassSession) -> list[tuple[Any, ...]]:
    return list(
        SessionChange.objects.filter(session=session)
        .order_by("pk")
        .values_list("old_starts_at", "old_ends_at", "new_starts_at", "new_ends_at", "changed_by__username")
    )


def records(session: ClassSession) -> list[tuple[Any, ...]]:
    return list(AttendanceRecord.objects.filter(session=session).values_list("student", "status", "source"))


# --- Moving a locked session ------------------------------------------------------------------


def test_a_teacher_cannot_move_a_locked_session_to_now_through_the_api(
    teacher: User, course: Course, locked: ClassSession, student: Student
) -> None:
    before = times(locked)
    now = timezone.now()
    client = logged_in(teacher)
    moved = {"starts_at": now.isoformat(), "ends_at": (now + datetime.timedelta(hours=1)).isoformat()}

    patched = send(client, "patch", f"/api/sessions/{locked.pk}/", moved)
    put = send(client, "put", f"/api/sessions/{locked.pk}/", {"course": course.pk, **moved})

    for response in (patched, put):
        assert response.status_code == 400
        assert response.json() == {"detail": LOCKED_CHANGE}
    assert times(locked) == before
    assert audit(locked) == []
    # So its records stay locked for the teacher.
    refused = send(client, "post", "/api/records/", {"session": locked.pk, "student": student.pk, "status": "present"})
    assert refused.json() == {"detail": LOCKED_RECORDS}
    assert records(locked) == [(student.pk, "absent", "system")]


def test_a_teacher_cannot_change_anything_else_of_a_locked_session_either(teacher: User, locked: ClassSession) -> None:
    before = times(locked)

    response = send(logged_in(teacher), "patch", f"/api/sessions/{locked.pk}/", {"late_after_minutes": 60})

    assert response.status_code == 400
    assert response.json() == {"detail": LOCKED_CHANGE}
    assert times(locked) == before


def test_moving_a_session_out_of_its_lock_window_and_back_is_refused(
    teacher: User, course: Course, settings: Settings
) -> None:
    """The slide: move a session about to lock forward, change its records, then move it back."""
    session = session_days_ago(course, 13.9)
    original = session.starts_at
    client = logged_in(teacher)
    later, later_end = timezone.now(), timezone.now() + datetime.timedelta(minutes=90)

    forward = send(
        client,
        "patch",
        f"/api/sessions/{session.pk}/",
        {"starts_at": later.isoformat(), "ends_at": later_end.isoformat()},
    )
    assert forward.status_code == 200
    # A few hours later the original start is past the lock (here: the lock comes a day sooner).
    settings.ATTENDANCE_LOCK_DAYS = 13
    back = send(
        client,
        "patch",
        f"/api/sessions/{session.pk}/",
        {"starts_at": original.isoformat(), "ends_at": (original + datetime.timedelta(minutes=90)).isoformat()},
    )

    assert back.status_code == 400
    assert back.json() == {"detail": INTO_THE_PAST.replace("14", "13")}
    session.refresh_from_db()
    assert (session.starts_at, session.ends_at) == (later, later_end)
    # The move that was allowed is in the audit trail, with its author.
    assert audit(session) == [(original, original + datetime.timedelta(minutes=90), later, later_end, "teacher")]


def test_a_teacher_cannot_move_an_upcoming_session_into_the_locked_past(teacher: User, course: Course) -> None:
    upcoming = session_days_ago(course, -1, state=ClassSession.State.SCHEDULED)
    before = times(upcoming)
    month_ago = timezone.now() - datetime.timedelta(days=30)

    response = send(
        logged_in(teacher),
        "patch",
        f"/api/sessions/{upcoming.pk}/",
        {"starts_at": month_ago.isoformat(), "ends_at": (month_ago + datetime.timedelta(hours=1)).isoformat()},
    )

    assert response.status_code == 400
    assert response.json() == {"detail": INTO_THE_PAST}
    assert times(upcoming) == before
    assert audit(upcoming) == []


def test_a_session_cannot_be_moved_to_another_course(teacher: User, course: Course) -> None:
    upcoming = session_days_ago(course, -1, state=ClassSession.State.SCHEDULED)
    other = Course.objects.create(code="CS102", name="Computing 2")
    other.teachers.add(teacher)

    response = send(logged_in(teacher), "patch", f"/api/sessions/{upcoming.pk}/", {"course": other.pk})

    assert response.status_code == 400
    assert response.json() == {"course": ["A session cannot be moved to another course."]}
    upcoming.refresh_from_db()
    assert upcoming.course == course


def test_a_record_change_reads_the_lock_from_the_database_not_from_a_stale_copy(
    teacher: User, course: Course, student: Student
) -> None:
    session = session_days_ago(course, 1)
    stale = ClassSession.objects.get(pk=session.pk)
    ClassSession.objects.filter(pk=session.pk).update(starts_at=timezone.now() - datetime.timedelta(days=30))

    with pytest.raises(ApplicationError, match="locked"):
        attendance_set_status(session=stale, student=student, status="present", changed_by=teacher)

    assert records(session) == []


# --- Staff, and the audit trail ----------------------------------------------------------------


def test_a_teachers_time_edit_of_an_upcoming_session_is_audited(teacher: User, course: Course) -> None:
    upcoming = session_days_ago(course, -2, state=ClassSession.State.SCHEDULED)
    old_starts, old_ends = upcoming.starts_at, upcoming.ends_at
    new_starts = old_starts + datetime.timedelta(hours=2)
    new_ends = new_starts + datetime.timedelta(minutes=45)
    client = logged_in(teacher)

    response = send(
        client,
        "patch",
        f"/api/sessions/{upcoming.pk}/",
        {"starts_at": new_starts.isoformat(), "ends_at": new_ends.isoformat()},
    )
    only_minutes = send(client, "patch", f"/api/sessions/{upcoming.pk}/", {"late_after_minutes": 5})

    assert response.status_code == 200
    assert (response.json()["starts_at"], response.json()["ends_at"]) == (
        new_starts.isoformat().replace("+00:00", "Z"),
        new_ends.isoformat().replace("+00:00", "Z"),
    )
    assert only_minutes.status_code == 200
    assert times(upcoming) == (new_starts, new_ends, 5, "scheduled")
    # One row, for the change of times; the late minutes are not times.
    assert audit(upcoming) == [(old_starts, old_ends, new_starts, new_ends, "teacher")]
    change = SessionChange.objects.get()
    assert timezone.now() - change.created_at < datetime.timedelta(minutes=1)


def test_staff_may_still_move_a_locked_session_and_it_is_audited(staff: User, locked: ClassSession) -> None:
    old_starts, old_ends = locked.starts_at, locked.ends_at
    new_starts = old_starts - datetime.timedelta(hours=1)

    response = send(logged_in(staff), "patch", f"/api/sessions/{locked.pk}/", {"starts_at": new_starts.isoformat()})

    assert response.status_code == 200
    assert audit(locked) == [(old_starts, old_ends, new_starts, old_ends, "staff")]


def test_a_time_change_in_the_admin_is_audited_and_the_trail_is_read_only(
    admin_client: Client, locked: ClassSession
) -> None:
    old_starts, old_ends = locked.starts_at, locked.ends_at
    local = timezone.localtime(old_starts) - datetime.timedelta(hours=1)
    change_url = reverse("admin:attendance_classsession_change", args=[locked.pk])

    response = admin_client.post(
        change_url,
        {
            "starts_at_0": local.strftime("%Y-%m-%d"),
            "starts_at_1": local.strftime("%H:%M:%S"),
            "ends_at_0": timezone.localtime(old_ends).strftime("%Y-%m-%d"),
            "ends_at_1": timezone.localtime(old_ends).strftime("%H:%M:%S"),
            "late_after_minutes": "10",
            "time_changes-TOTAL_FORMS": "0",
            "time_changes-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    [row] = audit(locked)
    assert row[:2] == (old_starts, old_ends)
    assert row[2] == local.replace(microsecond=0)
    assert row[4] == "admin"
    # Shown on the session's page and in its own list; nobody adds, changes or deletes a row.
    entry = SessionChange.objects.get()
    assert "Changes of times" in admin_client.get(change_url).content.decode()
    assert admin_client.get(reverse("admin:attendance_sessionchange_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:attendance_sessionchange_add")).status_code == 403
    entry_url = reverse("admin:attendance_sessionchange_change", args=[entry.pk])
    assert admin_client.post(entry_url, {"new_starts_at": "2030-01-01 09:00"}).status_code == 403
    delete_url = reverse("admin:attendance_sessionchange_delete", args=[entry.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert SessionChange.objects.filter(pk=entry.pk).exists()


# --- Reopening ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["teacher", "staff"])
def test_nobody_reopens_a_locked_session_through_the_api(
    who: str, teacher: User, staff: User, locked: ClassSession
) -> None:
    user = {"teacher": teacher, "staff": staff}[who]

    response = logged_in(user).post(f"/api/sessions/{locked.pk}/open/")

    assert response.status_code == 400
    assert response.json() == {"detail": LOCKED_OPEN}
    assert times(locked)[3] == "closed"


def test_the_session_page_does_not_offer_to_reopen_and_refuses_to(teacher: User, locked: ClassSession) -> None:
    client = logged_in(teacher)

    page = client.get(f"/sessions/{locked.pk}/").content.decode()
    response = client.post(f"/sessions/{locked.pk}/state/", {"action": "open"})

    assert 'id="open-session"' not in page
    assert "Locked: this session started more than 14 days ago and cannot be opened." in page
    assert response.status_code == 400
    assert response.content.decode() == LOCKED_OPEN
    assert times(locked)[3] == "closed"


def test_the_admin_action_does_not_reopen_a_locked_session(admin_client: Client, locked: ClassSession) -> None:
    response = admin_client.post(
        reverse("admin:attendance_classsession_changelist"),
        {"action": "open_sessions", "_selected_action": [locked.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert LOCKED_OPEN in page
    assert "0 session(s) opened." in page
    assert times(locked)[3] == "closed"


# --- Sightings ---------------------------------------------------------------------------------


def test_a_sighting_never_changes_a_locked_session_even_if_it_is_open(
    locked: ClassSession, student: Student, course: Course
) -> None:
    # Opened by other means: left open, or reopened before the rule existed.
    ClassSession.objects.filter(pk=locked.pk).update(state=ClassSession.State.OPEN)
    newcomer = Student.objects.create(student_number="S002", first_name="Grace", last_name="Hopper")
    course.enrollments.create(student=newcomer, start_date=datetime.date(2020, 1, 1))
    changes_before = AttendanceChange.objects.count()

    for someone in (student, newcomer):
        answer = attendance_record_sighting(
            session_id=locked.pk,
            sighting=Sighting(student_id=someone.pk, distance=0.5, seen_at=locked.starts_at),
        )
        assert answer is None

    assert records(locked) == [(student.pk, "absent", "system")]
    assert AttendanceChange.objects.count() == changes_before
