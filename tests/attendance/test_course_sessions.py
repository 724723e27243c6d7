"""The course page's sessions: upcoming then past; editing, cancelling and deleting sessions not
held yet and the rest of a series; and the question before a session that overlaps another."""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from attendance.models import AttendanceRecord, ClassSession, Course, SessionChange
from attendance.scheduling import sessions_overlapping, sessions_schedule
from students.models import Student
from tests.attendance.builders import logged_in

pytestmark = pytest.mark.django_db

WARSAW = ZoneInfo("Europe/Warsaw")
State = ClassSession.State


@pytest.fixture(autouse=True)
def warsaw(settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Warsaw"
    settings.ATTENDANCE_LOCK_DAYS = 14


def local(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=WARSAW)


def in_days(days: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=days)


def session_at(
    course: Course, starts_at: datetime.datetime, *, minutes: int = 90, state: str = State.SCHEDULED
) -> ClassSession:
    return ClassSession.objects.create(
        course=course, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=minutes), state=state
    )


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-session-id="(\d+)"', html)]


def text(html: str) -> str:
    """The page's text as a person reads it: tags dropped, white space collapsed and en dashes
    (09:00 to 10:30) hyphens, which ruff does not take for typos."""
    page = re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").replace("\N{EN DASH}", "-")
    return " ".join(page.split())


