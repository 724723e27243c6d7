"""The live attendance websocket with real frames, real photos and the real FaceNet weights.

Two classes are used: the two people of the shared clip, and the five people of
../shared/faces/enroll (students named by their folder: "biden", "obama", ...), enrolled with the
`enrol_folder` command.
"""

from __future__ import annotations

import datetime
import io
import os
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import segno
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.core.management import call_command
from django.test import AsyncClient
from PIL import Image
from pytest_django.fixtures import Settings

from attendance import live
from attendance.consumers import CLOSE_NOT_OPEN, CLOSE_UNAUTHENTICATED
from attendance.live_session import LiveSession
from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from config.asgi import application
from recognition.engine import FaceEngine, FaceModelUnavailable
from students.cards import QR_PREFIX, card_token, student_revoke_cards
from students.models import Student, StudentPhoto
from tests.attendance.builders import open_session_with
from tests.cards import card_frame
from tests.faces import FACES, face_bytes

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
HOST = b"testserver"
# Generous: other test runs may share the machine's two cores, and a timeout cancels the consumer.
TIMEOUT = 30
FRAME_TIMEOUT = 120
PROJECT = Path(__file__).resolve().parents[2]

# --- Frames --------------------------------------------------------------------------------


def encoded(image: Image.Image, format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


LOADING = {"type": "recognition", "state": "loading"}


@cache
def photo_frame(relative: str) -> bytes:
    """A photo of ../shared/faces as the page's camera would send it: a JPEG within 1280x720."""
    with Image.open(FACES / relative) as photo:
        image = photo.convert("RGB")
    image.thumbnail((1280, 720), Image.Resampling.LANCZOS)
    return encoded(image, "JPEG", quality=90)


def video_frames(step: int = 1) -> list[bytes]:
    """Every `step`-th frame of the clip as a JPEG, as the page would send them."""
    capture = cv2.VideoCapture(str(FACES / "video" / "short_hamilton_clip.mp4"))
    frames: list[bytes] = []
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
            index += 1
    finally:
        capture.release()
    return frames


def plain(width: int, height: int, format: str = "PNG") -> bytes:
    return encoded(Image.new("RGB", (width, height), (90, 120, 150)), format)


def noise_jpeg(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    return encoded(Image.fromarray(pixels), "JPEG", quality=95)


# A small valid frame with one face (320x240): the answer that shows the connection still works.
SMALL_FRAME = "edge/obama_small.jpg"

# --- Enrolment ------------------------------------------------------------------------------

STUDENT_FIELDS = ("student_number", "first_name", "last_name", "email", "is_active", "consent_given_at")
PHOTO_FIELDS = (
    "image",
    "width",
    "height",
    "sha256",
    "status",
    "reason",
    "face_box",
    "face_probability",
    "embedding",
    "embedding_model",
    "processed_at",
)


@dataclass(frozen=True)
class Enrolled:
    """The rows `enrol_folder` left for one folder (embeddings included)."""

    students: list[dict[str, Any]]
    photos: list[dict[str, Any]]


@pytest.fixture(scope="module")
def enrolments() -> dict[Path, Enrolled]:
    return {}


def enrol(folder: Path, enrolments: dict[Path, Enrolled]) -> dict[str, Student]:
    """Enrol DIR/<student number>/<photos> with `enrol_folder`; the students by number.

    Every test starts with an empty database; the command runs for the first test of the module
    that needs the folder, and its rows are put back for the next ones rather than computing the
    same embeddings again.
    """
    numbers = sorted(path.name for path in folder.iterdir() if path.is_dir())
    recorded = enrolments.get(folder)
    if recorded is None:
        call_command("enrol_folder", str(folder), "--consent-given", stdout=io.StringIO(), stderr=io.StringIO())
        photos = StudentPhoto.objects.filter(student__student_number__in=numbers)
        recorded = Enrolled(
            students=list(Student.objects.filter(student_number__in=numbers).values(*STUDENT_FIELDS)),
            photos=[
                {**row, "embedding": bytes(row["embedding"])}
                for row in photos.values("student__student_number", *PHOTO_FIELDS)
            ],
        )
        assert {photo["status"] for photo in recorded.photos} == {"ready"}
        enrolments[folder] = recorded
    else:
        for fields in recorded.students:
            Student.objects.create(**fields)
        by_number = {student.student_number: student for student in Student.objects.filter(student_number__in=numbers)}
        for row in recorded.photos:
            fields = {key: value for key, value in row.items() if key != "student__student_number"}
            StudentPhoto.objects.create(student=by_number[row["student__student_number"]], **fields)
    students = {student.student_number: student for student in Student.objects.filter(student_number__in=numbers)}
    assert sorted(students) == numbers
    return students


@dataclass(frozen=True)
class Class:
    session: ClassSession
    students: dict[str, Student]

    def id(self, number: str) -> int:
        return self.students[number].pk


@pytest.fixture(scope="module")
def hamilton_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hamilton")
    for number, relative in [
        ("lin_manuel_miranda", "video/lin-manuel-miranda.png"),
        ("alex_lacamoire", "video/alex-lacamoire.png"),
    ]:
        (folder / number).mkdir()
        (folder / number / "photo.png").write_bytes(face_bytes(relative))
    return folder


@pytest.fixture
def hamilton(enrolments: dict[Path, Enrolled], hamilton_folder: Path, teacher: User) -> Class:
    """The two people of the clip, enrolled from the photos beside it, in an open session."""
    students = enrol(hamilton_folder, enrolments)
    return Class(
        session=open_session_with(teachers=[teacher], students=students.values(), code="MUS1"), students=students
    )


@pytest.fixture
def five(enrolments: dict[Path, Enrolled], teacher: User) -> Class:
    """alex_lacamoire, biden, kit_harington, obama and rose_leslie in an open session."""
    students = enrol(FACES / "enroll", enrolments)
    return Class(
        session=open_session_with(teachers=[teacher], students=students.values(), code="PROBE1"), students=students
    )


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("admin", password="admin-pass-123", is_staff=True)


# --- Talking to the socket -----------------------------------------------------------------


@asynccontextmanager
async def connected(
    session_id: int,
    user: User | AnonymousUser | None,
    headers: Iterable[tuple[bytes, bytes]] = (ORIGIN,),
    *,
    host: bytes = HOST,
) -> AsyncIterator[WebsocketCommunicator]:
    """A communicator for the session's websocket at `host`, always disconnected at the end.

    A user is logged in as in a browser: a Django session of theirs, its cookie sent with `headers`;
    None (or anonymous) sends only `headers`.
    """
    headers = [(b"host", host), *headers]
    if user is not None and user.is_authenticated:
        headers.append((b"cookie", await session_cookie(user)))
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{session_id}/", headers=headers)
    try:
        yield communicator
    finally:
        await communicator.disconnect(timeout=TIMEOUT)


@asynccontextmanager
async def joined(session_id: int, user: User) -> AsyncIterator[WebsocketCommunicator]:
    """Connected, with the roster received."""
    async with connected(session_id, user) as ws:
        accepted, code = await ws.connect(timeout=TIMEOUT)
        assert accepted, f"refused with {code}"
        roster = await ws.receive_json_from(timeout=TIMEOUT)
        assert roster["type"] == "roster"
        yield ws


async def refused_with(ws: WebsocketCommunicator) -> int:
    """Connect; the code the server closes with at once, after accepting (so a page sees it)."""
    accepted, _ = await ws.connect(timeout=TIMEOUT)
    assert accepted, "refused at the handshake: a browser would see 1006, not the reason"
    closed = await ws.receive_output(timeout=TIMEOUT)
    assert closed["type"] == "websocket.close", closed
    return int(closed["code"])


async def send_frame(ws: WebsocketCommunicator, frame: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send one frame and wait for its answer (`frame` or `error`), with the events that came first
    (not the notice that the models are loading, which comes before the first answer)."""
    await ws.send_to(bytes_data=frame)
    events: list[dict[str, Any]] = []
    while True:
        message = await ws.receive_json_from(timeout=FRAME_TIMEOUT)
        if message["type"] in ("frame", "error"):
            return message, events
        if message != LOADING:
            events.append(message)


async def send_frames(ws: WebsocketCommunicator, frames: Iterable[bytes]) -> tuple[list[dict[str, Any]], list[dict]]:
    """Send frames one after the other as the page does; their answers, and every event until quiet."""
    answers, events = [], []
    for frame in frames:
        answer, before = await send_frame(ws, frame)
        answers.append(answer)
        events += before
    return answers, events + await until_quiet(ws)


async def until_quiet(ws: WebsocketCommunicator, seconds: float = 1.0) -> list[dict[str, Any]]:
    """Everything the socket sends until it has been quiet for `seconds`."""
    messages = []
    while not await ws.receive_nothing(timeout=seconds):
        messages.append(await ws.receive_json_from(timeout=TIMEOUT))
    return messages


def named(answer: dict[str, Any]) -> set[int]:
    return {face["student_id"] for face in answer["faces"] if face["student_id"] is not None}


def candidates(answer: dict[str, Any]) -> set[int]:
    """The students offered as "maybe": a face on its way to confirmation is one."""
    return {face["uncertain"]["student_id"] for face in answer["faces"] if face["uncertain"] is not None}


@database_sync_to_async
def records(session: ClassSession) -> list[tuple[str, str, str]]:
    """(student number, status, source) of the session's records."""
    rows = AttendanceRecord.objects.filter(session=session).values_list("student__student_number", "status", "source")
    return sorted(rows)


async def logged_in(user: User) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def session_cookie(user: User, client: AsyncClient | None = None) -> bytes:
    """The Cookie header of a browser where the user is logged in (with `client`, that one's)."""
    client = client or await logged_in(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


# --- Recognition ---------------------------------------------------------------------------


async def test_the_clip_names_only_lin_manuel_miranda_and_marks_him_present(hamilton: Class, teacher: User) -> None:
    lin = hamilton.id("lin_manuel_miranda")

    async with joined(hamilton.session.pk, teacher) as ws:
        # The whole clip, every third frame: about what a page on a laptop sends.
        answers, events = await send_frames(ws, video_frames(step=3))

    assert [answer["type"] for answer in answers] == ["frame"] * len(answers)
    assert set().union(*(named(answer) for answer in answers)) == {lin}
    assert {face["name"] for answer in answers for face in answer["faces"] if face["student_id"] == lin} == {
        "lin_manuel_miranda"
    }
    assert [(event["type"], event["student_id"], event["status"], event["source"]) for event in events] == [
        ("attendance", lin, "present", "face")
    ]
    assert events[0]["first_seen"] is not None
    assert await records(hamilton.session) == [("lin_manuel_miranda", "present", "face")]


async def test_a_photo_of_two_enrolled_people_names_both_and_marks_them_present(five: Class, teacher: User) -> None:
    biden, obama = five.id("biden"), five.id("obama")

    async with joined(five.session.pk, teacher) as ws:
        answers, events = await send_frames(ws, [photo_frame("probe/two_people.jpg")] * 2)

    first, second = answers
    # Named once two matches of each face agree; until then each is offered as "maybe".
    assert named(first) == set() and candidates(first) == {biden, obama}
    assert named(second) == {biden, obama}
    assert {face["name"] for face in second["faces"]} == {"biden", "obama"}
    assert all(face["distance"] < 1.0 and face["uncertain"] is None for face in second["faces"])
    for answer in answers:
        assert all(
            0 <= x1 < x2 <= 1126 and 0 <= y1 < y2 <= 661 for x1, y1, x2, y2 in (f["box"] for f in answer["faces"])
        )
        assert answer["ms"] > 0
    assert sorted((event["type"], event["name"], event["status"]) for event in events) == [
        ("attendance", "biden", "present"),
        ("attendance", "obama", "present"),
    ]
    assert await records(five.session) == [("biden", "present", "face"), ("obama", "present", "face")]


async def test_one_frame_is_not_enough_to_mark_anybody(five: Class, teacher: User) -> None:
    async with joined(five.session.pk, teacher) as ws:
        (answer,), events = await send_frames(ws, [photo_frame("probe/two_people.jpg")])

    assert named(answer) == set()
    assert candidates(answer) == {five.id("biden"), five.id("obama")}
    assert events == []
    assert await records(five.session) == []


@pytest.mark.parametrize(("photo", "faces"), [("probe/multiface.jpg", 6), ("distractors/paul_rudd.jpg", 1)])
async def test_people_not_enrolled_are_named_nobody_and_never_marked(
    five: Class, teacher: User, photo: str, faces: int
) -> None:
    async with joined(five.session.pk, teacher) as ws:
        answers, events = await send_frames(ws, [photo_frame(photo)] * 2)

    for answer in answers:
        assert len(answer["faces"]) == faces
        assert [face["student_id"] for face in answer["faces"]] == [None] * faces
        assert [face["name"] for face in answer["faces"]] == [None] * faces
    assert events == []
    assert await records(five.session) == []


async def test_a_face_just_above_the_threshold_is_uncertain_and_marks_nobody(
    five: Class, teacher: User, settings: Settings
) -> None:
    # In this photo Biden is 0.2 from his photos and Obama 0.63 from his.
    settings.FACE_MATCH_THRESHOLD = 0.5
    settings.FACE_UNCERTAIN_BAND = 0.3
    biden, obama = five.id("biden"), five.id("obama")

    async with joined(five.session.pk, teacher) as ws:
        answers, events = await send_frames(ws, [photo_frame("probe/two_people.jpg")] * 2)

    by_student = {face["student_id"]: face for face in answers[-1]["faces"]}
    assert set(by_student) == {biden, None}
    assert by_student[biden]["uncertain"] is None
    assert by_student[None]["uncertain"] == {"student_id": obama, "name": "obama"}
    assert 0.5 < by_student[None]["distance"] < 0.8
    assert [(event["type"], event["name"]) for event in events] == [("attendance", "biden")]
    assert await records(five.session) == [("biden", "present", "face")]


async def test_streaming_frames_writes_no_file_and_no_photo(five: Class, teacher: User, media_root: Path) -> None:
    before_media, before_project = files_under(media_root), files_under(PROJECT)
    photos = await database_sync_to_async(StudentPhoto.objects.count)()

    async with joined(five.session.pk, teacher) as ws:
        answers, _ = await send_frames(
            ws, [photo_frame("probe/two_people.jpg"), photo_frame("probe/two_people.jpg"), photo_frame(SMALL_FRAME)]
        )

    assert [len(answer["faces"]) for answer in answers] == [2, 2, 1]
    assert files_under(media_root) == before_media
    assert new_data_files(before_project, files_under(PROJECT)) == []
    assert await database_sync_to_async(StudentPhoto.objects.count)() == photos


def files_under(root: Path) -> set[str]:
    skipped = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", "node_modules"}
    found = set()
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if name not in skipped]
        found |= {os.path.relpath(os.path.join(folder, name), root) for name in names}  # noqa: PTH118
    return found


def new_data_files(before: set[str], after: set[str]) -> list[str]:
    # Other people may be editing sources in the project meanwhile; a frame would not be one.
    return sorted(path for path in after - before if not path.endswith((".py", ".pyc")))


# --- Who may connect -----------------------------------------------------------------------


async def test_the_courses_teacher_connects_and_gets_the_roster(
    open_session: ClassSession, teacher: User, student: Student
) -> None:
    async with connected(open_session.pk, teacher) as ws:
        accepted, _ = await ws.connect(timeout=TIMEOUT)
        roster = await ws.receive_json_from(timeout=TIMEOUT)

    assert accepted
    assert roster["type"] == "roster"
    assert roster["session"]["id"] == open_session.pk
    assert roster["session"]["state"] == "open"
    assert roster["session"]["course"] == "CS101"
    assert [(s["student_id"], s["name"], s["status"], s["has_photo"]) for s in roster["students"]] == [
        (student.pk, "Ada Lovelace", None, False)
    ]


async def test_staff_may_connect_to_any_session(open_session: ClassSession, staff: User) -> None:
    async with connected(open_session.pk, staff) as ws:
        accepted, _ = await ws.connect(timeout=TIMEOUT)
        roster = await ws.receive_json_from(timeout=TIMEOUT)

    assert accepted
    assert roster["type"] == "roster"


async def test_a_teacher_logged_in_with_the_session_cookie_connects(open_session: ClassSession, teacher: User) -> None:
    cookie = await session_cookie(teacher)

    async with connected(open_session.pk, None, headers=[ORIGIN, (b"cookie", cookie)]) as ws:
        accepted, _ = await ws.connect(timeout=TIMEOUT)
        roster = await ws.receive_json_from(timeout=TIMEOUT)

    assert accepted
    assert roster["type"] == "roster"


async def test_a_made_up_session_cookie_is_anonymous(open_session: ClassSession) -> None:
    async with connected(open_session.pk, None, headers=[ORIGIN, (b"cookie", b"sessionid=made-up")]) as ws:
        code = await refused_with(ws)

    assert code == CLOSE_UNAUTHENTICATED


# --- Bad input -----------------------------------------------------------------------------

NOT_JSON = re.escape("Send webcam frames as binary JPEG, PNG or WebP messages; text messages must be JSON.")
NOT_AN_IMAGE = re.escape("The file is not a JPEG, PNG or WebP image.")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("hello", NOT_JSON),
        ('{"type": "selfie"}', re.escape("Unknown message type 'selfie'; the text messages are ping and assign.")),
        ('{"frame": "..."}', re.escape("Unknown message type None; the text messages are ping and assign.")),
        ("[1, 2, 3]", NOT_JSON),
        (b"GIF89a, or so it says" * 10, NOT_AN_IMAGE),
        (b"just some bytes", NOT_AN_IMAGE),
        (lambda: encoded(Image.new("RGB", (64, 48)), "GIF"), NOT_AN_IMAGE),
        (
            lambda: photo_frame(SMALL_FRAME)[: len(photo_frame(SMALL_FRAME)) // 2],
            r"The image is damaged or truncated \(.+\)\.$",
        ),
        (lambda: plain(2000, 1200), re.escape("The image is 2000x1200 (2.4 megapixels); the limit is 2.1 megapixels.")),
        (lambda: plain(1930, 1000), re.escape("The frame is 1930x1000; the limit is 1920x1080.")),
        (lambda: noise_jpeg(640, 480), r"The frame is \d+ KiB; the limit is 64 KiB\.$"),
    ],
    ids=[
        "text that is not JSON",
        "JSON of an unknown type",
        "JSON without a type",
        "JSON that is not an object",
        "bytes claiming to be a GIF",
        "bytes that are not an image",
        "a GIF",
        "a truncated JPEG",
        "a frame over 1920x1080",
        "a frame wider than 1920",
        "a frame over FRAME_MAX_BYTES",
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_goes_on(
    open_session: ClassSession, teacher: User, settings: Settings, message: Any, error: str
) -> None:
    settings.FRAME_MAX_BYTES = 64 * 1024
    if callable(message):
        message = message()

    async with joined(open_session.pk, teacher) as ws:
        if isinstance(message, str):
            await ws.send_to(text_data=message)
            answer = await ws.receive_json_from(timeout=FRAME_TIMEOUT)
        else:
            answer, _ = await send_frame(ws, message)
        after, _ = await send_frame(ws, photo_frame(SMALL_FRAME))

    assert answer["type"] == "error"
    assert re.match(error, answer["message"]), answer["message"]
    assert after["type"] == "frame"
    assert len(after["faces"]) == 1


async def test_without_the_face_model_frames_get_an_error_bad_ones_without_waiting_for_it(
    open_session: ClassSession, teacher: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []

    def unavailable() -> FaceEngine:
        loads.append("tried")
        raise FaceModelUnavailable("FACE_EMBEDDER_WEIGHTS=/nowhere.pt: no such file.")

    monkeypatch.setattr(live, "engine", unavailable)
    async with joined(open_session.pk, teacher) as ws:
        bad, _ = await send_frame(ws, b"just some bytes")
        tried_before_a_real_frame = len(loads)
        good, _ = await send_frame(ws, photo_frame(SMALL_FRAME))
        await ws.send_json_to({"type": "ping"})
        pong = await ws.receive_json_from(timeout=TIMEOUT)

    assert bad == {"type": "error", "message": "The file is not a JPEG, PNG or WebP image."}
    assert tried_before_a_real_frame == 0
    # The teacher is told plainly; the path of the weights stays in the server's log.
    assert good == {
        "type": "error",
        "message": "Face recognition is not available on the server; ask an administrator.",
    }
    assert pong == {"type": "pong"}


async def test_ping_gets_pong(open_session: ClassSession, teacher: User) -> None:
    async with joined(open_session.pk, teacher) as ws:
        await ws.send_json_to({"type": "ping"})
        answer = await ws.receive_json_from(timeout=TIMEOUT)

    assert answer == {"type": "pong"}


async def test_the_first_frame_is_preceded_by_a_loading_notice_once(open_session: ClassSession, teacher: User) -> None:
    async with joined(open_session.pk, teacher) as ws:
        await ws.send_to(bytes_data=b"not an image")
        bad = await ws.receive_json_from(timeout=FRAME_TIMEOUT)
        await ws.send_to(bytes_data=photo_frame(SMALL_FRAME))
        first = [await ws.receive_json_from(timeout=FRAME_TIMEOUT) for _ in range(2)]
        await ws.send_to(bytes_data=photo_frame(SMALL_FRAME))
        second = await ws.receive_json_from(timeout=FRAME_TIMEOUT)

    # A bad frame is refused before any model loads.
    assert bad["type"] == "error"
    assert first[0] == LOADING
    assert first[1]["type"] == "frame"
    assert second["type"] == "frame"


async def test_frames_sent_while_one_is_processed_are_dropped(open_session: ClassSession, teacher: User) -> None:
    async with joined(open_session.pk, teacher) as ws:
        await ws.send_to(bytes_data=photo_frame(SMALL_FRAME))
        await ws.send_to(bytes_data=photo_frame(SMALL_FRAME))
        assert await ws.receive_json_from(timeout=FRAME_TIMEOUT) == LOADING
        answer = await ws.receive_json_from(timeout=FRAME_TIMEOUT)
        nothing_else = await ws.receive_nothing(timeout=1.0)

    assert answer["type"] == "frame"
    assert answer["dropped"] == 1
    assert nothing_else


# --- Events shared by every page of the session ---------------------------------------------


async def test_a_manual_correction_is_broadcast_and_face_recognition_keeps_it(five: Class, teacher: User) -> None:
    client = await logged_in(teacher)

    async with joined(five.session.pk, teacher) as ws:
        response = await client.post(
            f"/sessions/{five.session.pk}/records/",
            {"student_id": five.id("obama"), "status": "excused", "note": "At the dentist"},
            content_type="application/json",
        )
        correction = await ws.receive_json_from(timeout=TIMEOUT)
        answers, events = await send_frames(ws, [photo_frame("probe/two_people.jpg")] * 2)

    assert response.status_code == 200
    assert correction == {
        "type": "attendance",
        "student_id": five.id("obama"),
        "name": "obama",
        "status": "excused",
        "first_seen": None,
        "last_seen": None,
        "source": "manual",
        "note": "At the dentist",
        "changed_by": "Tess Teacher",
    }
    assert named(answers[-1]) == {five.id("biden"), five.id("obama")}, "recognised, though marked by hand"
    # The decision stands; the pages are told once that the camera has seen Obama.
    assert sorted((event["name"], event["status"], event["source"]) for event in events) == [
        ("biden", "present", "face"),
        ("obama", "excused", "manual"),
    ]
    assert next(event for event in events if event["name"] == "obama")["last_seen"] is not None
    assert await records(five.session) == [("biden", "present", "face"), ("obama", "excused", "manual")]
    changes = await database_sync_to_async(
        lambda: list(
            AttendanceChange.objects.filter(student__student_number="obama").values_list("source", "changed_by")
        )
    )()
    assert changes == [("manual", teacher.pk)]


async def test_every_page_of_the_session_gets_the_attendance_events(five: Class, teacher: User, staff: User) -> None:
    async with joined(five.session.pk, teacher) as camera, joined(five.session.pk, staff) as watcher:
        _, on_camera = await send_frames(camera, [photo_frame("probe/two_people.jpg")] * 2)
        on_watcher = await until_quiet(watcher)

    for events in (on_camera, on_watcher):
        assert sorted((event["type"], event["name"], event["status"]) for event in events) == [
            ("attendance", "biden", "present"),
            ("attendance", "obama", "present"),
        ]


async def test_closing_the_session_marks_the_unseen_absent_and_closes_the_sockets(five: Class, teacher: User) -> None:
    client = await logged_in(teacher)

    async with joined(five.session.pk, teacher) as ws:
        await send_frames(ws, [photo_frame("probe/two_people.jpg")] * 2)
        response = await client.post(f"/sessions/{five.session.pk}/state/", {"action": "close"})
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "session":
            events.append(await ws.receive_json_from(timeout=TIMEOUT))
        closed = await ws.receive_output(timeout=TIMEOUT)

    assert response.status_code == 302
    assert sorted((event["name"], event["status"], event["source"]) for event in events[:-1]) == [
        ("alex_lacamoire", "absent", "system"),
        ("kit_harington", "absent", "system"),
        ("rose_leslie", "absent", "system"),
    ]
    assert events[-1] == {"type": "session", "state": "closed"}
    assert closed == {"type": "websocket.close", "code": CLOSE_NOT_OPEN}
    assert await records(five.session) == [
        ("alex_lacamoire", "absent", "system"),
        ("biden", "present", "face"),
        ("kit_harington", "absent", "system"),
        ("obama", "present", "face"),
        ("rose_leslie", "absent", "system"),
    ]

    async with connected(five.session.pk, teacher) as again:
        assert await refused_with(again) == CLOSE_NOT_OPEN


async def test_a_frame_in_a_session_closed_meanwhile_marks_nobody_and_closes_the_page(
    five: Class, teacher: User
) -> None:
    async with joined(five.session.pk, teacher) as ws:
        (first,), _ = await send_frames(ws, [photo_frame("probe/two_people.jpg")])
        # Closed without the `session` event: only the check before marking sees it.
        await database_sync_to_async(ClassSession.objects.filter(pk=five.session.pk).update)(state="closed")
        await ws.send_to(bytes_data=photo_frame("probe/two_people.jpg"))
        closed = await ws.receive_output(timeout=FRAME_TIMEOUT)

    assert candidates(first) == {five.id("biden"), five.id("obama")}
    assert closed == {"type": "websocket.close", "code": CLOSE_NOT_OPEN}
    assert await records(five.session) == []


# --- Check-in cards and faces the teacher names ---------------------------------------------


@database_sync_to_async
def in_db(function: Any) -> Any:
    return function()


def qr_frame(text: str) -> bytes:
    """A 1280x720 frame with a QR code of any text (segno, as the cards draw theirs)."""
    code = io.BytesIO()
    segno.make(text, error="m").save(code, kind="png", scale=6, border=4)
    code.seek(0)
    frame = Image.new("RGB", (1280, 720), (100, 104, 112))
    frame.paste(Image.open(code).convert("RGB"), (500, 200))
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


async def card_answer(session: ClassSession, user: User, frame: bytes) -> dict[str, Any]:
    async with joined(session.pk, user) as ws:
        answer, _ = await send_frame(ws, frame)
    assert answer["type"] == "frame", answer
    return answer


# --- Check-in cards -----------------------------------------------------------------------


async def test_a_printed_card_shown_to_the_camera_marks_its_student_as_checked_in_by_card(
    five: Class, teacher: User, tmp_path: Path
) -> None:
    obama = five.students["obama"]
    frame = await in_db(lambda: card_frame(obama, tmp_path=tmp_path))

    answer = await card_answer(five.session, teacher, frame)

    assert answer["cards"] == [{"ok": True, "student_id": obama.pk, "message": "obama checked in: present."}]
    assert set(await records(five.session)) == {("obama", "present", "card")}


@pytest.mark.parametrize(
    ("make_text", "message"),
    [
        (lambda student: QR_PREFIX + card_token(student)[:-3] + "xyz", "This card is not one of this school's cards."),
        (lambda student: "https://example.com/menu?table=4", "This QR code is not a check-in card."),
        (
            lambda student: QR_PREFIX + signing.Signer(salt="other").sign(f"{student.pk}.1"),
            "This card is not one of this school's cards.",
        ),
    ],
    ids=["tampered token", "random text", "signed for something else"],
)
async def test_cards_that_are_not_ours_are_refused_with_a_message(
    five: Class, teacher: User, make_text: Any, message: str
) -> None:
    text = await in_db(lambda: make_text(five.students["biden"]))

    answer = await card_answer(five.session, teacher, qr_frame(text))

    assert answer["cards"] == [{"ok": False, "message": message}]
    assert set(await records(five.session)) == set()


async def test_a_revoked_card_is_refused(five: Class, teacher: User, tmp_path: Path) -> None:
    biden = five.students["biden"]
    frame = await in_db(lambda: card_frame(biden, tmp_path=tmp_path))
    await in_db(lambda: student_revoke_cards(student=biden))

    answer = await card_answer(five.session, teacher, frame)

    assert answer["cards"] == [{"ok": False, "message": "This card was revoked; ask for a new one."}]
    assert set(await records(five.session)) == set()


async def test_a_card_of_another_courses_student_marks_nobody(five: Class, teacher: User, tmp_path: Path) -> None:
    def stranger() -> Student:
        student = Student.objects.create(student_number="X9", first_name="Other", last_name="Course")
        course = Course.objects.create(code="ART2", name="Art")
        Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
        return student

    frame = await in_db(lambda: card_frame(stranger(), tmp_path=tmp_path))
    course_code = five.session.course.code

    answer = await card_answer(five.session, teacher, frame)

    assert answer["cards"] == [
        {"ok": False, "message": f"This card is not for {course_code}: its student is not in this class."}
    ]
    assert set(await records(five.session)) == set()


async def test_a_cards_only_course_never_runs_face_detection(
    five: Class, teacher: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine() -> None:
        raise AssertionError("the face engine was asked for in a cards-only course")

    monkeypatch.setattr(live, "engine", no_engine)
    monkeypatch.setattr(live, "recognizer", no_engine)
    await in_db(lambda: Course.objects.filter(pk=five.session.course_id).update(cards_only=True))
    frame = await in_db(lambda: card_frame(five.students["obama"], tmp_path=tmp_path))

    async with joined(five.session.pk, teacher) as ws:
        faces, _ = await send_frame(ws, photo_frame("probe/two_people.jpg"))
        card, _ = await send_frame(ws, frame)

    assert (faces["type"], faces["faces"], faces["cards"]) == ("frame", [], [])
    assert card["cards"][0]["ok"] is True
    assert set(await records(five.session)) == {("obama", "present", "card")}


# --- Naming a face on the live page -------------------------------------------------------


async def first_face_track(ws: Any, photo: str) -> int:
    """The track of the one face of a photo on its first frame, before any face is confirmed."""
    answer, _ = await send_frame(ws, photo_frame(photo))
    (face,) = answer["faces"]
    assert face["student_id"] is None
    return int(face["track"])


async def test_naming_a_face_marks_the_student_and_may_add_it_as_a_ready_photo(
    five: Class, teacher: User, media_root: Path
) -> None:
    obama = five.students["obama"]
    photos_before = await in_db(lambda: StudentPhoto.objects.filter(student=obama).count())

    async with joined(five.session.pk, teacher) as ws:
        track = await first_face_track(ws, "probe/obama1.jpg")
        await ws.send_json_to({"type": "assign", "track": track, "student_id": obama.pk, "add_photo": True})
        assigned = await ws.receive_json_from(timeout=30)

    assert (assigned["type"], assigned["student_id"], assigned["status"], assigned["source"]) == (
        "assigned",
        obama.pk,
        "present",
        "teacher",
    )
    assert assigned["photo"].startswith("The face was added as a photo")
    assert set(await records(five.session)) == {("obama", "present", "teacher")}
    assert await in_db(lambda: StudentPhoto.objects.filter(student=obama).count()) == photos_before + 1
    photo = await in_db(lambda: StudentPhoto.objects.filter(student=obama).order_by("-pk").first())
    # The crop of the face, not the frame, through the same checks as any photo (tasks run in-process).
    assert (photo.origin, photo.uploaded_by_id, photo.status) == (StudentPhoto.Origin.SESSION, teacher.pk, "ready")
    # Smaller than the frame it came from: the face with a margin.
    frame_width, frame_height = Image.open(io.BytesIO(photo_frame("probe/obama1.jpg"))).size
    assert photo.width < frame_width and photo.height <= frame_height


async def test_a_stranger_named_as_a_student_is_marked_but_the_photo_waits_for_review(
    five: Class, teacher: User, media_root: Path
) -> None:
    kit = five.students["kit_harington"]

    async with joined(five.session.pk, teacher) as ws:
        track = await first_face_track(ws, "distractors/paul_rudd.jpg")
        await ws.send_json_to({"type": "assign", "track": track, "student_id": kit.pk, "add_photo": True})
        assigned = await ws.receive_json_from(timeout=30)

    assert (assigned["type"], assigned["status"], assigned["source"]) == ("assigned", "present", "teacher")
    photo = await in_db(lambda: StudentPhoto.objects.filter(student=kit, origin="session").get())
    assert photo.status == StudentPhoto.Status.REVIEW, photo.reason
    assert photo.reason.startswith("Far from this student's other photos")


async def test_without_consent_no_photo_can_be_added_and_nothing_is_stored(
    five: Class, teacher: User, media_root: Path
) -> None:
    rose = five.students["rose_leslie"]
    await in_db(lambda: Student.objects.filter(pk=rose.pk).update(consent_given_at=None))
    files_before = files_under(media_root)

    async with joined(five.session.pk, teacher) as ws:
        track = await first_face_track(ws, "distractors/paul_rudd.jpg")
        await ws.send_json_to({"type": "assign", "track": track, "student_id": rose.pk, "add_photo": True})
        refused = await ws.receive_json_from(timeout=30)

    # The page offers "Also add this face as a photo" only for students the roster says consented.
    roster = await in_db(lambda: live.roster_message(session_id=five.session.pk))
    assert {s["student_id"]: s["consented"] for s in roster["students"]}[rose.pk] is False
    assert refused == {
        "type": "error",
        "about": "assign",
        "message": f"{rose.full_name} has not consented to face recognition: no photo can be added.",
    }
    assert set(await records(five.session)) == set()
    assert files_under(media_root) == files_before


@pytest.mark.parametrize(
    "message",
    [
        {"type": "assign", "track": 1, "student_id": True},
        {"type": "assign", "track": "1", "student_id": 3},
        {"type": "assign", "student_id": 3, "add_photo": "yes"},
        {"type": "assign", "student_id": 3, "extra": 1},
        {"type": "assign"},
    ],
)
async def test_a_bad_assign_message_is_refused_and_changes_nothing(
    five: Class, teacher: User, message: dict[str, Any]
) -> None:
    async with joined(five.session.pk, teacher) as ws:
        await ws.send_json_to(message)
        answer = await ws.receive_json_from(timeout=10)

    assert (answer["type"], answer.get("about")) == ("error", "assign"), answer
    assert set(await records(five.session)) == set()


async def test_a_student_of_another_course_cannot_be_named(five: Class, teacher: User) -> None:
    other = await in_db(lambda: Student.objects.create(student_number="X1", first_name="Not", last_name="Here"))

    async with joined(five.session.pk, teacher) as ws:
        await ws.send_json_to({"type": "assign", "track": None, "student_id": other.pk, "add_photo": False})
        answer = await ws.receive_json_from(timeout=10)

    assert answer == {
        "type": "error",
        "about": "assign",
        "message": "That student is not enrolled in this session's course.",
    }


async def test_after_the_page_closes_no_crop_of_an_unnamed_face_is_kept(
    five: Class, teacher: User, media_root: Path
) -> None:
    kept: list[LiveSession] = []
    original = LiveSession.__init__

    def remember(self: LiveSession, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        kept.append(self)

    files_before = files_under(media_root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LiveSession, "__init__", remember)
        async with joined(five.session.pk, teacher) as ws:
            await first_face_track(ws, "distractors/paul_rudd.jpg")
            assert kept[0].face_crops, "the unnamed face's crop is kept while the page is open"

    assert kept[0].face_crops == {}
    assert files_under(media_root) == files_before
    assert await in_db(lambda: StudentPhoto.objects.filter(origin=StudentPhoto.Origin.SESSION).exists()) is False
