"""Issue 9, finding 7: every refused live socket is accepted, then closed with its code, so the browser
sees the reason (also through a real daphne, in Chromium) and the page stops reconnecting."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser, User
from django.db import connections
from playwright.sync_api import Browser, Page, expect
from pytest_django.fixtures import Settings

from attendance.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_OPEN, CLOSE_TOO_MANY, CLOSE_UNAUTHENTICATED
from attendance.models import ClassSession
from tests.attendance.builders import open_session_with
from tests.attendance.test_consumers import (
    connected,
    joined,
    refused_with,
)
from tests.integration.browser import LivePage, log_in
from tests.integration.conftest import (  # noqa: F401
    CHROMIUM,
    chromium,
    chromium_with_webcam,
    fake_webcam,
)
from tests.integration.processes import redis_test_url, skip_or_fail

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("who", "state", "code"),
    [
        ("anonymous", "open", CLOSE_UNAUTHENTICATED),
        ("other", "open", CLOSE_FORBIDDEN),
        ("teacher", "closed", CLOSE_NOT_OPEN),
        ("teacher", "scheduled", CLOSE_NOT_OPEN),
        ("teacher", "missing", CLOSE_FORBIDDEN),
        ("other", "missing", CLOSE_FORBIDDEN),
    ],
)
async def test_refused_connections_are_accepted_then_closed_with_their_code(
    open_session: ClassSession, teacher: User, other_teacher: User, who: str, state: str, code: int
) -> None:
    users: dict[str, User | AnonymousUser] = {"anonymous": AnonymousUser(), "teacher": teacher, "other": other_teacher}
    session_id = 999999 if state == "missing" else open_session.pk
    if state in ("closed", "scheduled"):
        await database_sync_to_async(ClassSession.objects.filter(pk=open_session.pk).update)(state=state)

    async with connected(session_id, users[who]) as ws:
        refused = await refused_with(ws)
        nothing_else = await ws.receive_nothing(timeout=0.2)

    assert refused == code
    assert nothing_else


async def test_one_page_too_many_is_accepted_then_closed_with_4429(
    open_session: ClassSession, teacher: User, settings: Settings
) -> None:
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 1
    async with joined(open_session.pk, teacher), connected(open_session.pk, teacher) as second:
        assert await refused_with(second) == CLOSE_TOO_MANY


# --- Through a real daphne, in Chromium --------------------------------------------------------

# Wraps the page's WebSocket: every close code it sees, in window.closeCodes.
RECORD_CLOSE_CODES = """
window.closeCodes = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", (event) => window.closeCodes.push(event.code));
  }
};
"""
# Opens a websocket; whether it opened and its close code (null: still open after 10 s).
OPEN_SOCKET = """(url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  let opened = false;
  socket.onopen = () => { opened = true; };
  socket.onclose = (event) => resolve({ opened: opened, code: event.code });
  setTimeout(() => resolve({ opened: opened, code: null }), 10000);
})"""
PASSWORD = "teacher-pass-123"


@pytest.fixture
def server(real_server: Callable[..., str], settings: Settings) -> Callable[..., str]:
    """A real daphne, with this process's channel layer on the servers' Redis (signals reach their pages)."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"browser tests need {CHROMIUM}")
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_test_url()]}}
    }
    return real_server


def page_status(page: Page) -> Any:
    return page.locator("#camera-status")


def close_codes(page: Page) -> list[int]:
    codes: list[int] = page.evaluate("window.closeCodes")
    return codes


@pytest.mark.integration
@pytest.mark.browser
def test_a_real_browser_gets_the_close_codes_and_the_page_says_why_and_stops(
    server: Callable[..., str], request: pytest.FixtureRequest
) -> None:
    browser: Browser = request.getfixturevalue("chromium")
    alice = User.objects.create_user("alice", password=PASSWORD)
    bob = User.objects.create_user("bob", password=PASSWORD)
    carol = User.objects.create_user("carol", password=PASSWORD)
    session = open_session_with(teachers=[alice, bob], students=[], code="SEC7")
    base_url = server()
    ws_url = f"{base_url.replace('http://', 'ws://')}/ws/sessions/{session.pk}/"

    pages: dict[str, LivePage] = {}
    for user in (alice, bob):
        live = LivePage(browser.new_context())
        live.page.add_init_script(RECORD_CLOSE_CODES)
        log_in(live.page, base_url, username=user.username, password=PASSWORD)
        live.page.goto(f"{base_url}/sessions/{session.pk}/")
        live.wait_for_roster()
        pages[user.username] = live

    # Taken off the course in this process: the signal reaches alice's page on the server. In a
    # thread of its own: Playwright's event loop runs in this one.
    def remove_alice() -> None:
        session.course.teachers.remove(alice)
        connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(remove_alice).result()
    alice_page = pages["alice"].page
    expect(page_status(alice_page)).to_have_text(
        "You are not allowed to take attendance in this session (any more).", timeout=10_000
    )
    # bob logs out in another tab of his browser.
    other_tab = pages["bob"].page.context.new_page()
    other_tab.goto(f"{base_url}/")
    with other_tab.expect_navigation():
        other_tab.click("form[action='/logout/'] button")
    bob_page = pages["bob"].page
    expect(page_status(bob_page)).to_have_text("You are logged out: log in again, then reload this page.")
    # Longer than the 2 s the page waits before reconnecting after a network failure.
    alice_page.wait_for_timeout(3000)

    assert close_codes(alice_page) == [CLOSE_FORBIDDEN]
    assert close_codes(bob_page) == [CLOSE_UNAUTHENTICATED]
    assert len(pages["alice"].sockets) == len(pages["bob"].sockets) == 1, "the page reconnected"
    assert alice_page.locator("#camera-toggle").is_disabled()

    # Refused at connect: a teacher of another course, on a page of the site.
    stranger = browser.new_context().new_page()
    log_in(stranger, base_url, username=carol.username, password=PASSWORD)

    assert stranger.evaluate(OPEN_SOCKET, ws_url) == {"opened": True, "code": CLOSE_FORBIDDEN}
