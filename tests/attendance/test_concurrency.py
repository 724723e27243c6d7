"""Frames recognising the same student at the same moment, each in its own transaction against
PostgreSQL: one attendance record and one "created" row in the audit trail, whoever wins."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession
from attendance.services import Sighting, attendance_record_sighting, attendance_set_status
from students.models import Student
from tests.integration.processes import skip_or_fail

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
T = TypeVar("T")


@pytest.fixture(autouse=True)
def postgresql() -> None:
    if connection.vendor != "postgresql":
        # Skipped on a developer machine with SQLite; a failure in CI, which has PostgreSQL.
        skip_or_fail("row locks need PostgreSQL (DATABASE_URL)")


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in as many threads, released together; each thread closes its connection."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls, timeout=120))


def sighting(session: ClassSession, student: Student, seconds: int) -> Callable[[], AttendanceRecord | None]:
    at = session.starts_at + datetime.timedelta(minutes=1, seconds=seconds)
    return lambda: attendance_record_sighting(
        session_id=session.pk, sighting=Sighting(student_id=student.pk, distance=0.5 + seconds / 100, seen_at=at)
    )


def test_simultaneous_sightings_of_one_student_create_one_record(open_session: ClassSession, student: Student) -> None:
    results = all_at_once([sighting(open_session, student, seconds) for seconds in range(THREADS)])

    assert all(result is not None for result in results)
    assert len({result.pk for result in results if result is not None}) == 1
    record = AttendanceRecord.objects.get(session=open_session, student=student)
    assert (record.status, record.source) == ("present", "face")
    assert record.best_distance == pytest.approx(0.5)
    assert record.last_seen_at == open_session.starts_at + datetime.timedelta(minutes=1, seconds=THREADS - 1)
    assert list(AttendanceChange.objects.filter(session=open_session).values_list("old_status", "new_status")) == [
        ("", "present")
    ]


def test_a_teachers_mark_at_the_same_moment_as_sightings_is_kept(
    open_session: ClassSession, student: Student, teacher: User
) -> None:
    def mark() -> AttendanceRecord:
        return attendance_set_status(
            session=open_session, student=student, status="excused", changed_by=teacher, note="At the dentist"
        )

    calls: list[Callable[[], AttendanceRecord | None]] = [sighting(open_session, student, s) for s in range(8)]
    all_at_once([*calls[:4], mark, *calls[4:]])

    record = AttendanceRecord.objects.get(session=open_session, student=student)
    assert (record.status, record.source, record.changed_by) == ("excused", "manual", teacher)
    trail = list(AttendanceChange.objects.filter(session=open_session).values_list("old_status", "source"))
    assert [old for old, _ in trail].count("") == 1  # created once, by whichever came first
    assert trail.count(("", "manual")) + trail.count(("present", "manual")) == 1
