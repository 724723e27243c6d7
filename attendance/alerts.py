"""Attendance alerts: which students' attendance in a course needs a word home, and the emails.

A student currently enrolled in a course (and active) is *in alert* there when either holds:

- their attendance rate over the course's closed sessions, as the course report computes it
  (`attendance.reports.CourseReport`, `Tally.flagged`), is under ATTENDANCE_RATE_WARNING, once
  at least ATTENDANCE_ALERT_MIN_SESSIONS sessions count for them;
- they were absent from the last ATTENDANCE_ALERT_CONSECUTIVE_ABSENCES closed sessions held while
  they were enrolled (an excused session is not an absence: it ends the run).

`alerts_run` (Celery beat, attendance.tasks) opens an `AttendanceAlert` when a student enters
that state and emails every recipient at once, then a digest every ATTENDANCE_ALERT_DIGEST_DAYS
while it lasts, and ends the alert, without an email, once the state clears. Each email sent or
failed is an `AlertEmail` row. Emails say how often the student attended, never anything
biometric.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from attendance.models import AlertEmail, AttendanceAlert, AttendanceRecord, ClassSession, Course
from attendance.reports import CourseReport, Tally
from students.models import Student

logger = logging.getLogger(__name__)

Reason = AttendanceAlert.Reason
Kind = AlertEmail.Kind
ERROR_MAX_CHARS = AlertEmail._meta.get_field("error").max_length or 500
SUBJECT_MAX_CHARS = AlertEmail._meta.get_field("subject").max_length or 255


# --- Recipients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuardianEmails:
    valid: list[str]
    # "Line 2: 'ada@' is not a valid email address.", one per bad line.
    errors: list[str]


def guardian_emails_parse(text: str) -> GuardianEmails:
    """Student.guardian_emails, one address a line: the valid ones, and what is wrong with the others
    (blank lines are skipped). The admin refuses a text with errors; alerts skip the bad lines."""
    valid, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        address = line.strip()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            errors.append(f"Line {number}: {address!r} is not a valid email address.")
        else:
            valid.append(address)
    return GuardianEmails(valid=valid, errors=errors)


@dataclass(frozen=True)
class Recipient:
    email: str
    # Teachers' emails link to the student's report; a student or a guardian cannot open it.
    is_teacher: bool


def alert_recipients(*, course: Course, student: Student) -> list[Recipient]:
    """The course's active teachers with an email, then the student (if `alerts_to_student`) and
    the valid guardian addresses (if `alerts_to_guardians`); each address once, whatever its case."""
    teachers = User.objects.filter(courses_taught=course, is_active=True).exclude(email="").order_by("pk")
    candidates = [Recipient(email=email, is_teacher=True) for email in teachers.values_list("email", flat=True)]
    if student.alerts_to_student and student.email:
        candidates.append(Recipient(email=student.email, is_teacher=False))
    if student.alerts_to_guardians:
        candidates += [
            Recipient(email=email, is_teacher=False) for email in guardian_emails_parse(student.guardian_emails).valid
        ]
    seen: set[str] = set()
    recipients = []
    for recipient in candidates:
        key = recipient.email.casefold()
        if key not in seen:
            seen.add(key)
            recipients.append(recipient)
    return recipients


# --- Who is in alert ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertState:
    """A student in alert in a course: their tally over the course's closed sessions and the run of
    absences that ends with its last session (oldest first; empty if they attended it)."""

    course: Course
    student: Student
    reason: str
    tally: Tally
    absences: list[ClassSession]


def absence_run(*, sessions: list[ClassSession], cells: list[str | None]) -> list[ClassSession]:
    """The sessions of the absences in a row up to the last session that counted for the student
    (a `CourseReport` row's cells; None where they were not enrolled), oldest first."""
    run: list[ClassSession] = []
    for session, status in zip(reversed(sessions), reversed(cells), strict=True):
        if status is None:
            continue
        if status != AttendanceRecord.Status.ABSENT:
            break
        run.append(session)
    run.reverse()
    return run


def alert_reason(*, tally: Tally, absences: int) -> str | None:
    if tally.counted >= settings.ATTENDANCE_ALERT_MIN_SESSIONS and tally.flagged:
        return Reason.LOW_RATE
    if absences >= settings.ATTENDANCE_ALERT_CONSECUTIVE_ABSENCES:
        return Reason.ABSENCES
    return None


def students_in_alert(*, course: Course, today: datetime.date) -> Iterator[AlertState]:
    """The course's active students enrolled `today` who are in alert, from its course report."""
    report = CourseReport(course=course)
    for row in report.rows():
        if not (row.student.is_active and row.enrollment.in_force_on(today)):
            continue
        absences = absence_run(sessions=report.sessions, cells=row.cells)
        reason = alert_reason(tally=row.tally, absences=len(absences))
        if reason is not None:
            yield AlertState(course=course, student=row.student, reason=reason, tally=row.tally, absences=absences)


# --- Emails -------------------------------------------------------------------------------------


def alert_email_render(
    *, state: AlertState, alert: AttendanceAlert, kind: str, recipient: Recipient
) -> tuple[str, str]:
    """The subject and the plain-text body of an alert email, in the school's language."""
    context = {
        "school_name": settings.SCHOOL_NAME,
        "student_name": state.student.full_name,
        "course_code": state.course.code,
        "course_name": state.course.name,
        "low_rate": state.reason == Reason.LOW_RATE,
        "percent": state.tally.percent,
        "counted": state.tally.counted,
        "warning_percent": round(settings.ATTENDANCE_RATE_WARNING * 100, 1),
        "absences": [session.starts_at for session in state.absences],
        "started_at": alert.started_at,
        "digest_days": settings.ATTENDANCE_ALERT_DIGEST_DAYS,
        "report_url": (
            settings.SITE_URL + reverse("report-student", args=[state.student.pk]) if recipient.is_teacher else ""
        ),
    }
    name = "attendance_alert" if kind == Kind.FIRST else "attendance_digest"
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"emails/{name}_subject.txt", context)
        body = render_to_string(f"emails/{name}_body.txt", context)
    # A header is one line.
    return " ".join(subject.split())[:SUBJECT_MAX_CHARS], body


