"""One live page's recognition: its recognizer, sighting log, gallery and the names it shows.

The consumer (attendance/consumers.py) speaks the websocket protocol and hands each frame to its
connection's `LiveSession`, which decodes it, recognises the faces, reports confirmed students to
the attendance records (while the page's viewer still may: else `live.AccessLost`) and returns the
`frame` answer. The gallery is rebuilt whenever its fingerprint changes (a photo ready or deleted,
a student deactivated or withdrawing consent, the course's students changing), checked at most
every GALLERY_REFRESH_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from attendance import live
from attendance.decisions import SightingLog
from recognition.live import LiveRecognizer, decode_frame, run_inference


class LiveSession:
    def __init__(self, session_id: int, *, on_loading: Callable[[], Awaitable[None]]) -> None:
        """`on_loading` is awaited before the first recognizer is built, which loads the models."""
        self.session_id = session_id
        self.on_loading = on_loading
        self.recognizer: LiveRecognizer | None = None
        self.sightings = SightingLog()
        self.gallery_fingerprint: object = None
        self.gallery_checked_at = 0.0
        self.names: dict[int, str] = {}

    async def process_frame(self, data: bytes, *, viewer: live.Viewer) -> dict[str, Any]:
        """The `frame` answer to one webcam frame of `viewer` (raises ImageRejected,
        FaceModelUnavailable, or AccessLost if the viewer may no longer mark anybody)."""
        started = time.perf_counter()
        # Decoded first: a bad frame is answered without waiting for the models to load.
        image = await run_inference(decode_frame, data)
        recognizer = await self.current_recognizer()
        faces = await run_inference(recognizer.process, image)
        seen_at = timezone.now()
        confirmed, seen_again = self.sightings.observe(
            [face.student_id for face in faces if face.student_id is not None], at=time.monotonic()
        )
        if confirmed or seen_again:
            await database_sync_to_async(live.record_sightings)(
                viewer=viewer,
                session_id=self.session_id,
                faces=faces,
                student_ids=confirmed + seen_again,
                seen_at=seen_at,
            )
        return live.frame_message(
            faces,
            size=(image.shape[1], image.shape[0]),
            names=self.names,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    async def current_recognizer(self) -> LiveRecognizer:
        """The recognizer, with its gallery rebuilt if the fingerprint changed since the last check."""
        now = time.monotonic()
        if self.recognizer is not None and now - self.gallery_checked_at < settings.GALLERY_REFRESH_SECONDS:
            return self.recognizer
        self.gallery_checked_at = now
        if self.recognizer is None:
            await self.on_loading()
        engine = await run_inference(live.engine)
        fingerprint = await database_sync_to_async(live.gallery_fingerprint_for)(
            session_id=self.session_id, model_id=engine.model_id
        )
        if self.recognizer is not None and fingerprint == self.gallery_fingerprint:
            return self.recognizer
        gallery, self.names = await database_sync_to_async(live.gallery_and_names)(
            session_id=self.session_id, model_id=engine.model_id
        )
        self.gallery_fingerprint = fingerprint
        if self.recognizer is None:
            self.recognizer = live.recognizer(engine=engine, gallery=gallery)
        else:
            self.recognizer.replace_gallery(gallery)
        return self.recognizer
