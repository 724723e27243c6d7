"""Times read the same everywhere: the school's time zone, 24 h (config/formats/en/formats.py)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from attendance.models import AttendanceRecord, ClassSession, Course
from students.models import Student

pytestmark = pytest.mark.django_db

# 13:30 UTC is 14:30 in Paris in December.
STARTS_AT = datetime.datetime(2026, 12, 1, 13, 30, tzinfo=datetime.UTC)


@pytest.fixture
def paris_session(settings: Any, course: Course, student: Student) -> ClassSession:
    settings.TIME_ZONE = "Europe/Paris"
    session = ClassSession.objects.create(
        course=course, starts_at=STARTS_AT, ends_at=STARTS_AT + datetime.timedelta(minutes=90), state="closed"
    )
    AttendanceRecord.objects.create(session=session, student=student, status="absent", source="system")
    return session


def test_the_teacher_pages_show_the_schools_24_hour_times(teacher: User, paris_session: ClassSession) -> None:
    client = Client()
    client.force_login(teacher)

    session_page = client.get(f"/sessions/{paris_session.pk}/").content.decode()
    course_page = client.get(f"/courses/{paris_session.course_id}/").content.decode()

    assert "14:30\u201316:00" in session_page
    assert '"timeZone": "Europe/Paris"' in session_page
    assert "14:30" in course_page
    for html in (session_page, course_page):
        assert "p.m." not in html and "PM" not in html


def test_the_admin_shows_the_schools_24_hour_times(paris_session: ClassSession) -> None:
    admin = User.objects.create_superuser("admin", password="admin-pass-123")
    client = Client()
    client.force_login(admin)

    records = client.get("/admin/attendance/attendancerecord/").content.decode()
    session = client.get(f"/admin/attendance/classsession/{paris_session.pk}/change/").content.decode()

    assert "CS101 2026-12-01 14:30" in records
    assert 'value="14:30:00"' in session or 'value="14:30"' in session
    assert "p.m." not in records and "p.m." not in session
