"""Issue 9, finding 4: a weekly series from year 1 to 3000 (or 9999) made the server walk a million
days before refusing it. Now the dates, the length of the range and the number of sessions are
checked from the inputs alone, before a single day is built: these tests replace the day walk
(`weekly_occurrences`) by one that fails if it is called at all.
"""

from __future__ import annotations

import datetime
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from attendance.models import ClassSession, Course
from attendance.scheduling import sessions_schedule, weekday_count
from config.web import ApplicationError

pytestmark = pytest.mark.django_db

EVERY_DAY = {0, 1, 2, 3, 4, 5, 6}


@pytest.fixture
def no_day_walk() -> Any:
    with mock.patch("attendance.scheduling.weekly_occurrences", side_effect=AssertionError("walked the days")) as walk:
        yield walk


@pytest.fixture
def limits(settings: Settings) -> None:
    settings.SESSION_SERIES_MAX_DAYS = 366
    settings.SESSION_SERIES_MAX_SESSIONS = 400


def series(first: str, last: str, weekdays: set[int]) -> dict[str, Any]:
    return {
        "first_date": datetime.date.fromisoformat(first),
        "last_date": datetime.date.fromisoformat(last),
        "weekdays": weekdays,
        "start_time": datetime.time(9, 0),
        "duration_minutes": 90,
        "late_after_minutes": 10,
    }


def page_post(client: Client, course: Course, first: str, last: str, weekdays: list[str]) -> Any:
    return client.post(
        f"/courses/{course.pk}/",
        {
            "first_date": first,
            "start_time": "09:00",
            "duration_minutes": "90",
            "late_after_minutes": "10",
            "repeat_weekly": "on",
            "last_date": last,
            "weekdays": weekdays,
        },
    )


@pytest.mark.parametrize("last", ["3000-12-31", "9999-12-31"])
def test_a_series_from_year_1_is_refused_on_the_course_page_without_walking_its_days(
    client: Client, teacher: User, course: Course, no_day_walk: Any, limits: None, last: str
) -> None:
    client.force_login(teacher)

    response = page_post(client, course, "0001-01-01", last, ["0", "2", "4"])

    assert response.status_code == 400
    page = response.content.decode()
    assert "Dates must be in the years 2000 to 2100, not 1." in page
    assert f"Dates must be in the years 2000 to 2100, not {last[:4]}." in page
    assert not no_day_walk.called
    assert not ClassSession.objects.exists()


@pytest.mark.parametrize(
    ("first", "last", "days"), [("0001-01-01", "3000-12-31", "1,095,727"), ("0001-01-01", "9999-12-31", "3,652,059")]
)
def test_the_service_refuses_a_long_range_from_the_dates_alone(
    course: Course, no_day_walk: Any, limits: None, first: str, last: str, days: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        sessions_schedule(course=course, **series(first, last, EVERY_DAY))

    assert refused.value.message == f"That is {days} days; a weekly series spans at most 366 days."
    assert not no_day_walk.called
    assert not ClassSession.objects.exists()


def test_a_range_of_allowed_years_longer_than_the_limit_is_refused_on_the_page(
    client: Client, teacher: User, course: Course, no_day_walk: Any, limits: None
) -> None:
    client.force_login(teacher)

    response = page_post(client, course, "2000-01-01", "2100-12-31", ["1"])

    assert response.status_code == 400
    assert "That is 36,890 days; a weekly series spans at most 366 days." in response.content.decode()
    assert not no_day_walk.called
    assert not ClassSession.objects.exists()


def test_too_many_sessions_are_refused_from_the_count_alone(
    client: Client, teacher: User, course: Course, no_day_walk: Any, settings: Settings
) -> None:
    settings.SESSION_SERIES_MAX_DAYS = 366
    settings.SESSION_SERIES_MAX_SESSIONS = 100
    client.force_login(teacher)

    response = page_post(client, course, "2026-01-01", "2026-12-31", [str(day) for day in range(7)])

    assert response.status_code == 400
    assert "That is 365 sessions; at most 100 at once." in response.content.decode()
    assert not no_day_walk.called
    assert not ClassSession.objects.exists()


def test_a_series_at_the_limits_is_built(client: Client, teacher: User, course: Course, limits: None) -> None:
    client.force_login(teacher)

    # 2028 is a leap year that starts on a Saturday: 366 days, 53 Saturdays and 53 Sundays.
    response = page_post(client, course, "2028-01-01", "2028-12-31", ["5", "6"])

    assert response.status_code == 302
    assert ClassSession.objects.filter(course=course).count() == 106


@given(
    first=st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2100, 12, 31)),
    length=st.integers(0, 60),
    weekdays=st.sets(st.integers(0, 6)),
)
def test_the_count_is_the_number_of_chosen_weekdays_in_the_range(
    first: datetime.date, length: int, weekdays: set[int]
) -> None:
    last = first + datetime.timedelta(days=length)
    walked = sum(1 for offset in range(length + 1) if (first + datetime.timedelta(days=offset)).weekday() in weekdays)

    assert weekday_count(first_date=first, last_date=last, weekdays=weekdays) == walked
