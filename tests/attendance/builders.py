"""Small builders the attendance, consent and browser tests share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.services import Sighting, attendance_record_sighting
from students.models import Student


def open_session_with(*, teachers: Iterable[User], students: Iterable[Student], code: str) -> ClassSession:
    """A course taught by `teachers` with `students` enrolled, and its session open now."""
    course = Course.objects.create(code=code, name=f"{code} class")
    course.teachers.add(*teachers)
    for student in students:
        enrol(course, student)
    return session_open_now(course)


def enrol(course: Course, student: Student) -> Student:
    """The student enrolled in the course since 2020, before any session of the tests."""
    Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
    return student


def session_open_now(course: Course) -> ClassSession:
    """A session of the course that started 5 minutes ago and is open."""
    now = timezone.now()
    return ClassSession.objects.create(
        course=course,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(minutes=85),
        state=ClassSession.State.OPEN,
    )


def seen(
    session: ClassSession, student: Student, *, minutes: float, distance: float = 0.7, source: str = "face"
) -> AttendanceRecord | None:
    """The camera confirms the student `minutes` after the session started: their face, or their
    check-in card (`source` "card", no distance)."""
    at = session.starts_at + datetime.timedelta(minutes=minutes)
    sighting = Sighting(
        student_id=student.pk, distance=None if source == "card" else distance, seen_at=at, source=source
    )
    return attendance_record_sighting(session_id=session.pk, sighting=sighting)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