def alert_email_send(*, alert: AttendanceAlert, kind: str, recipient: str, subject: str, body: str) -> AlertEmail:
    """Send one email and log it, with the error if sending failed (which is not raised)."""
    error = ""
    try:
        mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient]).send()
    except Exception as exc:  # any backend's failure is logged and must not stop the others
        logger.warning("Attendance alert %s to %s not sent: %s", alert.pk, recipient, exc)
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
    return AlertEmail.objects.create(
        alert=alert, kind=kind, recipient=recipient, subject=subject, body=body, error=error
    )


# --- The periodic run ---------------------------------------------------------------------------


@dataclass
class AlertsRun:
    """What one `alerts_run` did."""

    opened: int = 0
    ended: int = 0
    sent: int = 0
    failed: int = 0


def _alert_notify(*, state: AlertState, now: datetime.datetime, run: AlertsRun) -> None:
    """Open the student's alert if none is, and email about it if it is due.

    Sending happens with the alert's row locked, so that two runs at once never email twice: the
    second waits, then finds the alert just sent (or, for a new alert, the unique open alert
    taken). An alert whose emails all failed is due again at the next run.
    """
    with transaction.atomic():
        alert = (
            AttendanceAlert.objects.select_for_update()
            .filter(course=state.course, student=state.student, ended_at__isnull=True)
            .first()
        )
        if alert is None:
            try:
                with transaction.atomic():
                    alert = AttendanceAlert.objects.create(
                        course=state.course, student=state.student, reason=state.reason
                    )
            except IntegrityError:
                return  # opened by a run at the same time, which emails about it
            run.opened += 1
        digest_every = datetime.timedelta(days=settings.ATTENDANCE_ALERT_DIGEST_DAYS)
        if alert.last_sent_at is not None and now - alert.last_sent_at < digest_every:
            return
        kind = Kind.FIRST if alert.last_sent_at is None else Kind.DIGEST
        sent = False
        for recipient in alert_recipients(course=state.course, student=state.student):
            subject, body = alert_email_render(state=state, alert=alert, kind=kind, recipient=recipient)
            email = alert_email_send(alert=alert, kind=kind, recipient=recipient.email, subject=subject, body=body)
            if email.error:
                run.failed += 1
            else:
                run.sent += 1
                sent = True
        if sent:
            alert.last_sent_at = now
            alert.save(update_fields=["last_sent_at"])


def alerts_run(*, now: datetime.datetime) -> AlertsRun:
    """Open, email about and end attendance alerts as of `now` (see the module's docstring).

    Running it again at once sends nothing: an alert is emailed about once when it opens, then at
    most every ATTENDANCE_ALERT_DIGEST_DAYS. Does nothing with ATTENDANCE_ALERTS_ENABLED off.
    """
    run = AlertsRun()
    if not settings.ATTENDANCE_ALERTS_ENABLED:
        return run
    today = timezone.localdate(now)
    in_alert: set[tuple[int, int]] = set()
    closed = ClassSession.objects.filter(state=ClassSession.State.CLOSED)
    courses = Course.objects.filter(pk__in=closed.values("course"))
    for course in courses:
        # Read before any email goes out: no cursor stays open while a mail server answers.
        for state in list(students_in_alert(course=course, today=today)):
            in_alert.add((course.pk, state.student.pk))
            _alert_notify(state=state, now=now, run=run)
    cleared = [
        pk
        for pk, course_id, student_id in AttendanceAlert.objects.filter(ended_at__isnull=True).values_list(
            "pk", "course_id", "student_id"
        )
        if (course_id, student_id) not in in_alert
    ]
    run.ended = AttendanceAlert.objects.filter(pk__in=cleared, ended_at__isnull=True).update(ended_at=now)
    return run
