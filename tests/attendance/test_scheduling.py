"""Scheduling single sessions and weekly series in the school's time zone."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings

from attendance.models import ClassSession, Course
from attendance.scheduling import sessions_schedule

WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture
def warsaw(settings: Settings) -> None:
    settings.TIME_ZONE = "Europe/Warsaw"


def test_weekly_series_keeps_local_start_across_daylight_saving(warsaw: None, course: Course) -> None:
    # Poland leaves summer time on Sunday 25 October 2026.
    sessions = sessions_schedule(
        course=course,
        first_date=datetime.date(2026, 10, 19),
        last_date=datetime.date(2026, 11, 1),
        weekdays={0, 3},  # Mondays and Thursdays
        start_time=datetime.time(9, 0),
        duration_minutes=90,
        late_after_minutes=10,
    )
    local = [s.starts_at.astimezone(WARSAW) for s in sessions]
    assert [d.date() for d in local] == [
        datetime.date(2026, 10, 19),
        datetime.date(2026, 10, 22),
        datetime.date(2026, 10, 26),
        datetime.date(2026, 10, 29),
    ]
    assert {(d.hour, d.minute) for d in local} == {(9, 0)}
    utc_hours = [s.starts_at.astimezone(datetime.UTC).hour for s in sessions]
    assert utc_hours == [7, 7, 8, 8]
    assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=90) for s in sessions)
    assert ClassSession.objects.filter(course=course, state="scheduled").count() == 4


# The course page's schedule form for a weekly series, Monday 23 March to Friday 3 April 2026, no weekdays chosen.
WEEKLY_SERIES = {
    "first_date": "2026-03-23",
    "start_time": "08:15",
    "duration_minutes": "45",
    "late_after_minutes": "5",
    "repeat_weekly": "on",
    "last_date": "2026-04-03",
}


def test_schedule_form_on_the_course_page(warsaw: None, client: Client, teacher: User, course: Course) -> None:
    client.force_login(teacher)
    response = client.post(
        f"/courses/{course.pk}/",
        {**WEEKLY_SERIES, "weekdays": ["2", "4"]},
        follow=True,
    )
    assert response.status_code == 200
    assert "4 session(s) scheduled." in response.content.decode()
    starts = [s.starts_at.astimezone(WARSAW) for s in ClassSession.objects.order_by("starts_at")]
    # 29 March 2026 is the switch to summer time: the local time stays 08:15.
    assert [(d.date().isoformat(), d.strftime("%H:%M")) for d in starts] == [
        ("2026-03-25", "08:15"),
        ("2026-03-27", "08:15"),
        ("2026-04-01", "08:15"),
        ("2026-04-03", "08:15"),
    ]


def test_weekly_series_without_weekdays_is_refused(client: Client, teacher: User, course: Course) -> None:
    client.force_login(teacher)
    response = client.post(
        f"/courses/{course.pk}/",
        WEEKLY_SERIES,
    )
    assert response.status_code == 400
    assert "Choose at least one weekday." in response.content.decode()
    assert not ClassSession.objects.exists()


def test_another_teacher_cannot_schedule(client: Client, other_teacher: User, course: Course) -> None:
    client.force_login(other_teacher)
    response = client.post(
        f"/courses/{course.pk}/",
        {"first_date": "2026-03-23", "start_time": "08:15", "duration_minutes": "45", "late_after_minutes": "5"},
    )
    assert response.status_code == 404
    assert not ClassSession.objects.exists()
