"""Attendance for the school's information system to take back: a CSV file keyed by the OneRoster
sourcedIds the roster import stored (attendance/oneroster.py).

One line per student who counts in a closed session held from one date to another (local dates,
at most MAX_DAYS days), for courses and students that have a sourcedId: the class's and the
user's sourcedId, the session's date and start (ISO 8601, with the school's offset), the status
(present, late, absent, excused; absent where the student was never seen), the record's source
and the teacher's note. The statuses are the reports' (attendance/reports.py).
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from typing import Any, Protocol

from django.utils import timezone

from attendance.enrolment_import import csv_date
from attendance.exports import Cell, Column, Table, safe_cell
from attendance.models import ClassSession, Course
from attendance.reports import SessionReport, sessions_between
from config.csv_import import LineError
from config.web import ApplicationError

COLUMNS = ("classSourcedId", "userSourcedId", "sessionDate", "sessionStart", "status", "source", "note")
MAX_DAYS = 366


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def export_range(*, first: str, last: str) -> tuple[datetime.date, datetime.date]:
    """The dates of a request ("from", "to": YYYY-MM-DD); raises ApplicationError with what is wrong."""
    days: list[datetime.date] = []
    for name, value in (("from", first), ("to", last)):
        day = csv_date({f"{name}_date": value.strip()}, f"{name}_date", 0)
        if day is None:
            raise ApplicationError(f"The {name} date is needed, in the form YYYY-MM-DD.")
        if isinstance(day, LineError):
            raise ApplicationError(day.message)
        days.append(day)
    start, end = days
    if end < start:
        raise ApplicationError(f"The to date {end} is before the from date {start}.")
    if (end - start).days + 1 > MAX_DAYS:
        raise ApplicationError(f"That is {(end - start).days + 1:,} days; an export covers at most {MAX_DAYS} days.")
    return start, end


def attendance_rows(*, first: datetime.date, last: datetime.date) -> Iterator[list[Cell]]:
    """The export's lines (without the header), class by class and session by session."""
    for course in Course.objects.filter(sourced_id__isnull=False).order_by("sourced_id"):
        for session in sessions_between(course, first, last, states=(ClassSession.State.CLOSED,)):
            starts_at = timezone.localtime(session.starts_at)
            for line in SessionReport(session=session).lines():
                if line.student.sourced_id is None or line.status is None:
                    continue
                yield [
                    str(safe_cell(course.sourced_id)),
                    str(safe_cell(line.student.sourced_id)),
                    starts_at.date().isoformat(),
                    starts_at.isoformat(timespec="seconds"),
                    line.status,
                    line.source or "",
                    str(safe_cell(line.note)),
                ]


def attendance_table(*, first: datetime.date, last: datetime.date) -> Table:
    """The export as a table for attendance/exports.py's CSV download."""
    return Table(columns=[Column(title) for title in COLUMNS], rows=attendance_rows(first=first, last=last))


def attendance_csv_write(out: Writable, *, first: datetime.date, last: datetime.date) -> int:
    """Write the export to a text file; how many lines (without the header)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for row in attendance_rows(first=first, last=last):
        writer.writerow(row)
        count += 1
    return count
