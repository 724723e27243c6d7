"""The live page's decisions: confirming a face, undoing a decision, marking everyone not seen yet,
and what the page is told about locked sessions and enrolled photos."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course
from attendance.services import attendance_confirm_face, attendance_set_status
from students.models import Student, StudentPhoto
from tests.attendance.builders import enrol, logged_in, seen
from tests.attendance.test_views import record_post, session_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def alan(course: Course) -> Student:
    return enrol(course, Student.objects.create(student_number="S002", first_name="Alan", last_name="Turing"))


def bulk_post(client: Client, session: ClassSession, body: object) -> Any:
    return client.post(f"/sessions/{session.pk}/records/unseen/", json.dumps(body), content_type="application/json")


def records(session: ClassSession) -> set[tuple[str, str, str]]:
    return set(
        AttendanceRecord.objects.filter(session=session).values_list("student__student_number", "status", "source")
    )


# --- Confirming a face the camera was unsure of -------------------------------------------


def test_confirming_a_face_marks_the_student_seen_now_as_confirmed_by_the_teacher(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    record = attendance_confirm_face(session=open_session, student=student, changed_by=teacher, note="Confirmed (0.97)")

    assert (record.status, record.source, record.note, record.changed_by) == (
        "present",
        "teacher",
        "Confirmed (0.97)",
        teacher,
    )
    assert record.first_seen_at is not None
    change = AttendanceChange.objects.get()
    assert (change.old_status, change.new_status, change.source, change.changed_by) == (
        "",
        "present",
        "teacher",
        teacher,
    )


def test_a_face_confirmed_after_the_late_time_is_late(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    open_session.starts_at = timezone.now() - datetime.timedelta(minutes=30)
    open_session.save()

    attendance_confirm_face(session=open_session, student=student, changed_by=teacher)

    assert records(open_session) == {("S001", "late", "teacher")}


def test_a_teachers_confirmation_is_not_overwritten_by_the_camera(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    attendance_confirm_face(session=open_session, student=student, changed_by=teacher)

    seen(open_session, student, minutes=40)

    assert records(open_session) == {("S001", "present", "teacher")}


# --- Undo: back to "not seen" -------------------------------------------------------------


def test_undo_takes_the_student_back_to_not_seen_and_the_camera_may_mark_them_again(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    attendance_set_status(session=open_session, student=student, status="absent", changed_by=teacher)

    response = record_post(
        logged_in(teacher), open_session, {"student_id": student.pk, "status": "unseen", "note": "Oops"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "student_id": student.pk,
        "status": None,
        "source": None,
        "note": "",
        "first_seen": None,
        "last_seen": None,
        "changed_by": None,
    }
    assert not AttendanceRecord.objects.exists()
    undo = AttendanceChange.objects.order_by("-pk").first()
    assert undo is not None
    assert (undo.old_status, undo.new_status, undo.changed_by, undo.note) == ("absent", "", teacher, "Oops")
    seen(open_session, student, minutes=1)
    assert records(open_session) == {("S001", "present", "face")}


def test_undo_of_a_locked_session_is_refused_for_a_teacher(teacher: User, course: Course, student: Student) -> None:
    starts_at = timezone.now() - datetime.timedelta(days=20)
    locked = ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1), state="closed"
    )
    AttendanceRecord.objects.create(session=locked, student=student, status="absent", source="system")

    response = record_post(logged_in(teacher), locked, {"student_id": student.pk, "status": "unseen"})

    assert response.status_code == 400
    assert "locked" in response.json()["error"]
    assert records(locked) == {("S001", "absent", "system")}


def test_a_correction_needs_a_status(teacher: User, open_session: ClassSession, student: Student) -> None:
    response = record_post(logged_in(teacher), open_session, {"student_id": student.pk, "note": "?"})

    assert response.status_code == 400
    assert not AttendanceRecord.objects.exists()


# --- Everyone not seen yet ----------------------------------------------------------------


def test_marking_everyone_not_seen_absent_is_provisional(
    teacher: User, open_session: ClassSession, student: Student, alan: Student
) -> None:
    seen(open_session, student, minutes=1)

    response = bulk_post(logged_in(teacher), open_session, {"status": "absent"})

    assert response.status_code == 200
    assert [(r["student_id"], r["status"], r["source"]) for r in response.json()["records"]] == [
        (alan.pk, "absent", "system")
    ]
    assert records(open_session) == {("S001", "present", "face"), ("S002", "absent", "system")}
    # Seen afterwards: the camera's mark replaces the provisional absence.
    seen(open_session, alan, minutes=2)
    assert records(open_session) == {("S001", "present", "face"), ("S002", "present", "face")}


@pytest.mark.parametrize("status", ["late", "excused", "present"])
def test_other_statuses_for_everyone_not_seen_are_decisions_by_hand(
    teacher: User, open_session: ClassSession, student: Student, alan: Student, status: str
) -> None:
    bulk_post(logged_in(teacher), open_session, {"status": status})

    assert records(open_session) == {("S001", status, "manual"), ("S002", status, "manual")}
    seen(open_session, alan, minutes=1)
    assert ("S002", status, "manual") in records(open_session)
    assert AttendanceRecord.objects.get(student=alan).last_seen_at is not None


@pytest.mark.parametrize("body", [{"status": "asleep"}, {}, {"status": ["absent"]}])
def test_a_bad_bulk_request_is_refused_and_changes_nothing(
    teacher: User, open_session: ClassSession, student: Student, body: object
) -> None:
    response = bulk_post(logged_in(teacher), open_session, body)

    assert response.status_code == 400
    assert response.json()["error"]
    assert not AttendanceRecord.objects.exists()


def test_another_teacher_cannot_mark_the_session(
    other_teacher: User, open_session: ClassSession, student: Student
) -> None:
    assert bulk_post(logged_in(other_teacher), open_session, {"status": "absent"}).status_code == 404
    assert not AttendanceRecord.objects.exists()


# --- What the page is told ----------------------------------------------------------------


def test_a_locked_session_page_tells_the_teacher_why_corrections_are_off(
    teacher: User, course: Course, student: Student
) -> None:
    starts_at = timezone.now() - datetime.timedelta(days=20)
    locked = ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1), state="closed"
    )
    staff = User.objects.create_user("admin", password="admin-pass-123", is_staff=True)

    teacher_config = session_config(logged_in(teacher).get(f"/sessions/{locked.pk}/").content.decode())
    staff_config = session_config(logged_in(staff).get(f"/sessions/{locked.pk}/").content.decode())

    assert teacher_config["lockedReason"].startswith("Locked: this session started more than 14 days ago")
    assert staff_config["lockedReason"] == ""


def test_the_roster_links_an_enrolled_photo_the_teacher_may_see(
    teacher: User, other_teacher: User, open_session: ClassSession, student: Student
) -> None:
    photo = StudentPhoto.objects.create(
        student=student,
        image="photos/ada.jpg",
        status=StudentPhoto.Status.READY,
        embedding=b"\0" * 2048,
        embedding_model="m",
    )

    config = session_config(logged_in(teacher).get(f"/sessions/{open_session.pk}/").content.decode())

    assert config["roster"]["students"][0]["photo_url"] == f"/students/photos/{photo.pk}/image/?size=thumb"
    assert logged_in(other_teacher).get(f"/students/photos/{photo.pk}/image/?size=thumb").status_code == 404


def test_times_on_the_live_page_are_the_schools(teacher: User, open_session: ClassSession, settings: Any) -> None:
    config = session_config(logged_in(teacher).get(f"/sessions/{open_session.pk}/").content.decode())

    assert config["timeZone"] == settings.TIME_ZONE


def test_a_cancelled_session_cannot_be_opened(teacher: User, course: Course) -> None:
    starts_at = timezone.now() + datetime.timedelta(days=1)
    cancelled = ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1), state="cancelled"
    )
    client = logged_in(teacher)

    page = client.get(f"/sessions/{cancelled.pk}/").content.decode()
    response = client.post(f"/sessions/{cancelled.pk}/state/", {"action": "open"})

    assert "This session was cancelled: it cannot be opened." in page
    assert 'id="open-session"' not in page
    assert response.status_code == 400
    assert "cancelled" in response.content.decode()
    cancelled.refresh_from_db()
    assert cancelled.state == "cancelled"


def test_a_card_check_in_reads_as_such_in_the_report_and_its_csv(
    teacher: User, open_session: ClassSession, student: Student
) -> None:
    seen(open_session, student, minutes=1, source="card")
    client = logged_in(teacher)

    page = client.get(f"/reports/sessions/{open_session.pk}/").content.decode()
    csv = client.get(f"/reports/sessions/{open_session.pk}/?format=csv").getvalue().decode()

    assert records(open_session) == {("S001", "present", "card")}
    assert "Check-in card" in page
    assert "Check-in card" in csv
