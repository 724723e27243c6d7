"""Attendance reports: one session, one course over a date range, one student across courses.

Every page and export computes its numbers here, with these definitions:

- A session is *held* once it is open or closed; a scheduled or cancelled session never counts.
- An open session is still taking attendance, so its figures are provisional: the course and
  student reports leave it out of rates and totals unless asked to count it (``include_open``),
  and list it apart, so that what is shown always adds up to what is counted.
- A student *counts* in a session only if enrolled in its course on the session's local date
  (``Enrollment.start_date <= date`` and ``end_date`` empty or ``>= date``), as in
  ``attendance.selectors.session_students``. A record outside that window is ignored.
- A held session in which a counted student has no record counts as absent (so do the students
  of an open session who have not been seen yet).
- rate = (present + ATTENDANCE_LATE_WEIGHT * late) / (sessions counted - excused): excused
  sessions are left out of the total. With nothing left the rate is None, shown as a dash.
  ATTENDANCE_LATE_WEIGHT is 1.0 by default: a late arrival counts as attended.
- A student whose rate is under ATTENDANCE_RATE_WARNING (0.75 by default) is flagged.

The course report walks the course's enrollments and its records side by side, both with
``.iterator()`` in the same student order, so it holds one student's row at a time (plus the
list of sessions and their totals) and an export of a long, large course streams.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.selectors import session_students
from students.models import Student

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = AttendanceRecord.Status
State = ClassSession.State
HELD_STATES = (State.OPEN, State.CLOSED)
# The page, API and export switch that counts open sessions, and the values it takes.
INCLUDE_OPEN = "include_open"
SWITCH_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}
STUDENT_ORDER = ("last_name", "first_name", "student_number")


def attendance_rate(*, present: int, late: int, excused: int, counted: int, late_weight: float) -> float | None:
    """(present + late_weight * late) / (counted - excused), or None when that leaves nothing."""
    total = counted - excused
    if total <= 0:
        return None
    return (present + late_weight * late) / total


def as_percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


@dataclass
class Tally:
    """Counts of statuses, for one student or one session; the rate follows the settings."""

    present: int = 0
    late: int = 0
    absent: int = 0
    excused: int = 0

    def add(self, status: str) -> None:
        if status == Status.PRESENT:
            self.present += 1
        elif status == Status.LATE:
            self.late += 1
        elif status == Status.EXCUSED:
            self.excused += 1
        else:
            self.absent += 1

    @property
    def counted(self) -> int:
        return self.present + self.late + self.absent + self.excused

    @property
    def rate(self) -> float | None:
        return attendance_rate(
            present=self.present,
            late=self.late,
            excused=self.excused,
            counted=self.counted,
            late_weight=settings.ATTENDANCE_LATE_WEIGHT,
        )

    @property
    def percent(self) -> float | None:
        return as_percent(self.rate)

    @property
    def flagged(self) -> bool:
        rate = self.rate
        return rate is not None and rate < settings.ATTENDANCE_RATE_WARNING


def is_held(session: ClassSession) -> bool:
    return session.state in HELD_STATES


def parse_switch(value: str, *, name: str = INCLUDE_OPEN) -> bool:
    """A yes/no query parameter: 1 or true, 0 or false (or empty); anything else is a ValueError."""
    try:
        return SWITCH_VALUES[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{name!r} must be 1 or 0 (true or false), not {value!r}.") from None


def counts(session: ClassSession, *, include_open: bool) -> bool:
    """Whether the session counts in rates and totals: closed, or open when asked for."""
    return session.state == State.CLOSED or (include_open and session.state == State.OPEN)


def status_label(status: str | None) -> str:
    return Status(status).label if status else ""


def source_label(source: str | None) -> str:
    return AttendanceRecord.Source(source).label if source else ""


def local_time(moment: datetime.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return timezone.localtime(moment).strftime(fmt) if moment else ""


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def sessions_between(
    course: Course, first: datetime.date | None, last: datetime.date | None, *, states: tuple[str, ...]
) -> QuerySet[ClassSession]:
    """The course's sessions in these states whose local date is within [first, last] (either may be open)."""
    sessions = course.sessions.filter(state__in=states)
    # The first and last dates Python knows (an enrolment "until 9999-12-31") bound nothing, and
    # the day after the last, or the first's midnight in UTC, would overflow.
    if first is not None and first > datetime.date.min:
        sessions = sessions.filter(starts_at__gte=_day_start(first))
    if last is not None and last < datetime.date.max:
        sessions = sessions.filter(starts_at__lt=_day_start(last + datetime.timedelta(days=1)))
    return sessions.order_by("starts_at", "pk")


# --- One session ------------------------------------------------------------------------


class _Labelled:
    """The status and source of a report line, as people read them."""

    status: str | None
    source: str | None

    @property
    def status_display(self) -> str:
        return status_label(self.status)

    @property
    def source_display(self) -> str:
        return source_label(self.source)


@dataclass(frozen=True)
class SessionLine(_Labelled):
    student: Student
    status: str | None  # None only when the session has not been held
    first_seen_at: datetime.datetime | None
    source: str | None  # None: no record
    note: str = ""
    changed_by: User | None = None


