"""The course report in headless Chromium at laptop and phone size: axe-core clean, the chart's
legend and values visible without hovering, the open-sessions switch working from the keyboard,
and a long chart scrolling inside its box instead of widening the page.

Screenshots: test-output/report-course-<size>[-open[-latest]].png (-latest: the chart scrolled to its end).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, ViewportSize, expect

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student
from tests.integration.browser import AXE_JS, ROOT, LivePage, axe_violations, log_in, save_screenshot
from tests.integration.processes import skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "reports-pass-123"
SIZES: dict[str, ViewportSize] = {"laptop": {"width": 1400, "height": 1000}, "phone": {"width": 390, "height": 844}}
Status = AttendanceRecord.Status


@pytest.fixture
def course(transactional_db: None) -> Course:
    """CS101 over three weeks: two sessions a day (09:00 and 14:00), all closed but the last, open now."""
    teacher = User.objects.create_user("teacher", password=PASSWORD, first_name="Tess", last_name="Teacher")
    course = Course.objects.create(code="CS101", name="Computing")
    course.teachers.add(teacher)
    students = [
        Student.objects.create(student_number=f"S{index:03}", first_name=first, last_name=last)
        for index, (first, last) in enumerate(
            [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra")], 1
        )
    ]
    for student in students:
        Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
    cycle = [Status.PRESENT, Status.LATE, Status.ABSENT, Status.PRESENT, Status.EXCUSED]
    today = timezone.localdate()
    for day in range(15, 0, -1):
        for hour in (9, 14):
            starts_at = timezone.make_aware(
                datetime.datetime.combine(today - datetime.timedelta(days=day), datetime.time(hour))
            )
            session = ClassSession.objects.create(
                course=course,
                starts_at=starts_at,
                ends_at=starts_at + datetime.timedelta(minutes=90),
                state=ClassSession.State.CLOSED,
            )
            for index, student in enumerate(students):
                status = cycle[(day + hour + index) % len(cycle)]
                AttendanceRecord.objects.create(session=session, student=student, status=status, source="manual")
    now = timezone.now()
    open_session = ClassSession.objects.create(
        course=course,
        starts_at=now - datetime.timedelta(minutes=5),
        ends_at=now + datetime.timedelta(minutes=85),
        state=ClassSession.State.OPEN,
    )
    AttendanceRecord.objects.create(session=open_session, student=students[0], status=Status.PRESENT, source="face")
    return course


@pytest.mark.parametrize("size", list(SIZES))
def test_the_course_report_reads_without_hover_at_laptop_and_phone_size(
    course: Course, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path, size: str
) -> None:
    if not AXE_JS.exists():
        skip_or_fail(f"no {AXE_JS.relative_to(ROOT)}: bin/test installs axe-core from npm")
    base_url = asgi_server()
    viewport = SIZES[size]
    # The pages' Content-Security-Policy would refuse axe's inline script.
    live = LivePage(chromium.new_context(viewport=viewport, bypass_csp=True))
    page = live.page
    log_in(page, base_url, username="teacher", password=PASSWORD)
    page.goto(f"{base_url}/reports/courses/{course.pk}/")

    expect(page.locator("#open-sessions")).to_contain_text("open — still taking attendance")
    expect(page.locator("#chart-legend")).to_be_visible()
    expect(page.locator(".chart text.value")).to_have_count(30)
    labels = page.locator(".chart text.axis-label").all_text_contents()
    assert len(set(labels)) == len(labels) == 30  # two sessions a day, each label its own
    save_screenshot(live, tmp_path, f"report-course-{size}.png")
    found = axe_violations(page)

    # The switch from the keyboard: tick it with the space bar, tab to "Show" and press Enter.
    checkbox = page.get_by_label("Count open sessions")
    checkbox.focus()
    page.keyboard.press("Space")
    expect(checkbox).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("include_open=1")
    expect(page.locator(".chart text.value")).to_have_count(31)
    expect(page.locator(".chart .open-label")).to_have_text(["open"])
    expect(page.locator("#chart-legend")).to_contain_text("open session, figures provisional")
    # The chart scrolls inside its box: the page itself is no wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    save_screenshot(live, tmp_path, f"report-course-{size}-open.png")
    page.locator(".chart-scroll").evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    save_screenshot(live, tmp_path, f"report-course-{size}-open-latest.png")
    found += axe_violations(page)

    assert not found, "axe-core violations:\n" + "\n".join(found)
