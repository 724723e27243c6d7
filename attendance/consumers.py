"""The live attendance websocket: webcam frames in, faces and attendance out.

Protocol (see README, "Live attendance"): the page sends one binary message per frame (JPEG, PNG
or WebP) and the next one only after the answer. The server answers each processed frame with a
`frame` message, pushes `attendance` and `session` events to every page of the session, sends the
whole `roster` on connect, and answers bad input with `error` while the connection goes on.
Frames that arrive while one is being processed are dropped, never queued. A user may have
WEBSOCKET_MAX_CONNECTIONS_PER_USER connections open at once (attendance/connections.py); each
connection's recognition is its `LiveSession` (attendance/live_session.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from attendance import live
from attendance.channels import session_group
from attendance.connections import connection_slot_release, connection_slot_take
from attendance.live_session import LiveSession
from recognition.engine import FaceModelUnavailable
from recognition.images import ImageRejected

logger = logging.getLogger(__name__)

TEXT_MESSAGE_MAX_CHARS = 4096
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_OPEN = 4409
CLOSE_TOO_MANY = 4429


class SessionConsumer(AsyncJsonWebsocketConsumer):
    session_id: int
    live_session: LiveSession
    busy: bool
    counted_user_id: int | None

    async def connect(self) -> None:
        user = self.scope["user"]
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.live_session = LiveSession(self.session_id)
        self.busy = False
        self.dropped = 0
        self.counted_user_id = None
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        state = await database_sync_to_async(live.session_state_for)(user=user, session_id=self.session_id)
        if state is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if state != "open":
            await self.close(code=CLOSE_NOT_OPEN)
            return
        if not await sync_to_async(connection_slot_take)(user.pk):
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.counted_user_id = user.pk
        await self.channel_layer.group_add(session_group(self.session_id), self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(live.roster_message)(session_id=self.session_id))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer dies of an exception (disconnect() then never runs): a slot
            # left taken would lock the teacher out until the count expires.
            await self.release_slot()

    async def release_slot(self) -> None:
        user_id = getattr(self, "counted_user_id", None)
        if user_id is not None:
            self.counted_user_id = None
            await sync_to_async(connection_slot_release)(user_id)

    async def disconnect(self, code: int) -> None:
        await self.release_slot()
        await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
        if isinstance(message, dict):
            await self.send_error(f"Unknown message type {message.get('type')!r}; the only text message is ping.")
            return
        await self.send_error("Send webcam frames as binary JPEG, PNG or WebP messages; text messages must be JSON.")

    async def process_frame(self, data: bytes) -> None:
        try:
            if len(data) > settings.FRAME_MAX_BYTES:
                limit_kib = settings.FRAME_MAX_BYTES // 1024
                await self.send_error(f"The frame is {len(data) // 1024} KiB; the limit is {limit_kib} KiB.")
                return
            answer = await self.live_session.process_frame(data)
            # Counted until the answer is sent: frames that arrived while this one was processed.
            await self.send_json({**answer, "dropped": self.dropped})
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
            await self.close(code=CLOSE_NOT_OPEN)

    async def send_error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
