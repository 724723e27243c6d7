"""Door mode: its page, and its websocket with real frames and the real FaceNet weights (the
students of ../shared/faces/enroll, given names, as in tests/attendance/test_consumers.py).

Whatever the door screen gets, anyone walking past may read: the first names of the students
recognised in the frame, never the roster, a last name or anyone else's attendance.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from attendance import door
from attendance.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_OPEN, CLOSE_UNAUTHENTICATED
from attendance.models import ClassSession
from attendance.services import attendance_set_status, session_close
from config.asgi import application
from students.models import Student
from tests.attendance.builders import open_session_with
from tests.attendance.test_consumers import (
    FRAME_TIMEOUT,
    HOST,
    LOADING,
    ORIGIN,
    TIMEOUT,
    Class,
    Enrolled,
    enrol,
    photo_frame,
    records,
    refused_with,
    session_cookie,
    until_quiet,
)
from tests.cards import card_frame
from tests.faces import FACES

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = {
    "alex_lacamoire": ("Alex", "Lacamoire"),
    "biden": ("Joe", "Biden"),
    "kit_harington": ("Kit", "Harington"),
    "obama": ("Barack", "Obama"),
    "rose_leslie": ("Rose", "Leslie"),
}


@pytest.fixture(scope="module")
def enrolments() -> dict[Path, Enrolled]:
    return {}


@pytest.fixture
def five(enrolments: dict[Path, Enrolled], teacher: User) -> Class:
    """The five people of ../shared/faces/enroll with their names, in an open session."""
    students = enrol(FACES / "enroll", enrolments)
    for number, (first, last) in NAMES.items():
        Student.objects.filter(student_number=number).update(first_name=first, last_name=last)
    return Class(
        session=open_session_with(teachers=[teacher], students=students.values(), code="DOOR1"), students=students
    )


@asynccontextmanager
async def at_the_door(session_id: int, user: User | AnonymousUser) -> AsyncIterator[WebsocketCommunicator]:
    """A communicator for the session's door websocket, logged in as `user`, always disconnected."""
    headers = [(b"host", HOST), ORIGIN]
    if user.is_authenticated:
        headers.append((b"cookie", await session_cookie(user)))
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session_id}/door/", headers=headers)
    try:
        yield communicator
    finally:
        await communicator.disconnect(timeout=TIMEOUT)


async def joined_door(ws: WebsocketCommunicator) -> dict[str, Any]:
    accepted, code = await ws.connect(timeout=TIMEOUT)
    assert accepted, f"refused with {code}"
    return await ws.receive_json_from(timeout=TIMEOUT)


async def door_frame(ws: WebsocketCommunicator, frame: bytes) -> dict[str, Any]:
    """Send one frame; its answer. Nothing but the models' loading notice may come before it."""
    await ws.send_to(bytes_data=frame)
    while True:
        message = await ws.receive_json_from(timeout=FRAME_TIMEOUT)
        if message != LOADING:
            return message


def says_no_name_but(messages: list[dict[str, Any]], allowed: set[str]) -> None:
    """No first or last name of the five is in `messages`, except the `allowed` ones."""
    text = json.dumps(messages)
    for first, last in NAMES.values():
        for name in {first, last} - allowed:
            assert name not in text, f"{name} sent to the door: {text}"


# --- The websocket -------------------------------------------------------------------------


async def test_an_enrolled_student_is_greeted_by_first_name_and_marked_as_on_the_live_page(
    five: Class, teacher: User
) -> None:
    async with at_the_door(five.session.pk, teacher) as ws:
        hello = await joined_door(ws)
        first = await door_frame(ws, photo_frame("probe/obama1.jpg"))
        second = await door_frame(ws, photo_frame("probe/obama1.jpg"))
        after = await until_quiet(ws)

    assert hello == {"type": "door", "session": {"id": five.session.pk, "course": "DOOR1", "state": "open"}}
    # Recognition confirms a face from two agreeing frames, as on the live page.
    assert first == {"type": "door-frame", "greet": [], "unknown": 0, "in_view": 1}
    assert second == {
        "type": "door-frame",
        "greet": [{"first_name": "Barack", "status": "present"}],
        "unknown": 0,
        "in_view": 1,
    }
    # The attendance event of the mark went to the session's pages, not to the door.
    assert after == []
    assert await records(five.session) == [("obama", "present", "face")]
    says_no_name_but([hello, first, second], {"Barack"})


