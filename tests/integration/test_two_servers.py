"""Two ASGI server processes sharing the Redis channel layer: a change on one reaches the other.

Two teachers of the course each have the session page open in Chromium, each on a different
daphne process. A status set with the roster's <select> on one page is saved through that page's
server and shows on the other page, through the other server's websocket, without a reload.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from attendance.models import AttendanceRecord
from students.models import Student
from tests.attendance.builders import open_session_with
from tests.integration.browser import LivePage, log_in, roster_row

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "teacher-pass-123"
WITHIN_SECONDS = 5
# Longer than Redis clients wait for an answer by default (redis-py 8: 5 s) and than the channel
# layer's blocking receive (5 s): the pages' websockets must survive a quiet spell.
QUIET_SECONDS = 7


def seconds_until_shown(source: LivePage, target: LivePage, student: Student, status: str, label: str) -> float:
    """Pick a status in the student's roster row on `source`, as a teacher does; the seconds until
    `target` shows it (at most WITHIN_SECONDS)."""
    started = time.monotonic()
    roster_row(source.page, student).locator("select").select_option(status)
    row = roster_row(target.page, student)
    expect(row).to_have_attribute("data-status", status, timeout=WITHIN_SECONDS * 1000)
    seconds = time.monotonic() - started
    for live in (source, target):
        row = roster_row(live.page, student)
        expect(row).to_have_attribute("data-status", status)
        expect(row.locator(".badge")).to_have_text(label)
        expect(row).to_contain_text("set by hand")
    return seconds


def test_a_status_set_on_one_server_shows_on_a_page_of_the_other_without_reload(
    transactional_db: None,
    asgi_server: Callable[..., str],
    chromium: Browser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice = User.objects.create_user("alice", password=PASSWORD, first_name="Alice", last_name="Anders")
    bob = User.objects.create_user("bob", password=PASSWORD, first_name="Bob", last_name="Berg")
    ada, alan, grace = (
        Student.objects.create(student_number=number, first_name=first, last_name=last)
        for number, first, last in [("S1", "Ada", "Lovelace"), ("S2", "Alan", "Turing"), ("S3", "Grace", "Hopper")]
    )
    session = open_session_with(teachers=[alice, bob], students=[ada, alan, grace], code="HIST2")
    url_a, url_b = asgi_server(), asgi_server()
    assert url_a != url_b

    pages = {}
    for name, url in [("alice", url_a), ("bob", url_b)]:
        live = LivePage(chromium.new_context())
        log_in(live.page, url, username=name, password=PASSWORD)
        live.page.goto(f"{url}/sessions/{session.pk}/")
        live.wait_for_roster()
        # Gone if the page reloads: the change must come in over the websocket.
        live.page.evaluate("window.loadedOnce = true")
        pages[name] = live
    page_a, page_b = pages["alice"], pages["bob"]
    page_a.page.wait_for_timeout(QUIET_SECONDS * 1000)

    a_to_b = seconds_until_shown(page_a, page_b, ada, "excused", "Excused")
    b_to_a = seconds_until_shown(page_b, page_a, alan, "late", "Late")

    for live in (page_a, page_b):
        assert live.page.evaluate("window.loadedOnce") is True
        assert [socket.is_closed() for socket in live.sockets] == [False], "the websocket was not kept open"
        assert not live.of_type("error"), live.of_type("error")
    assert {(m["student_id"], m["status"]) for m in page_b.of_type("attendance")} >= {(ada.pk, "excused")}
    assert {(m["student_id"], m["status"]) for m in page_a.of_type("attendance")} >= {(alan.pk, "late")}
    expect(roster_row(page_a.page, grace)).to_have_attribute("data-status", "unseen")
    expect(roster_row(page_b.page, grace)).to_have_attribute("data-status", "unseen")
    records = AttendanceRecord.objects.filter(session=session).values_list(
        "student__student_number", "status", "source", "changed_by__username"
    )
    assert sorted(records) == [("S1", "excused", "manual", "alice"), ("S2", "late", "manual", "bob")]

    with capsys.disabled():
        print(
            f"\nTwo servers ({url_a}, {url_b}): a change made on A showed on B's page after {a_to_b:.2f} s, "
            f"one made on B on A's page after {b_to_a:.2f} s."
        )
