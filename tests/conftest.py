"""Fixtures shared by all tests: the people that matter to permissions, a course and its session."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from attendance.models import ClassSession, Course
from students.models import Student
from tests.attendance.builders import enrol, session_open_now

# --fuzz-full and the fuzz case counters (tests/fuzz/plugin.py).
pytest_plugins = ["tests.fuzz.plugin"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: pytest.FixtureRequest) -> None:
    # Real hashers take ~0.5 s per password on this machine; tests don't need the strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Every test writes photos to its own folder, so tests can assert on files on disk."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root  # type: ignore[attr-defined]
    return root


@pytest.fixture
def teacher(db: None) -> User:
    return User.objects.create_user("teacher", password="teacher-pass-123", first_name="Tess", last_name="Teacher")


@pytest.fixture
def other_teacher(db: None) -> User:
    return User.objects.create_user("other", password="other-pass-123", first_name="Otto", last_name="Other")


@pytest.fixture
def staff(db: None) -> User:
    """A staff member: sees every course and session."""
    return User.objects.create_user("admin", password="admin-pass-123", is_staff=True)


@pytest.fixture
def student(db: None) -> Student:
    return Student.objects.create(
        student_number="S001", first_name="Ada", last_name="Lovelace", consent_given_at=timezone.now()
    )


@pytest.fixture
def course(teacher: User, student: Student) -> Course:
    course = Course.objects.create(code="CS101", name="Computing")
    course.teachers.add(teacher)
    enrol(course, student)
    return course


@pytest.fixture
def open_session(course: Course) -> ClassSession:
    return session_open_now(course)
