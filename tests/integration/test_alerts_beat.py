"""Attendance alerts through real processes: `celery beat` queues the alert task in Redis every
2 seconds, a Celery worker runs it against PostgreSQL, and Django's file-based email backend
writes what was sent. Over several beat periods each recipient gets exactly one email."""

from __future__ import annotations

import datetime
import email
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from attendance.models import AlertEmail, AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student
from tests.integration.processes import RunningProcess

pytestmark = pytest.mark.integration

EVERY_SECONDS = 2
RECIPIENTS = ["teacher@school.test", "grace@pupils.test", "guardian@home.test"]
TASK_DONE = r"Task attendance\.tasks\.send_attendance_alerts\[[^\]]+\] succeeded"
# The file-based backend writes each message followed by a line of 79 dashes.
SEPARATOR = re.compile(r"^-{79}$", re.MULTILINE)


def sent_to(outbox: Path) -> list[str]:
    """Every recipient of every message the file-based backend wrote, once per message."""
    addresses = []
    for path in sorted(outbox.glob("*.log")):
        for text in SEPARATOR.split(path.read_text()):
            if text.strip():
                addresses.append(email.message_from_string(text.lstrip())["To"])
    return sorted(addresses)


def task_runs(worker: RunningProcess) -> int:
    return len(re.findall(TASK_DONE, worker.log_path.read_text(errors="replace")))


def wait_until(done: Callable[[], bool], worker: RunningProcess, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        worker.check_alive()
        assert time.monotonic() < deadline, f"Not within {timeout:.0f} s. The worker's log:\n{worker.log_tail()}"
        time.sleep(0.2)


def test_beat_and_a_worker_send_each_recipient_one_alert_email(
    transactional_db: None,
    celery_workers: Callable[..., RunningProcess],
    celery_beat: Callable[..., RunningProcess],
    tmp_path: Path,
) -> None:
    teacher = User.objects.create_user("alerts-teacher", email=RECIPIENTS[0])
    student = Student.objects.create(
        student_number="S200",
        first_name="Grace",
        last_name="Hopper",
        email=RECIPIENTS[1],
        guardian_emails=RECIPIENTS[2],
    )
    course = Course.objects.create(code="MA201", name="Mathematics")
    course.teachers.add(teacher)
    Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
    first = datetime.datetime(2026, 9, 7, 9, 0, tzinfo=datetime.UTC)
    for week in range(3):
        starts_at = first + datetime.timedelta(weeks=week)
        session = ClassSession.objects.create(
            course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(hours=1), state="closed"
        )
        AttendanceRecord.objects.create(session=session, student=student, status="absent", source="system")
    outbox = tmp_path / "outbox"
    email_env = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(outbox),
        "ATTENDANCE_ALERTS_EVERY_SECONDS": str(EVERY_SECONDS),
    }

    worker = celery_workers(**email_env)
    celery_beat(**email_env)

    # The first run opens the alert and emails; wait for it, then for the runs of two more beat periods.
    wait_until(lambda: AlertEmail.objects.count() >= len(RECIPIENTS), worker)
    runs = max(task_runs(worker), 1)
    wait_until(lambda: task_runs(worker) >= runs + 2, worker)

    assert sent_to(outbox) == sorted(RECIPIENTS)
    assert sorted(AlertEmail.objects.values_list("recipient", "kind", "error")) == sorted(
        (address, "first", "") for address in RECIPIENTS
    )
    assert "'opened': 0, 'ended': 0, 'sent': 0, 'failed': 0" in worker.log_tail()
