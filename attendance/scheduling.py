"""Scheduling class sessions: one, or a weekly series on chosen weekdays over a date range.

Times are entered in the school's time zone (SCHOOL_TIME_ZONE) and stored in UTC. Each
occurrence is built from its own local date and time, so a series keeps its local start time
across daylight-saving changes (09:00 stays 09:00; the UTC time moves by an hour).
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from attendance.models import ClassSession, Course
from config.web import ApplicationError

MAX_SESSIONS_PER_SERIES = 400


def weekly_occurrences(
    *,
    first_date: datetime.date,
    last_date: datetime.date,
    weekdays: set[int],
    start_time: datetime.time,
    duration: datetime.timedelta,
    zone: ZoneInfo,
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """(start, end) in UTC of every chosen weekday (Monday = 0) from first to last date."""
    occurrences = []
    day = first_date
    while day <= last_date:
        if day.weekday() in weekdays:
            local_start = datetime.datetime.combine(day, start_time, tzinfo=zone)
            start = local_start.astimezone(datetime.UTC)
            occurrences.append((start, start + duration))
        day += datetime.timedelta(days=1)
    return occurrences


def sessions_schedule(
    *,
    course: Course,
    first_date: datetime.date,
    last_date: datetime.date | None,
    weekdays: set[int] | None,
    start_time: datetime.time,
    duration_minutes: int,
    late_after_minutes: int,
) -> list[ClassSession]:
    """Create one session (no last date) or a weekly series of scheduled sessions."""
    zone = ZoneInfo(settings.TIME_ZONE)
    duration = datetime.timedelta(minutes=duration_minutes)
    if last_date is None:
        occurrences = weekly_occurrences(
            first_date=first_date,
            last_date=first_date,
            weekdays={first_date.weekday()},
            start_time=start_time,
            duration=duration,
            zone=zone,
        )
    else:
        if last_date < first_date:
            raise ApplicationError("The last date is before the first date.")
        if not weekdays:
            raise ApplicationError("Choose at least one weekday for a weekly series.")
        occurrences = weekly_occurrences(
            first_date=first_date,
            last_date=last_date,
            weekdays=weekdays,
            start_time=start_time,
            duration=duration,
            zone=zone,
        )
    if not occurrences:
        raise ApplicationError("None of the chosen weekdays falls between those dates.")
    if len(occurrences) > MAX_SESSIONS_PER_SERIES:
        raise ApplicationError(f"That is {len(occurrences)} sessions; at most {MAX_SESSIONS_PER_SERIES} at once.")
    with transaction.atomic():
        return ClassSession.objects.bulk_create(
            ClassSession(
                course=course,
                starts_at=start,
                ends_at=end,
                late_after_minutes=late_after_minutes,
                state=ClassSession.State.SCHEDULED,
            )
            for start, end in occurrences
        )