def hidden_fields(html: str) -> dict[str, list[str]]:
    """The hidden inputs of the page: what its form posts again."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html):
        fields.setdefault(name, []).append(value)
    return fields


def series_of(course: Course, *, weeks: int, first: datetime.date) -> list[ClassSession]:
    """A weekly series on the weekday of `first`, at 09:00 for 90 minutes."""
    return sessions_schedule(
        course=course,
        first_date=first,
        last_date=first + datetime.timedelta(weeks=weeks - 1),
        weekdays={first.weekday()},
        start_time=datetime.time(9, 0),
        duration_minutes=90,
        late_after_minutes=10,
    )


# --- The list -------------------------------------------------------------------------------


def test_upcoming_sessions_come_first_soonest_at_the_top_then_past_ones_most_recent_first(
    teacher: User, course: Course
) -> None:
    now = timezone.now()
    hours = datetime.timedelta(hours=1)
    past_old = session_at(course, now - 120 * hours, state=State.CLOSED)
    past_recent = session_at(course, now - 48 * hours, state=State.CLOSED)
    never_held = session_at(course, now - 30 * hours)
    later = session_at(course, now + 72 * hours)
    cancelled = session_at(course, now + 48 * hours, state=State.CANCELLED)
    soon = session_at(course, now + 24 * hours)
    running = session_at(course, now - 0.1 * hours, state=State.OPEN)

    html = logged_in(teacher).get(f"/courses/{course.pk}/").content.decode()

    upcoming_html, past_html = html.split('id="past-heading"')
    assert row_ids(upcoming_html) == [running.pk, soon.pk, cancelled.pk, later.pk]
    assert row_ids(past_html) == [never_held.pk, past_recent.pk, past_old.pk]
    assert "Open now" in upcoming_html
    assert "Cancelled" in upcoming_html


def test_times_are_shown_in_the_schools_time_zone_in_24_hours(teacher: User, course: Course) -> None:
    day = in_days(7)
    session_at(course, local(day, 14, 30))

    page = text(logged_in(teacher).get(f"/courses/{course.pk}/").content.decode())

    assert f"{day:%a} {day.day} {day:%b %Y} 14:30-16:00 Scheduled" in page


def test_each_row_offers_what_may_be_done_with_it(teacher: User, course: Course, student: Student) -> None:
    now = timezone.now()
    scheduled = session_at(course, now + datetime.timedelta(days=1))
    with_records = session_at(course, now + datetime.timedelta(days=2))
    AttendanceRecord.objects.create(session=with_records, student=student, status="excused", source="manual")
    closed = session_at(course, now - datetime.timedelta(days=1), state=State.CLOSED)

    html = logged_in(teacher).get(f"/courses/{course.pk}/").content.decode()

    assert f'href="/sessions/{scheduled.pk}/edit/"' in html
    assert f'action="/sessions/{scheduled.pk}/cancel/"' in html
    assert f'action="/sessions/{scheduled.pk}/delete/"' in html
    assert f'action="/sessions/{with_records.pk}/delete/"' not in html
    assert "This session has attendance records: it cannot be deleted, so that they are kept." in html
    assert f"/sessions/{closed.pk}/edit/" not in html
    assert f'action="/sessions/{closed.pk}/delete/"' not in html
    # Not part of a series.
    assert "/delete-series/" not in html


# --- Editing --------------------------------------------------------------------------------


def test_a_teacher_edits_a_scheduled_session_in_local_time(teacher: User, course: Course) -> None:
    day = in_days(7)
    session = session_at(course, local(day, 9))
    client = logged_in(teacher)

    form = client.get(f"/sessions/{session.pk}/edit/").content.decode()
    assert f'value="{day.isoformat()}"' in form
    assert 'value="09:00"' in form

    new_day = in_days(8)
    response = client.post(
        f"/sessions/{session.pk}/edit/",
        {"date": new_day.isoformat(), "start_time": "10:15", "duration_minutes": "45", "late_after_minutes": "5"},
        follow=True,
    )

    assert response.redirect_chain == [(f"/courses/{course.pk}/", 302)]
    session.refresh_from_db()
    assert session.starts_at == local(new_day, 10, 15)
    assert session.ends_at == local(new_day, 11, 0)
    assert session.late_after_minutes == 5
    change = SessionChange.objects.get(session=session)
    assert (change.old_starts_at, change.new_starts_at, change.changed_by) == (
        local(day, 9),
        local(new_day, 10, 15),
        teacher,
    )
    assert f"Session changed: now {new_day:%a} {new_day.day} {new_day:%b %Y}, 10:15-11:00." in text(
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("date", "3000-01-01", "Dates must be in the years 2000 to 2100, not 3000."),
        ("date", "2026-02-30", "Enter a valid date."),
        ("start_time", "25:00", "Enter a valid time."),
        ("duration_minutes", "0", "Ensure this value is greater than or equal to 5."),
    ],
)
def test_a_bad_edit_is_refused_and_changes_nothing(
    teacher: User, course: Course, field: str, value: str, error: str
) -> None:
    session = session_at(course, local(in_days(7), 9))
    data = {"date": in_days(8).isoformat(), "start_time": "10:00", "duration_minutes": "60", "late_after_minutes": "5"}

    response = logged_in(teacher).post(f"/sessions/{session.pk}/edit/", {**data, field: value})

    assert response.status_code == 400
    assert error in response.content.decode()
    session.refresh_from_db()
    assert session.starts_at == local(in_days(7), 9)
    assert not SessionChange.objects.exists()


def test_a_teacher_cannot_move_a_session_into_the_locked_past(teacher: User, course: Course) -> None:
    session = session_at(course, local(in_days(7), 9))
    data = {
        "date": in_days(-20).isoformat(),
        "start_time": "09:00",
        "duration_minutes": "90",
        "late_after_minutes": "5",
    }

    response = logged_in(teacher).post(f"/sessions/{session.pk}/edit/", data)

    assert response.status_code == 400
    assert (
        "A session cannot be moved to start more than 14 days ago; ask an administrator." in response.content.decode()
    )
    session.refresh_from_db()
    assert session.starts_at == local(in_days(7), 9)


@pytest.mark.parametrize("state", [State.OPEN, State.CLOSED, State.CANCELLED])
def test_only_scheduled_sessions_are_edited_or_cancelled(teacher: User, course: Course, state: str) -> None:
    session = session_at(course, timezone.now() - datetime.timedelta(minutes=5), state=state)
    client = logged_in(teacher)

    edit = client.get(f"/sessions/{session.pk}/edit/")
    cancel = client.post(f"/sessions/{session.pk}/cancel/", {"confirmed": "yes"})

    label = ClassSession.State(state).label.lower()
    assert edit.status_code == 400
    assert f"Only scheduled sessions can be edited; this one is {label}." in edit.content.decode()
    assert cancel.status_code == 400
    assert f"Only scheduled sessions can be cancelled; this one is {label}." in cancel.content.decode()
    session.refresh_from_db()
    assert session.state == state


def test_locked_sessions_are_changed_by_staff_only(teacher: User, staff: User, course: Course) -> None:
    session = session_at(course, timezone.now() - datetime.timedelta(days=15))
    locked = "This session started more than 14 days ago: it is locked; ask an administrator."

    for path in ("edit", "cancel", "delete"):
        response = logged_in(teacher).post(f"/sessions/{session.pk}/{path}/", {"confirmed": "yes"})
        assert response.status_code == 400, path
        assert locked in response.content.decode()
    assert ClassSession.objects.get(pk=session.pk).state == State.SCHEDULED

    response = logged_in(staff).post(f"/sessions/{session.pk}/cancel/", {"confirmed": "yes"})

    assert response.status_code == 302
    assert ClassSession.objects.get(pk=session.pk).state == State.CANCELLED


# --- Cancelling and deleting ----------------------------------------------------------------


def test_cancelling_asks_first_then_keeps_the_session_as_cancelled(teacher: User, course: Course) -> None:
    day = in_days(7)
    session = session_at(course, local(day, 9))
    client = logged_in(teacher)

    question = client.post(f"/sessions/{session.pk}/cancel/")

    assert question.status_code == 200
    assert f"Cancel the CS101 session of {day:%a} {day.day} {day:%b %Y}, 09:00-10:30?" in text(
        question.content.decode()
    )
    assert ClassSession.objects.get(pk=session.pk).state == State.SCHEDULED

    response = client.post(f"/sessions/{session.pk}/cancel/", {"confirmed": "yes"}, follow=True)

    assert ClassSession.objects.get(pk=session.pk).state == State.CANCELLED
    page = text(response.content.decode())
    assert f"Cancelled the session of {day:%a} {day.day} {day:%b %Y}, 09:00-10:30." in page
    assert "09:00-10:30 Cancelled" in page


def test_deleting_asks_first_then_deletes(teacher: User, course: Course) -> None:
    day = in_days(7)
    session = session_at(course, local(day, 9))
    client = logged_in(teacher)

    question = client.post(f"/sessions/{session.pk}/delete/")

    assert question.status_code == 200
    assert f"Delete the CS101 session of {day:%a} {day.day} {day:%b %Y}, 09:00-10:30?" in text(
        question.content.decode()
    )
    assert ClassSession.objects.filter(pk=session.pk).exists()

    response = client.post(f"/sessions/{session.pk}/delete/", {"confirmed": "yes"}, follow=True)

    assert not ClassSession.objects.filter(pk=session.pk).exists()
    assert "Deleted the session of" in response.content.decode()


def test_a_cancelled_session_may_be_deleted(teacher: User, course: Course) -> None:
    session = session_at(course, local(in_days(7), 9), state=State.CANCELLED)

    response = logged_in(teacher).post(f"/sessions/{session.pk}/delete/", {"confirmed": "yes"})

    assert response.status_code == 302
    assert not ClassSession.objects.exists()


def test_a_session_with_records_is_not_deleted(teacher: User, course: Course, student: Student) -> None:
    session = session_at(course, local(in_days(7), 9), state=State.CANCELLED)
    AttendanceRecord.objects.create(session=session, student=student, status="excused", source="manual")

    response = logged_in(teacher).post(f"/sessions/{session.pk}/delete/", {"confirmed": "yes"})

    assert response.status_code == 400
    assert "This session has attendance records: it cannot be deleted, so that they are kept." in text(
        response.content.decode()
    )
    assert AttendanceRecord.objects.filter(session=session).exists()


def test_a_held_session_is_not_deleted(teacher: User, staff: User, course: Course) -> None:
    session = session_at(course, timezone.now() - datetime.timedelta(days=1), state=State.CLOSED)

    for user in (teacher, staff):
        response = logged_in(user).post(f"/sessions/{session.pk}/delete/", {"confirmed": "yes"})
        assert response.status_code == 400
        assert "Only scheduled or cancelled sessions can be deleted; this one is closed." in response.content.decode()
    assert ClassSession.objects.filter(pk=session.pk).exists()


def test_deleting_the_rest_of_a_series(teacher: User, course: Course, student: Student) -> None:
    first = in_days(7)
    series = series_of(course, weeks=6, first=first)
    other_series = series_of(course, weeks=2, first=in_days(8))
    alone = session_at(course, local(in_days(30), 15))
    # One of the rest was opened and has a record: it is kept.
    series[4].state = State.OPEN
    series[4].save()
    AttendanceRecord.objects.create(session=series[4], student=student, status="present", source="manual")
    third = series[2]
    client = logged_in(teacher)

    question = client.post(f"/sessions/{third.pk}/delete-series/")

    day = third.starts_at.astimezone(WARSAW)
    page = text(question.content.decode())
    assert question.status_code == 200
    assert f"Delete 3 sessions of this series from {day:%a} {day.day} {day:%b}?" in page
    assert "1 session of the series is kept: held, with attendance records, or locked." in page
    assert ClassSession.objects.count() == 9

    response = client.post(f"/sessions/{third.pk}/delete-series/", {"confirmed": "yes"}, follow=True)

    assert "Deleted 3 session(s) of the series" in response.content.decode()
    assert set(ClassSession.objects.values_list("pk", flat=True)) == {
        series[0].pk,
        series[1].pk,
        series[4].pk,
        *(session.pk for session in other_series),
        alone.pk,
    }


def test_a_session_alone_has_no_series_to_delete(teacher: User, course: Course) -> None:
    session = session_at(course, local(in_days(7), 9))

    response = logged_in(teacher).post(f"/sessions/{session.pk}/delete-series/", {"confirmed": "yes"})

    assert response.status_code == 400
    assert "This session is not part of a series." in response.content.decode()
    assert ClassSession.objects.filter(pk=session.pk).exists()


# --- Who may, and how -----------------------------------------------------------------------

ENDPOINTS = [
    ("get", "edit"),
    ("post", "edit"),
    ("post", "cancel"),
    ("post", "delete"),
    ("post", "delete-series"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_another_teacher_gets_404_and_changes_nothing(
    other_teacher: User, course: Course, method: str, path: str
) -> None:
    session = series_of(course, weeks=2, first=in_days(7))[0]
    url = f"/sessions/{session.pk}/{path}/"
    client = logged_in(other_teacher)
    data = {"confirmed": "yes", "date": in_days(9).isoformat(), "start_time": "10:00"}

    response = client.get(url) if method == "get" else client.post(url, data)

    assert response.status_code == 404
    assert ClassSession.objects.filter(state=State.SCHEDULED).count() == 2
    assert not SessionChange.objects.exists()


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_visitors_are_sent_to_log_in(course: Course, method: str, path: str) -> None:
    session = session_at(course, local(in_days(7), 9))
    url = f"/sessions/{session.pk}/{path}/"

    response = Client().get(url) if method == "get" else Client().post(url, {"confirmed": "yes"})

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"
    assert ClassSession.objects.get().state == State.SCHEDULED


@pytest.mark.parametrize("path", ["cancel", "delete", "delete-series"])
def test_the_actions_need_post(teacher: User, course: Course, path: str) -> None:
    session = series_of(course, weeks=2, first=in_days(7))[0]

    response = logged_in(teacher).get(f"/sessions/{session.pk}/{path}/?confirmed=yes")

    assert response.status_code == 405
    assert ClassSession.objects.filter(state=State.SCHEDULED).count() == 2


def test_the_actions_need_the_csrf_token(teacher: User, course: Course) -> None:
    session = session_at(course, local(in_days(7), 9))
    client = Client(enforce_csrf_checks=True)
    client.force_login(teacher)

    response = client.post(f"/sessions/{session.pk}/delete/", {"confirmed": "yes"})

    assert response.status_code == 403
    assert ClassSession.objects.filter(pk=session.pk).exists()


# --- Overlaps -------------------------------------------------------------------------------


def test_the_overlap_rule(course: Course) -> None:
    day = in_days(7)
    scheduled = session_at(course, local(day, 9))
    session_at(course, local(day, 9), state=State.CANCELLED)
    session_at(course, local(day, 9), state=State.CLOSED)

    def overlapping(start: tuple[int, int], end: tuple[int, int]) -> list[ClassSession]:
        return sessions_overlapping(course=course, periods=[(local(day, *start), local(day, *end))])

    assert overlapping((9, 0), (10, 30)) == [scheduled]  # the exact duplicate
    assert overlapping((10, 29), (11, 0)) == [scheduled]
    assert overlapping((8, 0), (9, 1)) == [scheduled]
    assert overlapping((9, 30), (10, 0)) == [scheduled]
    assert overlapping((10, 30), (12, 0)) == []  # starts as it ends
    assert overlapping((7, 30), (9, 0)) == []
    assert sessions_overlapping(course=course, periods=[]) == []


def test_scheduling_an_overlapping_session_asks_then_creates_on_confirm(teacher: User, course: Course) -> None:
    day = in_days(7)
    session_at(course, local(day, 9))
    client = logged_in(teacher)
    data = {"first_date": day.isoformat(), "start_time": "10:00", "duration_minutes": "60", "late_after_minutes": "5"}

    question = client.post(f"/courses/{course.pk}/", data)

    assert question.status_code == 200
    html = question.content.decode()
    assert (
        f"CS101 already has a session 09:00-10:30 on {day:%a} {day.day} {day:%b} (scheduled). Schedule anyway?"
        in text(html)
    )
    assert ClassSession.objects.count() == 1

    # The question posts the same form again, confirmed.
    hidden = hidden_fields(html)
    assert hidden["overlap_ok"] == ["yes"]
    assert hidden["first_date"] == [day.isoformat()]
    response = client.post(f"/courses/{course.pk}/", hidden, follow=True)

    assert "1 session(s) scheduled." in response.content.decode()
    assert sorted(s.starts_at for s in ClassSession.objects.all()) == [local(day, 9), local(day, 10)]


def test_an_exact_duplicate_asks_and_cancel_creates_nothing(teacher: User, course: Course) -> None:
    day = in_days(7)
    session_at(course, local(day, 9))
    data = {"first_date": day.isoformat(), "start_time": "09:00", "duration_minutes": "90", "late_after_minutes": "5"}

    html = logged_in(teacher).post(f"/courses/{course.pk}/", data).content.decode()

    assert "Schedule anyway" in html
    assert f'<a class="button plain" href="/courses/{course.pk}/">Cancel</a>' in html
    assert ClassSession.objects.count() == 1


def test_a_series_that_overlaps_lists_each_overlap(teacher: User, course: Course) -> None:
    first = in_days(7)
    session_at(course, local(first + datetime.timedelta(weeks=1), 9, 30))
    session_at(course, local(first + datetime.timedelta(weeks=2), 8))
    data = {
        "first_date": first.isoformat(),
        "start_time": "09:00",
        "duration_minutes": "90",
        "late_after_minutes": "5",
        "repeat_weekly": "on",
        "last_date": (first + datetime.timedelta(weeks=3)).isoformat(),
        "weekdays": [str(first.weekday())],
    }
    client = logged_in(teacher)

    html = client.post(f"/courses/{course.pk}/", data).content.decode()
    page = text(html)

    assert "CS101 already has 2 sessions at those times. Schedule anyway?" in page
    assert "09:30-11:00 on" in page
    assert "08:00-09:30 on" in page
    assert ClassSession.objects.count() == 2

    response = client.post(f"/courses/{course.pk}/", hidden_fields(html), follow=True)

    assert "4 session(s) scheduled." in response.content.decode()
    assert ClassSession.objects.exclude(series=None).count() == 4


def test_no_question_next_to_or_over_a_cancelled_session(teacher: User, course: Course) -> None:
    day = in_days(7)
    session_at(course, local(day, 9))
    session_at(course, local(day, 12), state=State.CANCELLED)
    client = logged_in(teacher)
    for start in ("10:30", "12:00"):
        data = {"first_date": day.isoformat(), "start_time": start, "duration_minutes": "90", "late_after_minutes": "5"}
        response = client.post(f"/courses/{course.pk}/", data)
        assert response.status_code == 302, start
    assert ClassSession.objects.count() == 4


def test_a_series_shares_one_series_id_and_a_single_session_has_none(course: Course) -> None:
    series = series_of(course, weeks=3, first=in_days(7))
    other = series_of(course, weeks=2, first=in_days(8))
    single = sessions_schedule(
        course=course,
        first_date=in_days(9),
        last_date=None,
        weekdays=None,
        start_time=datetime.time(9),
        duration_minutes=60,
        late_after_minutes=5,
    )

    assert len({s.series for s in series}) == 1
    assert series[0].series is not None
    assert other[0].series not in (None, series[0].series)
    assert single[0].series is None


def test_starting_while_a_session_is_open_asks_first(teacher: User, open_session: ClassSession) -> None:
    client = logged_in(teacher)
    course_id = open_session.course_id

    question = client.post(f"/courses/{course_id}/sessions/start/")

    assert question.status_code == 200
    html = question.content.decode()
    start = timezone.localtime(open_session.starts_at)
    end = timezone.localtime(open_session.ends_at)
    assert (
        f"Open session {start:%H:%M}-{end:%H:%M} on {start:%a} {start.day} {start:%b} is still running: "
        "go to it, or start a new one anyway?"
    ) in text(html)
    assert f'<a class="button primary" href="/sessions/{open_session.pk}/">Go to it</a>' in html
    assert ClassSession.objects.count() == 1

    response = client.post(f"/courses/{course_id}/sessions/start/", {"overlap_ok": "yes"})

    new = ClassSession.objects.exclude(pk=open_session.pk).get()
    assert response["Location"] == f"/sessions/{new.pk}/"
    assert new.state == State.OPEN


def test_starting_over_a_scheduled_session_asks_first(teacher: User, course: Course) -> None:
    scheduled = session_at(course, timezone.now() + datetime.timedelta(minutes=30))

    question = logged_in(teacher).post(f"/courses/{course.pk}/sessions/start/")

    start = timezone.localtime(scheduled.starts_at)
    assert f"CS101 already has a session {start:%H:%M}-" in text(question.content.decode())
    assert "(scheduled). Start a new one anyway?" in text(question.content.decode())
    assert ClassSession.objects.count() == 1
