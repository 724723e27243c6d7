"""Scheduling class sessions: one, or a weekly series on chosen weekdays over a date range; and
the teacher's changes to sessions not held yet: cancelling, deleting one, deleting the rest of a series.

Times are entered in the school's time zone (SCHOOL_TIME_ZONE) and stored in UTC. Each
occurrence is built from its own local date and time, so a series keeps its local start time
across daylight-saving changes (09:00 stays 09:00; the UTC time moves by an hour).

A series is bounded before anything is built: at most SESSION_SERIES_MAX_DAYS days from the first
to the last date and at most SESSION_SERIES_MAX_SESSIONS sessions, both worked out from the dates
and weekdays alone, so a request for centuries is refused without walking its days.

Scheduling or starting a session at a time when another open or scheduled session of the course
runs (`sessions_overlapping`) is refused with an `OverlapQuestion` unless the teacher confirmed it.
Only scheduled sessions are edited or cancelled, and only scheduled or cancelled sessions without
attendance records are deleted (`change_refusal`); locked sessions only by staff.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course
from attendance.selectors import may_change_locked, session_is_locked
from attendance.services import session_start_now, session_update
from config.web import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

State = ClassSession.State
Period = tuple[datetime.datetime, datetime.datetime]
# Sessions that take up their time: another one at the same time asks first.
OCCUPYING_STATES = (State.OPEN, State.SCHEDULED)
# Sessions never held, so nothing of theirs is lost with them.
DELETABLE_STATES = (State.SCHEDULED, State.CANCELLED)
Action = Literal["edit", "cancel", "delete"]


def local_period(
    *, day: datetime.date, start_time: datetime.time, duration: datetime.timedelta, zone: ZoneInfo
) -> Period:
    """(start, end) in UTC of a session starting at `start_time` on `day` in `zone`."""
    start = datetime.datetime.combine(day, start_time, tzinfo=zone).astimezone(datetime.UTC)
    return start, start + duration


def weekly_occurrences(
    *,
    first_date: datetime.date,
    last_date: datetime.date,
    weekdays: set[int],
    start_time: datetime.time,
    duration: datetime.timedelta,
    zone: ZoneInfo,
) -> list[Period]:
    """(start, end) in UTC of every chosen weekday (Monday = 0) from first to last date."""
    occurrences = []
    day = first_date
    while day <= last_date:
        if day.weekday() in weekdays:
            occurrences.append(local_period(day=day, start_time=start_time, duration=duration, zone=zone))
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


class OverlapQuestion(ApplicationError):
    """The new session(s) would share time with these open or scheduled sessions of the course:
    the teacher is asked before anything is created."""

    def __init__(self, *, course: Course, overlaps: list[ClassSession]) -> None:
        self.overlaps = overlaps
        # Open sessions of the course: still running, whatever their end time says.
        self.running = [session for session in overlaps if session.state == State.OPEN]
        count = len(overlaps)
        super().__init__(f"{course.code} already has {count} session{'s' if count != 1 else ''} at that time.")


def sessions_overlapping(*, course: Course, periods: Sequence[Period]) -> list[ClassSession]:
    """The course's open and scheduled sessions that share time with any of the periods (an exact
    duplicate included; one ending as the other starts does not), soonest first."""
    if not periods:
        return []
    candidates = course.sessions.filter(
        state__in=OCCUPYING_STATES,
        starts_at__lt=max(end for _, end in periods),
        ends_at__gt=min(start for start, _ in periods),
    ).order_by("starts_at")
    return [
        session
        for session in candidates
        if any(session.starts_at < end and start < session.ends_at for start, end in periods)
    ]


def sessions_schedule(
    *,
    course: Course,
    first_date: datetime.date,
    last_date: datetime.date | None,
    weekdays: set[int] | None,
    start_time: datetime.time,
    duration_minutes: int,
    late_after_minutes: int,
    overlap_ok: bool = False,
) -> list[ClassSession]:
    """Create one session (no last date) or a weekly series of scheduled sessions (sharing a
    `series` id); raise `OverlapQuestion` if one would overlap another, unless `overlap_ok`.

    The dates must be session dates (`validate_supported_date`, checked by the form).
    """
    series = None if last_date is None else uuid.uuid4()
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
    if not overlap_ok and (overlaps := sessions_overlapping(course=course, periods=occurrences)):
        raise OverlapQuestion(course=course, overlaps=overlaps)
    with transaction.atomic():
        return ClassSession.objects.bulk_create(
            ClassSession(
                course=course,
                series=series,
                starts_at=start,
                ends_at=end,
                late_after_minutes=late_after_minutes,
                state=State.SCHEDULED,
            )
            for start, end in occurrences
        )


def session_start_checked(*, course: Course, minutes: int, overlap_ok: bool = False) -> ClassSession:
    """`session_start_now`, but first raise `OverlapQuestion` (unless `overlap_ok`) if a session of
    the course is still open or a scheduled one overlaps the next `minutes`."""
    if not overlap_ok:
        now = timezone.now()
        running = list(course.sessions.filter(state=State.OPEN).order_by("starts_at"))
        scheduled = [
            session
            for session in sessions_overlapping(
                course=course, periods=[(now, now + datetime.timedelta(minutes=minutes))]
            )
            if session.state != State.OPEN
        ]
        if running or scheduled:
            raise OverlapQuestion(course=course, overlaps=running + scheduled)
    return session_start_now(course=course, minutes=minutes)


def upcoming_and_past(*, course: Course) -> tuple[QuerySet[ClassSession], QuerySet[ClassSession]]:
    """The course's sessions still to come or running (open ones, and scheduled or cancelled ones
    not over yet), soonest first; and the others, most recent first. Each with `has_attendance`."""
    sessions = with_attendance_flag(course.sessions.all())
    upcoming = Q(state=State.OPEN) | Q(state__in=DELETABLE_STATES, ends_at__gt=timezone.now())
    return sessions.filter(upcoming).order_by("starts_at"), sessions.exclude(upcoming).order_by("-starts_at")


def with_attendance_flag(sessions: QuerySet[ClassSession]) -> QuerySet[ClassSession]:
    """The sessions, each with `has_attendance`: it has attendance records or their audit trail,
    which deleting the session would delete too."""
    return sessions.annotate(
        has_attendance=Exists(AttendanceRecord.objects.filter(session=OuterRef("pk")))
        | Exists(AttendanceChange.objects.filter(session=OuterRef("pk")))
    )


def change_refusal(*, session: ClassSession, user: User, action: Action) -> str | None:
    """Why `user` may not edit, cancel or delete the session (one from `with_attendance_flag`), or None.

    That they may see it at all is the caller's check (`selectors.session_for`).
    """
    if session_is_locked(session) and not may_change_locked(user):
        return (
            f"This session started more than {settings.ATTENDANCE_LOCK_DAYS} days ago: it is locked; "
            "ask an administrator."
        )
    state = session.get_state_display().lower()
    if action != "delete":
        if session.state != State.SCHEDULED:
            verb = "edited" if action == "edit" else "cancelled"
            return f"Only scheduled sessions can be {verb}; this one is {state}."
        return None
    if session.state not in DELETABLE_STATES:
        return f"Only scheduled or cancelled sessions can be deleted; this one is {state}."
    if session.has_attendance:  # type: ignore[attr-defined]
        return "This session has attendance records: it cannot be deleted, so that they are kept."
    return None


@dataclass(frozen=True)
class SessionActions:
    """What the course page offers on a session's row."""

    may_change: bool
    may_delete: bool
    may_delete_series: bool
    # Why a session never held cannot be deleted (it has records, or is locked).
    delete_refusal: str | None


