"""Scheduling class sessions: one, or a weekly series on chosen weekdays over a date range.

Times are entered in the school's time zone (SCHOOL_TIME_ZONE) and stored in UTC. Each
occurrence is built from its own local date and time, so a series keeps its local start time
across daylight-saving changes (09:00 stays 09:00; the UTC time moves by an hour).

A series is bounded before anything is built: at most SESSION_SERIES_MAX_DAYS days from the first
to the last date and at most SESSION_SERIES_MAX_SESSIONS sessions, both worked out from the dates
and weekdays alone, so a request for centuries is refused without walking its days.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from attendance.models import ClassSession, Course
from config.web import ApplicationError


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


def weekday_count(*, first_date: datetime.date, last_date: datetime.date, weekdays: set[int]) -> int:
    """How many days from first to last date (inclusive) fall on the weekdays, by arithmetic."""
    full_weeks, rest = divmod((last_date - first_date).days + 1, 7)
    first = first_date.weekday()
    return full_weeks * len(weekdays) + sum(1 for offset in range(rest) if (first + offset) % 7 in weekdays)


def _check_series(*, first_date: datetime.date, last_date: datetime.date, weekdays: set[int]) -> None:
    if last_date < first_date:
        raise ApplicationError("The last date is before the first date.")
    if not weekdays:
        raise ApplicationError("Choose at least one weekday for a weekly series.")
    days, max_days = (last_date - first_date).days + 1, settings.SESSION_SERIES_MAX_DAYS
    if days > max_days:
        raise ApplicationError(f"That is {days:,} days; a weekly series spans at most {max_days} days.")
    count = weekday_count(first_date=first_date, last_date=last_date, weekdays=weekdays)
    if count == 0:
        raise ApplicationError("None of the chosen weekdays falls between those dates.")
    if count > settings.SESSION_SERIES_MAX_SESSIONS:
        raise ApplicationError(f"That is {count:,} sessions; at most {settings.SESSION_SERIES_MAX_SESSIONS} at once.")


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
    """Create one session (no last date) or a weekly series of scheduled sessions.

    The dates must be session dates (`validate_supported_date`, checked by the form).
    """
    if last_date is None:
        last_date, weekdays = first_date, {first_date.weekday()}
    else:
        _check_series(first_date=first_date, last_date=last_date, weekdays=weekdays or set())
    occurrences = weekly_occurrences(
        first_date=first_date,
        last_date=last_date,
        weekdays=weekdays or set(),
        start_time=start_time,
        duration=datetime.timedelta(minutes=duration_minutes),
        zone=ZoneInfo(settings.TIME_ZONE),
    )
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
