"""The live attendance websocket: webcam frames in, faces and attendance out.

Protocol (see README, "Live attendance"): the page sends one binary message per frame (JPEG, PNG
or WebP) and the next one only after the answer. The server answers each processed frame with a
`frame` message, pushes `attendance` and `session` events to every page of the session, sends the
whole `roster` on connect, and answers bad input with `error` while the connection goes on.
Frames that arrive while one is being processed are dropped, never queued. A user may have
WEBSOCKET_MAX_CONNECTIONS_PER_USER connections open at once, counted across server processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from attendance import live
from attendance.channels import session_group
from attendance.decisions import SightingLog
from recognition.engine import FaceModelUnavailable
from recognition.images import ImageRejected
from recognition.live import LiveRecognizer, decode_frame, run_inference

logger = logging.getLogger(__name__)

TEXT_MESSAGE_MAX_CHARS = 4096
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_OPEN = 4409
CLOSE_TOO_MANY = 4429


def connection_count_key(user_id: int) -> str:
    return f"ws-connections:user:{user_id}"


def connection_slot_take(user_id: int) -> bool:
    """Count one more open connection of the user, or refuse it (False) if they have the most allowed.

    The count lives in the cache (Redis with several server processes) and is changed only by
    atomic increments. It expires WEBSOCKET_COUNT_TTL_SECONDS after the user's last accepted
    connection, so connections a crashed process never released cannot lock the user out for
    good; a refused attempt (a page retrying) does not keep it alive.
    """
    key = connection_count_key(user_id)
    cache.add(key, 0, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 0, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
        count = cache.incr(key)
    if count > settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER:
        connection_slot_release(user_id)
        return False
    # Also gives a timeout to a key Redis re-created without one (an INCR just after it expired).
    cache.touch(key, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
    return True


def connection_slot_release(user_id: int) -> None:
    key = connection_count_key(user_id)
    try:
        count = cache.decr(key)
    except ValueError:  # expired meanwhile: nothing left to release
        return
    if count <= 0:
        # Gone rather than negative: a count that expired while connections were open must not
        # let the user open more later.
        cache.delete(key)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    session_id: int
    recognizer: LiveRecognizer | None
    busy: bool
    counted_user_id: int | None

    async def connect(self) -> None:
        user = self.scope["user"]
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.recognizer = None
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
        self.sightings = SightingLog()
        self.gallery_checked_at = 0.0
        self.gallery_fingerprint: object = None
        self.names: dict[int, str] = {}

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
        started = time.perf_counter()
        try:
            if len(data) > settings.FRAME_MAX_BYTES:
                limit_kib = settings.FRAME_MAX_BYTES // 1024
                await self.send_error(f"The frame is {len(data) // 1024} KiB; the limit is {limit_kib} KiB.")
                return
            # Decoded first: a bad frame is answered without waiting for the models to load.
            image = await run_inference(decode_frame, data)
            recognizer = await self.current_recognizer()
            faces = await run_inference(recognizer.process, image)
            seen_at = timezone.now()
            confirmed, seen_again = self.sightings.observe(
                [face.student_id for face in faces if face.student_id is not None],
                at=time.monotonic(),
            )
            if confirmed or seen_again:
                await database_sync_to_async(live.record_sightings)(
                    session_id=self.session_id, faces=faces, student_ids=confirmed + seen_again, seen_at=seen_at
                )
            elapsed_ms = (time.perf_counter() - started) * 1000
            await self.send_json(
                live.frame_message(
                    faces,
                    size=(image.shape[1], image.shape[0]),
                    names=self.names,
                    elapsed_ms=elapsed_ms,
                    dropped=self.dropped,
                )
            )
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

    async def current_recognizer(self) -> LiveRecognizer:
        """The connection's recognizer, with its gallery rebuilt when photos or the roster changed."""
        now = time.monotonic()
        if self.recognizer is not None and now - self.gallery_checked_at < settings.GALLERY_REFRESH_SECONDS:
            return self.recognizer
        self.gallery_checked_at = now
        fingerprint = await database_sync_to_async(live.gallery_fingerprint_for)(session_id=self.session_id)
        if self.recognizer is not None and fingerprint == self.gallery_fingerprint:
            return self.recognizer
        engine = await run_inference(live.engine)
        gallery, self.names = await database_sync_to_async(live.gallery_and_names)(
            session_id=self.session_id, model_id=engine.model_id
        )
        self.gallery_fingerprint = fingerprint
        if self.recognizer is None:
            self.recognizer = live.recognizer(engine=engine, gallery=gallery)
        else:
            self.recognizer.replace_gallery(gallery)
        return self.recognizer

    async def session_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["message"])
        if event["message"].get("type") == "session" and event["message"].get("state") != "open":
            await self.close(code=CLOSE_NOT_OPEN)

    async def send_error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