def session_actions(*, session: ClassSession, user: User) -> SessionActions:
    delete_refusal = change_refusal(session=session, user=user, action="delete")
    return SessionActions(
        may_change=change_refusal(session=session, user=user, action="edit") is None,
        may_delete=delete_refusal is None,
        may_delete_series=delete_refusal is None and session.series is not None,
        delete_refusal=delete_refusal if session.state in DELETABLE_STATES else None,
    )


def _locked_for_change(session: ClassSession, *, user: User, action: Action) -> ClassSession:
    """The session's row, locked for the transaction, if `user` may make the change; else raise."""
    locked = with_attendance_flag(ClassSession.objects.select_for_update().filter(pk=session.pk)).get()
    if refusal := change_refusal(session=locked, user=user, action=action):
        raise ApplicationError(refusal)
    return locked


def session_reschedule(
    *,
    session: ClassSession,
    changed_by: User,
    date: datetime.date,
    start_time: datetime.time,
    duration_minutes: int,
    late_after_minutes: int,
) -> ClassSession:
    """Move a scheduled session to a local date and time (`services.session_update`: audited, with its lock rules)."""
    starts_at, ends_at = local_period(
        day=date,
        start_time=start_time,
        duration=datetime.timedelta(minutes=duration_minutes),
        zone=ZoneInfo(settings.TIME_ZONE),
    )
    with transaction.atomic():
        locked = _locked_for_change(session, user=changed_by, action="edit")
        return session_update(
            session=locked,
            changed_by=changed_by,
            starts_at=starts_at,
            ends_at=ends_at,
            late_after_minutes=late_after_minutes,
        )


def session_cancel(*, session: ClassSession, cancelled_by: User) -> ClassSession:
    """A scheduled session will not be held: it stays in the list as cancelled and counts in no rate."""
    with transaction.atomic():
        locked = _locked_for_change(session, user=cancelled_by, action="cancel")
        locked.state = State.CANCELLED
        locked.save(update_fields=["state"])
    return locked


def session_delete(*, session: ClassSession, deleted_by: User) -> None:
    """Delete a scheduled or cancelled session that has no attendance records."""
    with transaction.atomic():
        _locked_for_change(session, user=deleted_by, action="delete").delete()


def _series_from(session: ClassSession) -> QuerySet[ClassSession]:
    if session.series is None:
        raise ApplicationError("This session is not part of a series.")
    return ClassSession.objects.filter(
        course_id=session.course_id, series=session.series, starts_at__gte=session.starts_at
    ).order_by("starts_at")


def series_rest(*, session: ClassSession, user: User) -> tuple[list[ClassSession], list[ClassSession]]:
    """The sessions of the session's series from it on, soonest first: those `user` may delete,
    and those kept (held, with records, or locked)."""
    deletable: list[ClassSession] = []
    kept: list[ClassSession] = []
    for member in with_attendance_flag(_series_from(session)):
        (kept if change_refusal(session=member, user=user, action="delete") else deletable).append(member)
    return deletable, kept


def series_delete_from(*, session: ClassSession, deleted_by: User) -> int:
    """Delete the sessions of the session's series from it on that may be deleted; how many were."""
    with transaction.atomic():
        locked = _locked_for_change(session, user=deleted_by, action="delete")
        # Lock the rest before choosing: one opened meanwhile is kept, not deleted with its first records.
        list(_series_from(locked).select_for_update().values_list("pk", flat=True))
        deletable, _ = series_rest(session=locked, user=deleted_by)
        ClassSession.objects.filter(pk__in=[member.pk for member in deletable]).delete()
    return len(deletable)
