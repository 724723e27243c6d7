"""Small builders the attendance, consent and browser tests share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.utils import timezone

from attendance.models import ClassSession, Course, Enrollment
from students.models import Student


def open_session_with(*, teachers: Iterable[User], students: Iterable[Student], code: str) -> ClassSession:
    """A course taught by `teachers` with `students` enrolled, and its session open now."""
    course = Course.objects.create(code=code, name=f"{code} class")
    course.teachers.add(*teachers)
    for student in students:
        Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
    return session_open_now(course)


def session_open_now(course: Course) -> ClassSession:
    """A session of the course that started 5 minutes ago and is open."""
    now = timezone.now()
    return ClassSession.objects.create(
        course=course,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(minutes=85),
        state=ClassSession.State.OPEN,
    )
