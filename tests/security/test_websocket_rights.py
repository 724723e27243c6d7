"""Issue 9, finding 2: a live page keeps no right its user lost.

A teacher taken off the course, a user logged out, deactivated, stripped of staff rights, given a
new password or deleted, a class session moved or deleted: the page is closed with its code and
gets no more names, statuses or notes, and its frames mark nobody; what no signal reports the
periodic re-check catches. (Finding 6: test_websocket_origin.py; finding 7:
test_websocket_close_codes.py.)
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.utils import timezone
from pytest_django.fixtures import Settings

from attendance.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from attendance.models import ClassSession, Course
from attendance.services import attendance_set_status
from students.models import Student
from tests.attendance.builders import open_session_with
from tests.attendance.test_consumers import (
    FRAME_TIMEOUT,
    ORIGIN,
    TIMEOUT,
    Class,
    Enrolled,
    candidates,
    connected,
    enrol,
    joined,
    logged_in,
    photo_frame,
    records,
    send_frames,
    session_cookie,
)
from tests.faces import FACES
from tests.integration.conftest import (  # noqa: F401
    CHROMIUM,
    asgi_server,
    chromium,
    chromium_with_webcam,
    fake_webcam,
    integration_env,
)

pytestmark = pytest.mark.django_db(transaction=True)

# --- Helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_periodic_recheck(settings: Settings) -> None:
    """Only the re-checks on changes, unless a test asks for the periodic one: each test shows which closes the page."""
    settings.WEBSOCKET_RECHECK_SECONDS = 3600


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("admin", password="admin-pass-123", is_staff=True)


async def closed_with(ws: WebsocketCommunicator, *, timeout: float = TIMEOUT) -> int:
    """The code the server closes the page with, nothing having been sent first."""
    message = await ws.receive_output(timeout=timeout)
    assert message["type"] == "websocket.close", f"sent before closing: {message}"
    return int(message["code"])


async def still_served(ws: WebsocketCommunicator) -> bool:
    await ws.send_json_to({"type": "ping"})
    return await ws.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}


@database_sync_to_async
def set_status(session: ClassSession, student: Student, by: User) -> None:
    """A staff member marks the student excused with a note: an `attendance` event for every page."""
    attendance_set_status(session=session, student=student, status="excused", changed_by=by, note="At the dentist")


# --- Finding 2: rights lost while connected ----------------------------------------------------


def remove_with(how: str, course: Course, teacher: User, other: User) -> None:
    if how == "course.teachers.remove":
        course.teachers.remove(teacher)
    elif how == "user.courses_taught.remove":
        teacher.courses_taught.remove(course)
    elif how == "course.teachers.clear":
        course.teachers.clear()
    elif how == "user.courses_taught.clear":
        teacher.courses_taught.clear()
    else:  # what the admin's course form does
        course.teachers.set([other])


@pytest.mark.parametrize(
    "how",
    [
        "course.teachers.remove",
        "user.courses_taught.remove",
        "course.teachers.clear",
        "user.courses_taught.clear",
        "course.teachers.set",
    ],
)
async def test_a_teacher_taken_off_the_course_is_closed_and_gets_no_more_events(
    open_session: ClassSession, teacher: User, other_teacher: User, staff: User, student: Student, how: str
) -> None:
    course = await database_sync_to_async(Course.objects.get)(pk=open_session.course_id)
    async with joined(open_session.pk, teacher) as ws, joined(open_session.pk, staff) as watcher:
        await database_sync_to_async(remove_with)(how, course, teacher, other_teacher)
        code = await closed_with(ws)
        await set_status(open_session, student, staff)
        seen_by_watcher = await watcher.receive_json_from(timeout=TIMEOUT)
        nothing_else = await ws.receive_nothing(timeout=0.5)

    assert code == CLOSE_FORBIDDEN
    assert nothing_else, "the removed teacher still got the event"
    assert (seen_by_watcher["type"], seen_by_watcher["name"], seen_by_watcher["note"]) == (
        "attendance",
        "Ada Lovelace",
        "At the dentist",
    )


async def test_a_logged_out_teacher_is_closed_and_their_other_browser_stays(
    open_session: ClassSession, teacher: User
) -> None:
    browser = await logged_in(teacher)
    cookie = (b"cookie", await session_cookie(teacher, browser))
    async with (
        joined(open_session.pk, teacher) as elsewhere,
        connected(open_session.pk, None, headers=[ORIGIN, cookie]) as ws,
    ):
        assert (await ws.connect(timeout=TIMEOUT))[0]
        assert (await ws.receive_json_from(timeout=TIMEOUT))["type"] == "roster"
        response = await browser.post("/logout/")
        code = await closed_with(ws)
        other_browser_served = await still_served(elsewhere)

    assert response.status_code == 302
    assert code == CLOSE_UNAUTHENTICATED
    assert other_browser_served, "a log-out in one browser closed the page of another"


def deactivate(user: User) -> None:
    user.is_active = False
    user.save()


def new_password(user: User) -> None:
    user.set_password("a-new-pass-456")
    user.save()


def no_longer_staff(user: User) -> None:
    user.is_staff = False
    user.save()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (deactivate, CLOSE_UNAUTHENTICATED),
        (new_password, CLOSE_UNAUTHENTICATED),
        (User.delete, CLOSE_UNAUTHENTICATED),
        (no_longer_staff, CLOSE_FORBIDDEN),
    ],
    ids=["deactivated", "new password", "deleted", "staff rights removed"],
)
async def test_a_changed_user_is_closed(
    open_session: ClassSession, staff: User, change: Callable[[User], Any], code: int
) -> None:
    async with joined(open_session.pk, staff) as ws:
        await database_sync_to_async(change)(staff)
        closed = await closed_with(ws)

    assert closed == code


async def test_a_class_session_moved_to_another_course_or_deleted_closes_its_pages(
    open_session: ClassSession, teacher: User, other_teacher: User
) -> None:
    other_course = await database_sync_to_async(Course.objects.create)(code="OTHER", name="Other")

    def move() -> None:
        open_session.course = other_course
        open_session.save()

    async with joined(open_session.pk, teacher) as ws:
        await database_sync_to_async(move)()
        moved = await closed_with(ws)
    await database_sync_to_async(other_course.teachers.add)(teacher)
    async with joined(open_session.pk, teacher) as ws:
        await database_sync_to_async(open_session.delete)()
        deleted = await closed_with(ws)

    assert moved == deleted == CLOSE_FORBIDDEN


def update_teachers_silently(session: ClassSession, teacher: User) -> None:
    # A queryset delete on the through table sends no m2m_changed.
    Course.teachers.through.objects.filter(course_id=session.course_id, user=teacher).delete()


def update_user_silently(session: ClassSession, teacher: User) -> None:
    User.objects.filter(pk=teacher.pk).update(is_active=False)


def flush_sessions_elsewhere(session: ClassSession, teacher: User) -> None:
    Session.objects.all().delete()


def expire_sessions(session: ClassSession, teacher: User) -> None:
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (update_teachers_silently, CLOSE_FORBIDDEN),
        (update_user_silently, CLOSE_UNAUTHENTICATED),
        (flush_sessions_elsewhere, CLOSE_UNAUTHENTICATED),
        (expire_sessions, CLOSE_UNAUTHENTICATED),
    ],
    ids=["teacher removed by a queryset", "user deactivated by a queryset", "sessions deleted", "sessions expired"],
)
async def test_the_periodic_recheck_closes_a_page_whose_right_vanished_without_a_signal(
    open_session: ClassSession, teacher: User, settings: Settings, change: Callable[..., None], code: int
) -> None:
    settings.WEBSOCKET_RECHECK_SECONDS = 1
    async with joined(open_session.pk, teacher) as ws:
        assert await ws.receive_nothing(timeout=1.5), "closed while the teacher still had the right"
        await database_sync_to_async(change)(open_session, teacher)
        closed = await closed_with(ws, timeout=10)

    assert closed == code


@pytest.fixture(scope="module")
def enrolments() -> dict[Path, Enrolled]:
    return {}


@pytest.fixture
def five(enrolments: dict[Path, Enrolled], teacher: User) -> Class:
    """alex_lacamoire, biden, kit_harington, obama and rose_leslie in an open session."""
    students = enrol(FACES / "enroll", enrolments)
    return Class(
        session=open_session_with(teachers=[teacher], students=students.values(), code="PROBE1"), students=students
    )


@pytest.mark.parametrize("signalled", [True, False], ids=["removed", "removed without a signal"])
async def test_frames_after_the_teacher_was_removed_mark_nobody(five: Class, teacher: User, signalled: bool) -> None:
    """Without a signal, the check before marking is what stops the frame that would confirm."""
    frame = photo_frame("probe/two_people.jpg")

    def remove() -> None:
        if signalled:
            five.session.course.teachers.remove(teacher)
        else:
            update_teachers_silently(five.session, teacher)

    async with joined(five.session.pk, teacher) as ws:
        (first,), _ = await send_frames(ws, [frame])
        await database_sync_to_async(remove)()
        for _ in range(2):
            await ws.send_to(bytes_data=frame)
        code = await closed_with(ws, timeout=FRAME_TIMEOUT)
        nothing_else = await ws.receive_nothing(timeout=2)

    assert candidates(first) == {five.id("biden"), five.id("obama")}, "one more frame would have marked them"
    assert code == CLOSE_FORBIDDEN
    assert nothing_else
    assert await records(five.session) == []
