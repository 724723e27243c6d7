"""Helpers for tests that drive headless Chromium (Playwright's sync API) against real servers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, FilePayload, Page, ViewportSize, WebSocket

from attendance.models import ClassSession
from students.models import Student

ROOT = Path(__file__).resolve().parents[2]
# Screenshots a person may want to look at after a run (gitignored).
OUTPUT = ROOT / "test-output"
# The screens the pages are made for: a laptop, and a tablet and a phone held upright.
DESKTOP_VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
TABLET_VIEWPORT: ViewportSize = {"width": 820, "height": 1180}
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}
# axe-core, installed from the npm registry by bin/test (gitignored).
AXE_JS = ROOT / ".cache" / "node" / "node_modules" / "axe-core" / "axe.min.js"
# axe-core's findings on the page, with what a person needs to find each element and fix it.
AXE_RUN = """async (disabled) => (
  await axe.run(document, { rules: Object.fromEntries(disabled.map((id) => [id, { enabled: false }])) })
).violations.map((violation) => ({
  id: violation.id,
  impact: violation.impact,
  help: violation.help,
  nodes: violation.nodes.map((node) => ({
    target: node.target.flat().join(" >>> "),
    html: node.html.slice(0, 200),
    summary: node.failureSummary,
  })),
}))"""


class LivePage:
    """A page, with every JSON message it received on its websockets and what its console said.

    The listeners are attached before the page opens anything, so no message is missed.
    """

    def __init__(self, context: BrowserContext) -> None:
        self.page: Page = context.new_page()
        self.messages: list[dict[str, Any]] = []
        # time.monotonic() when each message arrived.
        self.times: list[float] = []
        self.console: list[str] = []
        self.sockets: list[WebSocket] = []
        self.page.on("websocket", self._opened)
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _opened(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            self.messages.append(json.loads(payload))
            self.times.append(time.monotonic())

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    def wait_for_message(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float, after: int = 0) -> int:
        """The index of the first message from index `after` on for which `predicate` holds, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(after, len(self.messages)):
                if predicate(self.messages[index]):
                    return index
            if time.monotonic() > deadline:
                seen = [message.get("type") for message in self.messages]
                raise AssertionError(
                    f"No such websocket message within {timeout:.0f} s. Types received: {seen}. Console: {self.console}"
                )
            # Not time.sleep: Playwright delivers the page's events only while it has control.
            self.page.wait_for_timeout(50)

    def wait_for_roster(self, *, timeout: float = 30) -> None:
        """Until the page's websocket is connected and has sent the roster: from then on it gets events."""
        self.wait_for_message(lambda message: message.get("type") == "roster", timeout=timeout)


def is_frame(message: dict[str, Any]) -> bool:
    return message.get("type") == "frame"


def log_in(page: Page, base_url: str, *, username: str, password: str) -> None:
    """Log in through the login form; ends on the home page."""
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")
    assert page.url == f"{base_url}/", f"log-in of {username} ended on {page.url}: {page.content()[:2000]}"


def preview_csv(page: Page, *, name: str, text: str) -> None:
    """On an admin CSV import page: upload `text` as the file `name` and wait for the preview."""
    upload: FilePayload = {"name": name, "mimeType": "text/csv", "buffer": text.encode()}
    page.set_input_files("input[type=file]", files=[upload])
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()


def open_session_page(live: LivePage, base_url: str, session: ClassSession, *, username: str, password: str) -> None:
    """Log in, follow the links home → course → "Attendance", and wait for the page's live roster."""
    page = live.page
    log_in(page, base_url, username=username, password=password)
    with page.expect_navigation():
        page.get_by_role("link", name=session.course.code, exact=True).click()
    assert page.url == f"{base_url}/courses/{session.course_id}/"
    with page.expect_navigation():
        page.get_by_role("link", name="Attendance", exact=True).click()
    assert page.url == f"{base_url}/sessions/{session.pk}/"
    live.wait_for_roster()


def roster_row(page: Page, student: Student) -> Any:
    """The roster row of a student (`tr[data-student-id][data-status]`) as a Playwright locator."""
    return page.locator(f'#roster-body tr[data-student-id="{student.pk}"]')


# The student ids (data-student-id) of the roster rows marked present or late.
MARKED_STUDENT_IDS = """() => [...document.querySelectorAll(
  '#roster-body tr[data-student-id][data-status="present"], #roster-body tr[data-student-id][data-status="late"]'
)].map((row) => Number(row.dataset.studentId))"""


def marked_on_page(page: Page) -> set[int]:
    """The ids of the students the roster shows as present or late."""
    return set(page.evaluate(MARKED_STUDENT_IDS))


def save_screenshot(live: LivePage, tmp_path: Path, name: str) -> list[Path]:
    """The page as a PNG under test-output/ at the repository root and under the test's tmp_path."""
    OUTPUT.mkdir(exist_ok=True)
    paths = [OUTPUT / name, tmp_path / name]
    image = live.page.screenshot(full_page=True)
    for path in paths:
        path.write_bytes(image)
    return paths


def axe_violations(page: Page, *, disabled: Sequence[str] = ()) -> list[str]:
    """What axe-core (the rules it runs by default, but the `disabled` ones) finds wrong with the
    page as it is now: one entry per element, with the rule, its impact, the element and how to fix it.

    axe is injected as an inline script, so the page's context needs bypass_csp=True.
    """
    page.add_script_tag(path=AXE_JS)
    found = []
    for violation in page.evaluate(AXE_RUN, list(disabled)):
        for node in violation["nodes"]:
            summary = node["summary"].replace("\n", "\n      ")
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
                f"    {node['target']}: {node['html']}\n      {summary}"
            )
    return found
