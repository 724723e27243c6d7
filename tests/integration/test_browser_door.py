"""Door mode end to end: daphne with the Redis channel layer and PostgreSQL, and headless Chromium
on a tablet whose fake webcam plays the shared Hamilton clip.

The teacher opens the door page and starts it; the screen greets Lin-Manuel Miranda by first name
and marks him present, and at no moment shows the name of a student who is not in the clip, a last
name, or a roster. A class of students none of whom is in the clip gets "Not recognised".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from attendance.models import AttendanceRecord, ClassSession
from students.models import Student
from tests.attendance.builders import open_session_with
from tests.integration.browser import TABLET_VIEWPORT, LivePage, log_in, save_screenshot
from tests.integration.conftest import IN_CLIP, MUST_BE_PRESENT, PEOPLE

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "teacher-pass-123"
CLIP_SECONDS = 9.2
GREETED_WITHIN_SECONDS = 60
# Every text the page shows, from before the camera starts to the end: document.body.innerText
# after each change of the page.
WATCH_TEXTS = """() => {
  window.doorTexts = [];
  const note = () => window.doorTexts.push(document.body.innerText);
  const changes = { subtree: true, childList: true, characterData: true, attributes: true };
  new MutationObserver(note).observe(document.body, changes);
  note();
}"""


@pytest.fixture
def teacher(transactional_db: None) -> User:
    return User.objects.create_user("teacher", password=PASSWORD, first_name="Tess", last_name="Teacher")


def start_door(chromium: Browser, base_url: str, session: ClassSession) -> LivePage:
    """The door page on a tablet held upright, logged in as the teacher, watched, and started."""
    live = LivePage(chromium.new_context(viewport=TABLET_VIEWPORT))
    page = live.page
    log_in(page, base_url, username="teacher", password=PASSWORD)
    page.goto(f"{base_url}/sessions/{session.pk}/door/")
    page.evaluate(WATCH_TEXTS)
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Look at the camera")).to_be_visible()
    return live


def shown_texts(live: LivePage) -> str:
    return "\n".join(live.page.evaluate("window.doorTexts"))


def test_the_door_greets_lin_manuel_by_first_name_and_shows_nobody_else(
    enrolled: dict[str, Student], teacher: User, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    session = open_session_with(teachers=[teacher], students=enrolled.values(), code="MUS101")
    lin = enrolled[MUST_BE_PRESENT]
    live = start_door(chromium, asgi_server(), session)
    page = live.page
    greeting = page.locator("#door-says .door-present", has_text="Lin-Manuel — present")

    expect(greeting).to_be_visible(timeout=GREETED_WITHIN_SECONDS * 1000)
    started = time.monotonic()
    record = AttendanceRecord.objects.get(session=session, student=lin)
    assert (record.status, record.source) == (AttendanceRecord.Status.PRESENT, AttendanceRecord.Source.FACE)
    screenshots = save_screenshot(live, tmp_path, "browser-door-tablet.png")
    # The whole clip at least once more before judging "nobody else".
    while time.monotonic() - started < CLIP_SECONDS + 2:
        page.wait_for_timeout(200)
    # The tablet turned on its side: the greeting again, beside the camera.
    page.set_viewport_size({"width": 1180, "height": 820})
    expect(greeting).to_be_visible(timeout=30_000)
    screenshots += save_screenshot(live, tmp_path, "browser-door-landscape.png")
    texts = shown_texts(live)
    assert page.locator("table, [id*=roster]").count() == 0
    page.context.close()

    in_clip_first_names = {PEOPLE[number][0] for number in IN_CLIP}
    for number, (first, last) in PEOPLE.items():
        assert last not in texts, f"a last name on the door screen: {last}"
        if number not in IN_CLIP:
            assert first not in texts, f"{first} (not in the clip) on the door screen"
    assert "Lin-Manuel — present" in texts
    # What the page received: never a roster or anyone's attendance, and names only of those
    # recognised in the frame.
    kinds = {message["type"] for message in live.messages}
    assert kinds <= {"door", "door-frame", "recognition"}, kinds
    greeted = {greet["first_name"] for message in live.of_type("door-frame") for greet in message["greet"]}
    assert "Lin-Manuel" in greeted and greeted <= in_clip_first_names, greeted
    received = json.dumps(live.messages)
    for _, last in PEOPLE.values():
        assert last not in received
    marked = set(AttendanceRecord.objects.filter(session=session).values_list("student__student_number", flat=True))
    assert MUST_BE_PRESENT in marked and marked <= IN_CLIP, marked
    for path in screenshots:
        print(f"  screenshot: {path}")


def test_the_door_says_not_recognised_to_faces_of_no_student_of_the_course(
    enrolled: dict[str, Student], teacher: User, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    strangers = [enrolled[number] for number in sorted(set(PEOPLE) - IN_CLIP)]
    session = open_session_with(teachers=[teacher], students=strangers, code="ART101")
    live = start_door(chromium, asgi_server(), session)
    page = live.page

    expect(page.locator("#door-says .door-unknown")).to_have_text(
        "Not recognised — please see your teacher", timeout=GREETED_WITHIN_SECONDS * 1000
    )
    save_screenshot(live, tmp_path, "browser-door-not-recognised.png")
    texts = shown_texts(live)
    page.context.close()

    for first, last in PEOPLE.values():
        assert first not in texts and last not in texts, texts
    assert not AttendanceRecord.objects.filter(session=session).exists()
    assert not any(message["greet"] for message in live.of_type("door-frame"))
