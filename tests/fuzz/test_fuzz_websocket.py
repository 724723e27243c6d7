"""Fuzzed binary frames and text messages at the live websocket: each gets an answer (`error`, or a
`frame` for bytes that happen to be a valid image, `pong` for a ping), the connection goes on, and
no file appears (in MEDIA_ROOT after each case, under DATA_DIR after the run).

One connection serves every case of a test: it lives on an event loop in its own thread, and the
Hypothesis test (synchronous) hands it one message at a time. The consumer's database calls run in
Channels' own thread, so the session is committed (transactional database), as in
tests/attendance/test_consumers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connections
from hypothesis import given, note, settings
from pytest_django.fixtures import Settings

from attendance.models import ClassSession
from tests.attendance.test_consumers import FRAME_TIMEOUT, TIMEOUT, connected
from tests.fuzz.plugin import Budget, Tally, outcome_of
from tests.fuzz.strategies import Fuzzed, fuzzed_images, samples, text_messages
from tests.students.builders import files_under

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Expected on the way to a refusal (see test_fuzz_upload.py).
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]

T = TypeVar("T")
# How often a known good frame checks that the connection still recognises faces.
LIVENESS_EVERY = 50


class Socket:
    """A connected, joined websocket driven from synchronous code."""

    def __init__(self, session_id: int, user: User) -> None:
        self.session_id, self.user = session_id, user
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-websocket", daemon=True)
        self.thread.start()
        self.sent = 0
        self.connect()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(FRAME_TIMEOUT * 2)

    def connect(self) -> None:
        self.connection = connected(self.session_id, self.user)
        self.ws: WebsocketCommunicator = self.run(self.connection.__aenter__())
        accepted, code = self.run(self.ws.connect(timeout=TIMEOUT))
        assert accepted, f"refused with {code}"
        assert self.run(self.ws.receive_json_from(timeout=TIMEOUT))["type"] == "roster"

    def disconnect(self) -> None:
        # After a crash the communicator raises the consumer's exception again; the case that
        # caused it has already reported it.
        with contextlib.suppress(Exception):
            self.run(self.connection.__aexit__(None, None, None))

    def ensure_open(self) -> None:
        """Connect again if a case ended the connection: that case has failed, and the next ones
        (Hypothesis shrinking it) must not fail only because the connection is gone."""
        if self.ws.future.done():
            self.disconnect()
            self.connect()

    async def exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a websocket message; the first answer that is not an event of the session."""
        # Straight to the application: the communicator's send_to() refuses empty messages,
        # which a browser can send.
        await self.ws.send_input({"type": "websocket.receive", **message})
        while True:
            answer = await self.receive()
            # Events of the session, and the notice that the models are loading, answer nothing.
            if answer["type"] not in ("attendance", "session", "roster", "recognition"):
                return answer

    async def receive(self) -> dict[str, Any]:
        """The next message, or at once the consumer's exception if it crashes meanwhile (the
        communicator alone would notice only when its timeout runs out)."""
        output = asyncio.ensure_future(self.ws.receive_json_from(timeout=FRAME_TIMEOUT))
        await asyncio.wait([output, self.ws.future], return_when=asyncio.FIRST_COMPLETED)
        if not output.done():
            output.cancel()
            self.ws.future.result()
            raise AssertionError("The consumer ended the connection without an answer.")
        return output.result()

    def frame(self, data: bytes) -> dict[str, Any]:
        """Send a binary frame; its answer (`frame` or `error`)."""
        self.ensure_open()
        self.sent += 1
        return self.run(self.exchange({"bytes": data}))

    def text(self, message: str) -> dict[str, Any]:
        self.ensure_open()
        self.sent += 1
        return self.run(self.exchange({"text": message}))

    def is_alive(self) -> bool:
        """A small real face still gets a `frame` answer with the face in it."""
        answer = self.frame(samples()["jpeg"])
        return answer["type"] == "frame" and len(answer["faces"]) == 1

    def close(self) -> None:
        try:
            self.disconnect()
            # The consumer's database calls ran in Channels' thread: close its connection, or the
            # test database cannot be dropped at the end of the run.
            self.run(database_sync_to_async(connections.close_all)())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)
            self.loop.close()


@pytest.fixture
def socket(open_session: ClassSession, teacher: User, settings: Settings) -> Iterator[Socket]:
    # A case that crashes the consumer never releases its connection slot (`disconnect` does not
    # run); the connections that let Hypothesis replay and shrink it must not be refused for that.
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 10_000
    socket = Socket(open_session.pk, teacher)
    try:
        yield socket
    finally:
        socket.close()


@pytest.fixture
def data_files_before() -> list[Path]:
    """The files under DATA_DIR (var/), where the app keeps what it stores outside MEDIA_ROOT."""
    return files_under(django_settings.DATA_DIR)


def expected_answer(message: str) -> str:
    """`pong` for a JSON object of type ping, `error` for anything else."""
    try:
        value = json.loads(message)
    except (ValueError, RecursionError):
        return "error"
    return "pong" if isinstance(value, dict) and value.get("type") == "ping" else "error"


UNKNOWN_TYPE = re.compile(r"^Unknown message type .*; the text messages", re.DOTALL)


def check_error(answer: dict[str, Any]) -> str:
    """The error's message reads as a sentence; the kind of error, for the tally."""
    message = answer["message"]
    assert isinstance(message, str) and message[:1].isupper() and message.endswith("."), answer
    return f"error: {outcome_of(UNKNOWN_TYPE.sub('Unknown message type …; the text messages', message))}"


def test_fuzzed_frames_get_an_answer_and_the_connection_goes_on(
    socket: Socket,
    media_root: Path,
    data_files_before: list[Path],
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    @fuzz_settings(fuzz_budget.websocket_frames)
    @given(fuzzed=fuzzed_images())
    def send(fuzzed: Fuzzed) -> None:
        note(repr(fuzzed))
        answer = socket.frame(fuzzed.data)

        assert answer["type"] in ("frame", "error"), answer
        outcome = "frame" if answer["type"] == "frame" else check_error(answer)
        assert files_under(media_root) == []
        if socket.sent % LIVENESS_EVERY == 0:
            assert socket.is_alive()
        target.record(injected=fuzzed.faults, outcome=outcome)

    with fuzz_tally.target("websocket binary frames") as target:
        send()
        assert socket.is_alive()
    assert files_under(django_settings.DATA_DIR) == data_files_before


def test_fuzzed_text_messages_get_an_answer_and_the_connection_goes_on(
    socket: Socket,
    media_root: Path,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    @fuzz_settings(fuzz_budget.websocket_text)
    @given(message=text_messages())
    def send(message: Fuzzed) -> None:
        note(repr(message))
        text = message.data.decode()
        answer = socket.text(text)

        assert answer["type"] == expected_answer(text), answer
        outcome = "pong" if answer["type"] == "pong" else check_error(answer)
        assert files_under(media_root) == []
        target.record(injected=message.faults, outcome=outcome)

    with fuzz_tally.target("websocket text messages") as target:
        send()
        assert socket.is_alive()