class SessionReport:
    """Every student who counts in the session with their status; `tally` fills as `lines()` runs."""

    def __init__(self, *, session: ClassSession) -> None:
        self.session = session
        self.held = is_held(session)
        self.tally = Tally()

    def lines(self) -> Iterator[SessionLine]:
        self.tally = Tally()
        students = session_students(session=self.session)
        # One session's records: at most one per student in the room.
        records = {
            record.student_id: record
            for record in AttendanceRecord.objects.filter(session=self.session, student__in=students)
            .select_related("changed_by")
            .iterator()
        }
        for student in students.order_by(*STUDENT_ORDER).iterator():
            record = records.get(student.pk)
            if record is not None:
                status: str | None = record.status
            else:
                status = Status.ABSENT if self.held else None
            if status is not None:
                self.tally.add(status)
            yield SessionLine(
                student=student,
                status=status,
                first_seen_at=record.first_seen_at if record else None,
                source=record.source if record else None,
                note=record.note if record else "",
                changed_by=record.changed_by if record else None,
            )


# --- One course: students by sessions -----------------------------------------------------


@dataclass(frozen=True)
class StudentRow:
    student: Student
    enrollment: Enrollment
    cells: list[str | None]  # a status per session; None where the student did not count
    tally: Tally


class CourseReport:
    """Students by the counted sessions of a course, with a local-date range filter.

    `sessions` are the columns: the closed sessions, and the open ones with `include_open`; the
    open sessions left out and the cancelled ones are listed apart. `rows()` yields one student
    at a time and refills `session_totals` (one Tally per session, in the order of `sessions`)
    as it goes: read the totals after the rows are exhausted.
    """

    def __init__(
        self,
        *,
        course: Course,
        date_from: datetime.date | None = None,
        date_to: datetime.date | None = None,
        include_open: bool = False,
    ) -> None:
        self.course = course
        self.date_from = date_from
        self.date_to = date_to
        self.include_open = include_open
        in_range = list(sessions_between(course, date_from, date_to, states=(*HELD_STATES, State.CANCELLED)))
        self.sessions = [session for session in in_range if counts(session, include_open=include_open)]
        self.open_left_out = [session for session in in_range if session.state == State.OPEN and not include_open]
        self.cancelled = [session for session in in_range if session.state == State.CANCELLED]
        self.days = [timezone.localdate(session.starts_at) for session in self.sessions]
        self.session_totals = [Tally() for _ in self.sessions]

    def enrollments(self) -> QuerySet[Enrollment]:
        """Enrollments that overlap the date range, in student order."""
        enrollments = Enrollment.objects.filter(course=self.course).overlapping(self.date_from, self.date_to)
        return enrollments.order_by(*(f"student__{key}" for key in STUDENT_ORDER))

    def rows(self) -> Iterator[StudentRow]:
        self.session_totals = [Tally() for _ in self.sessions]
        enrollments = self.enrollments()
        # The same student order as the enrollments, so the two walk side by side; only students
        # of those enrollments, so no group is ever skipped.
        records = (
            AttendanceRecord.objects.filter(
                session__in=[session.pk for session in self.sessions],
                student_id__in=enrollments.values("student_id"),
            )
            .order_by(*(f"student__{key}" for key in STUDENT_ORDER))
            .values_list("student_id", "session_id", "status")
        )
        groups = itertools.groupby(records.iterator(), key=lambda record: record[0])
        pending = next(groups, None)
        for enrollment in enrollments.select_related("student").iterator():
            statuses: dict[int, str] = {}
            if pending is not None and pending[0] == enrollment.student_id:
                statuses = {session_id: status for _, session_id, status in pending[1]}
                pending = next(groups, None)
            yield self._row(enrollment, statuses)

    def _row(self, enrollment: Enrollment, statuses: dict[int, str]) -> StudentRow:
        cells: list[str | None] = []
        tally = Tally()
        for session, day, totals in zip(self.sessions, self.days, self.session_totals, strict=True):
            if not enrollment.in_force_on(day):
                cells.append(None)
                continue
            status = statuses.get(session.pk, Status.ABSENT)
            cells.append(status)
            tally.add(status)
            totals.add(status)
        return StudentRow(student=enrollment.student, enrollment=enrollment, cells=cells, tally=tally)


# --- One student across courses -------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry(_Labelled):
    session: ClassSession
    status: str
    first_seen_at: datetime.datetime | None
    source: str | None  # None: no record


@dataclass
class CourseHistory:
    course: Course
    enrollment: Enrollment
    entries: list[HistoryEntry] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    open_left_out: list[ClassSession] = field(default_factory=list)


def student_history(
    *, student: Student, courses: QuerySet[Course], include_open: bool = False
) -> Iterator[CourseHistory]:
    """The student's counted sessions while enrolled (see `counts`), one course at a time, for the
    given courses only; the open sessions left out are listed apart."""
    enrollments = student.enrollments.filter(course__in=courses).select_related("course").order_by("course__code", "pk")
    for enrollment in enrollments.iterator():
        history = CourseHistory(course=enrollment.course, enrollment=enrollment)
        sessions = []
        for session in sessions_between(
            enrollment.course, enrollment.start_date, enrollment.end_date, states=HELD_STATES
        ):
            if counts(session, include_open=include_open):
                sessions.append(session)
            else:
                history.open_left_out.append(session)
        # One course's records of one student: a term's worth at most.
        records = {
            record.session_id: record
            for record in AttendanceRecord.objects.filter(student=student, session__in=sessions).iterator()
        }
        for session in sessions:
            record = records.get(session.pk)
            status = record.status if record else Status.ABSENT
            history.tally.add(status)
            history.entries.append(
                HistoryEntry(
                    session=session,
                    status=status,
                    first_seen_at=record.first_seen_at if record else None,
                    source=record.source if record else None,
                )
            )
        yield history
