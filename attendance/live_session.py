"""One live page's recognition: its recognizer, sighting log, gallery and the names it shows.

The consumer (attendance/consumers.py) speaks the websocket protocol and hands each frame to its
connection's `LiveSession`, which decodes it, recognises the faces, reads the check-in cards held
up to the camera, reports confirmed students to the attendance records (while the page's viewer
still may: else `live.AccessLost`) and returns the `frame` answer. The gallery is rebuilt whenever
its fingerprint changes (a photo ready or deleted, a student deactivated or withdrawing consent,
the course's students changing), checked at most every GALLERY_REFRESH_SECONDS, when the course's
"cards only" setting is read again too (such a course never runs face recognition).

The crops of the faces not recognised (for the teacher to name, and maybe add as a photo) are kept
in this object only, a few and briefly, and dropped with the connection: nothing of a face nobody
named outlives it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from attendance import live
from attendance.decisions import SightingLog
from recognition.images import face_crop, jpeg_bytes
from recognition.live import LiveFace, LiveRecognizer, decode_frame, run_inference
from recognition.qr import read_qr_codes

# Crops of unnamed faces kept at most, and for how long after their face was last in view.
FACE_CROPS_MAX = 64
FACE_CROP_KEEP_SECONDS = 60.0
# A card read again within this time is not checked again (it is held up for a few frames).
CARD_REPEAT_SECONDS = 10.0


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
        self.cards_only = False
        self.frames = 0
        # Card text -> when it was last checked (time.monotonic()).
        self.cards_read: dict[str, float] = {}
        # Track id of an unnamed face -> (when last in view, its crop). Encoded only if the
        # teacher adds it as a photo: most faces are never named.
        self.face_crops: dict[int, tuple[float, np.ndarray]] = {}

    async def process_frame(self, data: bytes, *, viewer: live.Viewer) -> dict[str, Any]:
        """The `frame` answer to one webcam frame of `viewer` (raises ImageRejected,
        FaceModelUnavailable, or AccessLost if the viewer may no longer mark anybody)."""
        started = time.perf_counter()
        # Decoded first: a bad frame is answered without waiting for the models to load.
        image = await run_inference(decode_frame, data)
        self.frames += 1
        recognizer = await self.current_recognizer()
        faces = [] if recognizer is None else await run_inference(recognizer.process, image)
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
        self.keep_face_crops(image, faces)
        cards = []
        if recognizer is None or (self.frames - 1) % settings.CARD_SCAN_EVERY_FRAMES == 0:
            cards = await self.check_in_cards(image, viewer=viewer, seen_at=seen_at)
        return live.frame_message(
            faces,
            size=(image.shape[1], image.shape[0]),
            names=self.names,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            cards=cards,
        )

    async def check_in_cards(self, image: Any, *, viewer: live.Viewer, seen_at: Any) -> list[dict[str, Any]]:
        """The check-in cards in the frame, each marked or refused (a card still held up is not
        checked again for CARD_REPEAT_SECONDS)."""
        now = time.monotonic()
        self.cards_read = {text: at for text, at in self.cards_read.items() if now - at < CARD_REPEAT_SECONDS}
        results = []
        for text in await run_inference(read_qr_codes, image):
            if text in self.cards_read:
                continue
            self.cards_read[text] = now
            results.append(
                await database_sync_to_async(live.check_in_card)(
                    viewer=viewer, session_id=self.session_id, text=text, seen_at=seen_at
                )
            )
        return results

    def keep_face_crops(self, image: Any, faces: list[LiveFace]) -> None:
        """Keep the crop of each face not recognised, for the teacher to name; forget faces gone
        for FACE_CROP_KEEP_SECONDS, and never keep more than FACE_CROPS_MAX."""
        now = time.monotonic()
        for face in faces:
            if face.student_id is not None:
                # Recognised: nobody needs to name it.
                self.face_crops.pop(face.track_id, None)
                continue
            kept = self.face_crops.get(face.track_id)
            self.face_crops[face.track_id] = (
                now,
                face_crop(image, face.box) if kept is None or face.fresh else kept[1],
            )
        recent = sorted(self.face_crops.items(), key=lambda item: item[1][0], reverse=True)
        self.face_crops = {
            track: kept for track, kept in recent[:FACE_CROPS_MAX] if now - kept[0] < FACE_CROP_KEEP_SECONDS
        }

    async def assign_face(
        self, *, track: int | None, student_id: int, add_photo: bool, viewer: live.Viewer
    ) -> dict[str, Any]:
        """The teacher named a face of the page (by its track): see `live.assign_face`."""
        kept = self.face_crops.get(track) if track is not None else None
        crop = await run_inference(jpeg_bytes, kept[1]) if kept and add_photo else None
        answer = await database_sync_to_async(live.assign_face)(
            viewer=viewer, session_id=self.session_id, student_id=student_id, crop=crop, add_photo=add_photo
        )
        # Named: its crop is not kept for anything else.
        if track is not None:
            self.face_crops.pop(track, None)
        return answer

    def forget_faces(self) -> None:
        """The connection ends: nothing of a face nobody named is kept."""
        self.face_crops.clear()
        self.cards_read.clear()

    async def current_recognizer(self) -> LiveRecognizer | None:
        """The recognizer (None in a "cards only" course), with its gallery rebuilt if the
        fingerprint changed since the last check."""
        now = time.monotonic()
        if now - self.gallery_checked_at < settings.GALLERY_REFRESH_SECONDS and (
            self.cards_only or self.recognizer is not None
        ):
            return None if self.cards_only else self.recognizer
        self.gallery_checked_at = now
        self.cards_only = await database_sync_to_async(live.course_cards_only)(session_id=self.session_id)
        if self.cards_only:
            return None
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
