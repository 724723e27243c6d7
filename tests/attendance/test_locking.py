"""Records of sessions older than ATTENDANCE_LOCK_DAYS are locked for teachers; staff still change them."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course
from attendance.services import attendance_set_status
from config.web import ApplicationError
from students.models import Student
from tests.students.builders import staff_with_model_permissions

pytestmark = pytest.mark.django_db

LOCKED = "Records of sessions older than 14 days are locked; ask an administrator."


@pytest.fixture
def staff(db: None) -> User:
    return staff_with_model_permissions("admin", "attendance")


def session_days_ago(course: Course, days: float) -> ClassSession:
    starts_at = timezone.now() - datetime.timedelta(days=days)
    return ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=90), state="closed"
    )


@pytest.fixture
def old_session(course: Course, student: Student) -> ClassSession:
    session = session_days_ago(course, 15)
    # As closing the session left it (the service itself would refuse: the session is locked).
    record = AttendanceRecord.objects.create(session=session, student=student, status="absent", source="system")
    AttendanceChange.objects.create(session=session, student=student, new_status=record.status, source=record.source)
    return session


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_post(user: User, session: ClassSession, student: Student, status: str) -> Any:
    return logged_in(user).post(
        f"/sessions/{session.pk}/records/",
        json.dumps({"student_id": student.pk, "status": status, "note": "Late bus"}),
        content_type="application/json",
    )


def api_post(user: User, session: ClassSession, student: Student, status: str) -> Any:
    return logged_in(user).post(
        "/api/records/",
        json.dumps({"session": session.pk, "student": student.pk, "status": status, "note": "Late bus"}),
        content_type="application/json",
    )


def record_status(session: ClassSession, student: Student) -> str:
    return AttendanceRecord.objects.get(session=session, student=student).status


@pytest.fixture(autouse=True)
def lock_days(settings: Any) -> None:
    settings.ATTENDANCE_LOCK_DAYS = 14


def test_a_teacher_cannot_change_an_old_session_on_the_page(
    teacher: User, old_session: ClassSession, student: Student
) -> None:
    response = page_post(teacher, old_session, student, "excused")

    assert response.status_code == 400
    assert response.json() == {"error": LOCKED}
    assert record_status(old_session, student) == "absent"
    assert AttendanceChange.objects.filter(session=old_session).count() == 1


def test_a_teacher_cannot_change_an_old_session_through_the_api(
    teacher: User, old_session: ClassSession, student: Student
) -> None:
    response = api_post(teacher, old_session, student, "excused")

    assert response.status_code == 400
    assert response.json() == {"detail": LOCKED}
    assert record_status(old_session, student) == "absent"
    assert AttendanceChange.objects.filter(session=old_session).count() == 1


@pytest.mark.parametrize("post", [page_post, api_post], ids=["page", "api"])
def test_staff_can_still_change_an_old_session(
    staff: User, old_session: ClassSession, student: Student, post: Any
) -> None:
    response = post(staff, old_session, student, "excused")

    assert response.status_code == 200
    assert record_status(old_session, student) == "excused"
    change = AttendanceChange.objects.filter(session=old_session).order_by("-pk").first()
    assert change is not None
    assert (change.old_status, change.new_status, change.changed_by, change.note) == (
        "absent",
        "excused",
        staff,
        "Late bus",
    )


@pytest.mark.parametrize("post", [page_post, api_post], ids=["page", "api"])
def test_a_recent_session_is_not_locked(teacher: User, course: Course, student: Student, post: Any) -> None:
    session = session_days_ago(course, 13.9)

    response = post(teacher, session, student, "late")

    assert response.status_code == 200
    assert record_status(session, student) == "late"


def test_the_number_of_days_is_a_setting(
    teacher: User, old_session: ClassSession, student: Student, settings: Any
) -> None:
    settings.ATTENDANCE_LOCK_DAYS = 30

    assert page_post(teacher, old_session, student, "excused").status_code == 200

    settings.ATTENDANCE_LOCK_DAYS = 7
    response = page_post(teacher, old_session, student, "present")
    assert response.json() == {"error": "Records of sessions older than 7 days are locked; ask an administrator."}
    assert record_status(old_session, student) == "excused"


def test_a_change_made_by_nobody_in_particular_is_locked_too(old_session: ClassSession, student: Student) -> None:
    with pytest.raises(ApplicationError, match="locked"):
        attendance_set_status(session=old_session, student=student, status="present", changed_by=None)

    assert record_status(old_session, student) == "absent"
