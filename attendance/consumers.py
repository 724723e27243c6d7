"""The live attendance websocket: webcam frames in, faces and attendance out.

Protocol (see README, "Live attendance"): the page sends one binary message per frame (JPEG, PNG
or WebP) and the next one only after the answer. The server answers each processed frame with a
`frame` message (the first one after a `recognition` "loading" message, while the models load),
pushes `attendance` and `session` events to every page of the session, sends the
whole `roster` on connect, and answers bad input with `error` while the connection goes on.
Frames that arrive while one is being processed are dropped, never queued. A user may have
WEBSOCKET_MAX_CONNECTIONS_PER_USER connections open at once (attendance/connections.py); each
connection's recognition is its `LiveSession` (attendance/live_session.py).

Every connection is accepted, then closed with its code if refused: a refusal at the handshake
reaches the browser as 1006, without its reason. Whether the user may still watch the session
(`live.access`) is checked again when their rights, their Django session or the class session
change (attendance/receivers.py), every WEBSOCKET_RECHECK_SECONDS, and before frames mark anybody;
once it fails, the page is closed with the code and gets nothing more.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, TypeGuard

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from attendance import live
from attendance.channels import session_group, user_group
from attendance.connections import connection_slot_release, connection_slot_take
from attendance.live_session import LiveSession
from attendance.models import ClassSession
from config.web import ApplicationError
from recognition.engine import FaceModelUnavailable
from recognition.images import ImageRejected

logger = logging.getLogger(__name__)

TEXT_MESSAGE_MAX_CHARS = 4096
BAD_ASSIGN = 'Send {"type": "assign", "track": <face track or null>, "student_id": <id>, "add_photo": false}.'
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_OPEN = 4409
CLOSE_TOO_MANY = 4429
# The right could not be checked (the database failed): the page reconnects.
CLOSE_SERVER_ERROR = 1011


def _is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def close_code(access: str) -> int:
    """The close code for a `live.access` answer other than "open"."""
    return {live.UNAUTHENTICATED: CLOSE_UNAUTHENTICATED, live.FORBIDDEN: CLOSE_FORBIDDEN}.get(access, CLOSE_NOT_OPEN)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    session_id: int
    viewer: live.Viewer
    live_session: LiveSession
    busy: bool
    closing: bool
    counted_user_id: int | None
    joined_groups: list[str]
    recheck_task: asyncio.Future[None] | None

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.viewer = live.Viewer(session_key=self.scope["session"].session_key, user_id=self.scope["user"].pk)
        self.live_session = LiveSession(self.session_id, on_loading=self.send_loading)
        self.busy = False
        self.closing = False
        self.dropped = 0
        self.counted_user_id = None
        self.joined_groups = []
        self.recheck_task = None
        await self.accept()
        if self.viewer.user_id is not None:
            # Joined before the check: a right taken away meanwhile still closes the page.
            await self.join(user_group(self.viewer.user_id))
        access = await database_sync_to_async(live.access)(viewer=self.viewer, session_id=self.session_id)
        if access != ClassSession.State.OPEN:
            await self.end(close_code(access))
            return
        user_id = self.scope["user"].pk
        if not await sync_to_async(connection_slot_take)(user_id):
            await self.end(CLOSE_TOO_MANY)
            return
        self.counted_user_id = user_id
        await self.join(session_group(self.session_id))
        await self.joined()
        self.recheck_task = asyncio.ensure_future(self.recheck_every())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            recheck_task = getattr(self, "recheck_task", None)
            if recheck_task is not None:
                recheck_task.cancel()
            # Also when the consumer dies of an exception (disconnect() then never runs): a slot
            # left taken would lock the teacher out until the count expires.
            await self.release_slot()

    async def joined(self) -> None:
        """The page may watch the session and gets its events from now on: it gets the roster."""
        await self.send_json(await database_sync_to_async(live.roster_message)(session_id=self.session_id))

    async def answer_frame(self, answer: dict[str, Any]) -> None:
        """The answer to one processed frame, as the page gets it."""
        # Counted until the answer is sent: frames that arrived while this one was processed.
        await self.send_json({**answer, "dropped": self.dropped})

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined_groups.append(group)

    async def release_slot(self) -> None:
        user_id = getattr(self, "counted_user_id", None)
        if user_id is not None:
            self.counted_user_id = None
            await sync_to_async(connection_slot_release)(user_id)

    async def disconnect(self, code: int) -> None:
        self.live_session.forget_faces()
        await self.release_slot()
        for group in self.joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def end(self, code: int) -> None:
        """Close with `code`; from then on nothing is sent or recorded on this connection."""
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    async def send_json(self, content: Any, close: bool = False) -> None:
        # The one way out to the page: a page closed because its rights are gone gets no more
        # names, statuses or notes, also from a frame or an event already under way.
        if not self.closing:
            await super().send_json(content, close=close)

    async def recheck(self) -> None:
        try:
            access = await database_sync_to_async(live.access)(viewer=self.viewer, session_id=self.session_id)
        except Exception:
            logger.exception("Could not check the rights of a live page of session %s", self.session_id)
            await self.end(CLOSE_SERVER_ERROR)
            return
        # A session that stopped being open closes its pages itself, after its last events (the
        # `session` event); its frames mark nobody meanwhile (AccessLost).
        if access in (live.UNAUTHENTICATED, live.FORBIDDEN):
            await self.end(close_code(access))

    async def recheck_every(self) -> None:
        # Also catches what no signal reports: queryset updates, sessions flushed or expired.
        while not self.closing:
            await asyncio.sleep(settings.WEBSOCKET_RECHECK_SECONDS)
            await self.recheck()

    async def access_recheck(self, event: dict[str, Any]) -> None:
        """The user's rights or their Django session changed (attendance/receivers.py)."""
        if self.viewer.session_key is not None and event.get("ended_session_key") == self.viewer.session_key:
            await self.end(CLOSE_UNAUTHENTICATED)
        else:
            await self.recheck()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if bytes_data is not None:
            if self.busy:
                self.dropped += 1
                return
            self.busy = True
            self.frame_task = asyncio.ensure_future(self.process_frame(bytes_data))
            return
        text = text_data or ""
        try:
            # Control messages are tiny; anything longer is refused before parsing, and deeply
            # nested JSON (RecursionError) is just bad JSON.
            message = json.loads(text) if len(text) <= TEXT_MESSAGE_MAX_CHARS else None
        except (ValueError, TypeError, RecursionError):
            message = None
        if isinstance(message, dict) and message.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        if isinstance(message, dict) and message.get("type") == "assign":
            await self.assign(message)
            return
        if isinstance(message, dict):
            await self.send_error(
                f"Unknown message type {message.get('type')!r}; the text messages are ping and assign."
            )
            return
        await self.send_error("Send webcam frames as binary JPEG, PNG or WebP messages; text messages must be JSON.")

    async def assign(self, message: dict[str, Any]) -> None:
        """The teacher names a face of the page: {"type": "assign", "track": <the face's track or
        null>, "student_id": <id>, "add_photo": <bool>}; answered with `assigned` or `error`."""
        track, student_id, add_photo = message.get("track"), message.get("student_id"), message.get("add_photo", False)
        # bool is an int in Python: true is not a student id.
        if (
            not _is_id(student_id)
            or not (track is None or _is_id(track))
            or not isinstance(add_photo, bool)
            or set(message) - {"type", "track", "student_id", "add_photo"}
        ):
            await self.send_error(BAD_ASSIGN, about="assign")
            return
        try:
            answer = await self.live_session.assign_face(
                track=track, student_id=student_id, add_photo=add_photo, viewer=self.viewer
            )
        except live.AccessLost as exc:
            await self.end(close_code(exc.access))
        except ApplicationError as exc:
            await self.send_error(exc.message, about="assign")
        else:
            await self.send_json(answer)

    async def process_frame(self, data: bytes) -> None:
        try:
            if len(data) > settings.FRAME_MAX_BYTES:
                limit_kib = settings.FRAME_MAX_BYTES // 1024
                await self.send_error(f"The frame is {len(data) // 1024} KiB; the limit is {limit_kib} KiB.")
                return
            answer = await self.live_session.process_frame(data, viewer=self.viewer)
            await self.answer_frame(answer)
        except live.AccessLost as exc:
            await self.end(close_code(exc.access))
        except ImageRejected as exc:
            await self.send_error(str(exc))
        except FaceModelUnavailable as exc:
            logger.error("Face model unavailable: %s", exc)
            await self.send_error("Face recognition is not available on the server; ask an administrator.")
        except Exception:
            # One bad frame must not end the teacher's session.
            logger.exception("Frame processing failed in session %s", self.session_id)
            await self.send_error("This frame could not be processed.")
        finally:
            self.busy = False

    async def session_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["message"])
        if event["message"].get("type") == "session" and event["message"].get("state") != "open":
            await self.end(CLOSE_NOT_OPEN)

    async def send_loading(self) -> None:
        # The first good frame loads the face models (seconds on a cold server): the page says so.
        await self.send_json({"type": "recognition", "state": "loading"})

    async def send_error(self, message: str, *, about: str | None = None) -> None:
        """An `error` for a bad frame or message; `about` "assign" when it answers an assign message."""
        error = {"type": "error", "message": message}
        if about is not None:
            error["about"] = about
        await self.send_json(error)
