"""A teacher manages a course's sessions in the browser, as they would: daphne and headless
Chromium, the school in Europe/Warsaw.

They schedule a weekly series, schedule a session over one of it and are asked first, edit a
session, cancel one and delete the rest of the series, and after each step see on the course
page what they did. The course page is saved as test-output/browser-sessions-<size>.png at
laptop, tablet and phone size, where the row actions must fit the width.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from attendance.models import ClassSession, Course
from tests.integration.browser import LivePage, log_in, save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "teacher-pass-123"
WARSAW = ZoneInfo("Europe/Warsaw")
SIZES: dict[str, ViewportSize] = {
    "laptop": {"width": 1400, "height": 1000},
    "tablet": {"width": 820, "height": 1180},
    "phone": {"width": 390, "height": 844},
}
# Nothing on the page is wider than the window: the page does not scroll sideways.
FITS_THE_WIDTH = "() => document.documentElement.scrollWidth <= window.innerWidth"


def shown(text: str) -> str:
    """The text as the page writes it: the times of "09:00-10:30" joined by an en dash."""
    return re.sub(r"(\d\d:\d\d)-(\d\d:\d\d)", "\\1\N{EN DASH}\\2", text)


def day_label(day: datetime.date) -> str:
    """How the course page writes a date: "Mon 7 Dec 2026"."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def row(page: Page, session: ClassSession) -> Locator:
    return page.locator(f'tr[data-session-id="{session.pk}"]')


def schedule(page: Page, *, day: datetime.date, start: str, minutes: int, weeks: int = 0) -> None:
    """Fill in and send the course page's schedule form (a weekly series on the day's weekday if `weeks`)."""
    page.fill("#id_first_date", day.isoformat())
    page.fill("#id_start_time", start)
    page.fill("#id_duration_minutes", str(minutes))
    if weeks:
        page.check("#id_repeat_weekly")
        page.fill("#id_last_date", (day + datetime.timedelta(weeks=weeks - 1)).isoformat())
        page.get_by_label(f"{day:%a}", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Schedule", exact=True).click()


def test_a_teacher_schedules_edits_cancels_and_deletes_sessions(
    asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    teacher = User.objects.create_user("teacher", password=PASSWORD, first_name="Tess", last_name="Teacher")
    course = Course.objects.create(code="MATH1", name="Mathematics")
    course.teachers.add(teacher)
    base_url = asgi_server(SCHOOL_TIME_ZONE="Europe/Warsaw")
    # The first Monday at least a week away, in the school's time zone.
    today = timezone.now().astimezone(WARSAW).date()
    monday = today + datetime.timedelta(days=7 + (7 - today.weekday()) % 7)

    live = LivePage(chromium.new_context(viewport=SIZES["laptop"]))
    page = live.page
    log_in(page, base_url, username="teacher", password=PASSWORD)
    with page.expect_navigation():
        page.get_by_role("link", name="MATH1", exact=True).click()
    expect(page.get_by_role("heading", name="MATH1 Mathematics")).to_be_visible()
    upcoming = page.locator("section", has=page.get_by_role("heading", name="Upcoming")).locator("tbody tr")

    # A weekly series: four Mondays at 09:00.
    schedule(page, day=monday, start="09:00", minutes=90, weeks=4)
    expect(page.locator(".messages")).to_have_text("4 session(s) scheduled.")
    series = list(ClassSession.objects.order_by("starts_at"))
    expect(upcoming).to_have_count(4)
    expect(upcoming.first).to_contain_text(shown(f"{day_label(monday)} 09:00-10:30 Scheduled"))

    # A session over the first Monday's: the page asks first, and "Schedule anyway" schedules it.
    schedule(page, day=monday, start="10:00", minutes=60)
    expect(page.locator(".question")).to_have_text(
        shown(
            f"MATH1 already has a session 09:00-10:30 on {monday:%a} {monday.day} {monday:%b} (scheduled). "
            "Schedule anyway?"
        )
    )
    assert ClassSession.objects.count() == 4
    with page.expect_navigation():
        page.get_by_role("button", name="Schedule anyway").click()
    expect(page.locator(".messages")).to_have_text("1 session(s) scheduled.")
    extra = ClassSession.objects.get(series=None)
    expect(upcoming).to_have_count(5)
    # Soonest first: the 10:00 session comes right after the 09:00 one of the same day.
    expect(upcoming.nth(1)).to_contain_text(shown(f"{day_label(monday)} 10:00-11:00"))

    # Edit it: an hour later, 45 minutes.
    with page.expect_navigation():
        row(page, extra).get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Starts at")).to_have_value("10:00")
    page.fill("#id_start_time", "11:00")
    page.fill("#id_duration_minutes", "45")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_have_text(shown(f"Session changed: now {day_label(monday)}, 11:00-11:45."))
    expect(row(page, extra)).to_contain_text(shown("11:00-11:45 Scheduled"))

    # Cancel the second Monday's session of the series.
    second = series[1]
    row(page, second).get_by_text("More").click()
    with page.expect_navigation():
        row(page, second).get_by_role("button", name="Cancel the session").click()
    second_day = monday + datetime.timedelta(weeks=1)
    expect(page.locator(".question")).to_have_text(
        shown(f"Cancel the MATH1 session of {day_label(second_day)}, 09:00-10:30?")
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel the session").click()
    expect(page.locator(".messages")).to_have_text(
        shown(f"Cancelled the session of {day_label(second_day)}, 09:00-10:30.")
    )
    expect(row(page, second)).to_contain_text(shown("09:00-10:30 Cancelled"))
    expect(row(page, second).get_by_role("link", name="Edit")).to_have_count(0)

    # The first session's menu open, for the screenshots.
    first = row(page, series[0])
    first.get_by_text("More").click()
    expect(first.get_by_role("button", name="Delete the rest of the series")).to_be_visible()
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        save_screenshot(live, tmp_path, f"browser-sessions-{size}.png")
        assert page.evaluate(FITS_THE_WIDTH), f"the course page is wider than the {size} window"
        box, cell = first.locator(".row-actions").bounding_box(), first.bounding_box()
        assert box and cell and box["x"] + box["width"] <= cell["x"] + cell["width"] + 1, size
    page.set_viewport_size(SIZES["laptop"])

    # Delete the rest of the series from its first session: all four, the cancelled one too.
    with page.expect_navigation():
        first.get_by_role("button", name="Delete the rest of the series").click()
    expect(page.locator(".question")).to_have_text(
        f"Delete 4 sessions of this series from {monday:%a} {monday.day} {monday:%b}?"
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Delete 4 sessions").click()
    expect(page.locator(".messages")).to_have_text(
        shown(f"Deleted 4 session(s) of the series from {day_label(monday)}, 09:00-10:30.")
    )
    expect(upcoming).to_have_count(1)
    expect(upcoming.first).to_contain_text(shown(f"{day_label(monday)} 11:00-11:45 Scheduled"))
    assert list(ClassSession.objects.all()) == [extra]
    assert not [line for line in live.console if line.startswith(("error", "page error"))], live.console