async def test_a_stranger_is_counted_once_in_view_for_a_moment_and_named_nobody(
    five: Class, teacher: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with at_the_door(five.session.pk, teacher) as ws:
        hello = await joined_door(ws)
        just_arrived = await door_frame(ws, photo_frame("distractors/paul_rudd.jpg"))
        # The same face a moment later, without waiting for the moment.
        monkeypatch.setattr(door, "UNKNOWN_AFTER_SECONDS", 0.0)
        staying = await door_frame(ws, photo_frame("distractors/paul_rudd.jpg"))

    assert just_arrived == {"type": "door-frame", "greet": [], "unknown": 0, "in_view": 1}
    assert staying == {"type": "door-frame", "greet": [], "unknown": 1, "in_view": 1}
    assert await records(five.session) == []
    says_no_name_but([hello, just_arrived, staying], set())


async def test_a_student_holding_up_their_check_in_card_is_greeted(five: Class, teacher: User, tmp_path: Path) -> None:
    obama = five.students["obama"]
    frame = await database_sync_to_async(card_frame)(obama, tmp_path=tmp_path)

    async with at_the_door(five.session.pk, teacher) as ws:
        await joined_door(ws)
        answer = await door_frame(ws, frame)

    assert answer == {
        "type": "door-frame",
        "greet": [{"first_name": "Barack", "status": "present"}],
        "unknown": 0,
        "in_view": 0,
    }
    assert await records(five.session) == [("obama", "present", "card")]


async def test_the_door_gets_no_attendance_of_anyone_and_stops_when_the_session_closes(
    open_session: ClassSession, teacher: User, student: Student
) -> None:
    async with at_the_door(open_session.pk, teacher) as ws:
        hello = await joined_door(ws)
        await database_sync_to_async(attendance_set_status)(
            session=open_session, student=student, status="present", changed_by=teacher
        )
        marked = await until_quiet(ws)
        await database_sync_to_async(session_close)(session=open_session)
        closing = await ws.receive_json_from(timeout=TIMEOUT)
        closed = await ws.receive_output(timeout=TIMEOUT)

    assert hello["type"] == "door"
    assert marked == []
    assert closing == {"type": "session", "state": "closed"}
    assert closed == {"type": "websocket.close", "code": CLOSE_NOT_OPEN}
    assert "Lovelace" not in json.dumps([hello, closing]) and "Ada" not in json.dumps([hello, closing])


@pytest.mark.parametrize(("who", "code"), [("other", CLOSE_FORBIDDEN), ("anonymous", CLOSE_UNAUTHENTICATED)])
async def test_the_door_refuses_whoever_may_not_take_attendance(
    open_session: ClassSession, other_teacher: User, who: str, code: int
) -> None:
    user = other_teacher if who == "other" else AnonymousUser()
    async with at_the_door(open_session.pk, user) as ws:
        assert await refused_with(ws) == code


# --- The page ------------------------------------------------------------------------------


def page_of(user: User, session: ClassSession) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(f"/sessions/{session.pk}/door/")


def test_the_door_page_of_an_open_session_has_no_roster_and_the_door_websocket(
    open_session: ClassSession, teacher: User
) -> None:
    response = page_of(teacher, open_session)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'"websocketPath": "/ws/sessions/{open_session.pk}/door/"' in html
    assert "Lovelace" not in html and "Ada" not in html
    assert "<table" not in html
    # Its own screen: not the app's navigation (a student could follow it).
    assert "Log out" not in html
    assert 'src="/static/js/door.js"' in html


def test_the_door_page_of_a_session_not_open_says_so(open_session: ClassSession, teacher: User) -> None:
    open_session.state = ClassSession.State.CLOSED
    open_session.save()

    response = page_of(teacher, open_session)

    html = response.content.decode()
    assert response.status_code == 409
    assert "This session is not open: door mode works only while it is open." in html
    assert "door.js" not in html and "door-config" not in html


def test_the_door_page_is_for_the_courses_teachers_only(open_session: ClassSession, other_teacher: User) -> None:
    assert page_of(other_teacher, open_session).status_code == 404
    response = Client().get(f"/sessions/{open_session.pk}/door/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


async def test_the_door_screen_cannot_name_faces(open_session: ClassSession, teacher: User) -> None:
    async with at_the_door(open_session.pk, teacher) as ws:
        await joined_door(ws)
        await ws.send_json_to({"type": "assign", "track": None, "student_id": 1, "add_photo": True})
        answer = await ws.receive_json_from(timeout=10)

    assert answer == {
        "type": "error",
        "about": "assign",
        "message": "The door screen does not name faces; use the session's live page.",
    }
