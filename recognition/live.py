"""Recognising the faces of a live webcam stream, one frame at a time.

Per frame: detect once, follow faces by box overlap, embed the new and unsettled faces in one
batch, match them against the gallery in one matrix operation. A face just above the threshold
(within the uncertain band) names a *candidate* for the teacher to confirm; it never counts as
a match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from django.conf import settings

from recognition.engine import FaceEngine
from recognition.images import ImageRejected, decode_image
from recognition.matching import Gallery, Match, match_faces
from recognition.tracking import FaceTracker, Track

T = TypeVar("T")

# One inference at a time per process: torch already uses every core (TORCH_NUM_THREADS) for
# one frame, and a queue is fairer than several frames fighting over two cores.
_inference_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")


async def run_inference(function: Callable[..., T], *args: object) -> T:
    """Run CPU-heavy recognition off the event loop, so other connections stay responsive."""
    return await asyncio.get_running_loop().run_in_executor(_inference_executor, function, *args)


def decode_frame(data: bytes) -> np.ndarray:
    """A webcam frame within FRAME_MAX_BYTES and FRAME_MAX_WIDTH x FRAME_MAX_HEIGHT (either way up)."""
    width, height = settings.FRAME_MAX_WIDTH, settings.FRAME_MAX_HEIGHT
    image = decode_image(data, max_bytes=settings.FRAME_MAX_BYTES, max_pixels=width * height)
    rows, columns = image.shape[:2]
    # Either way up: the longer side against the longer limit and the shorter against the shorter.
    if max(rows, columns) > max(width, height) or min(rows, columns) > min(width, height):
        raise ImageRejected(f"The frame is {columns}x{rows}; the limit is {width}x{height}.")
    return image


@dataclass(frozen=True)
class LiveFace:
    track_id: int
    box: tuple[float, float, float, float]
    probability: float
    student_id: int | None
    distance: float | None
    candidate_id: int | None
    fresh: bool  # embedded in this frame; only fresh matches count as sightings


class LiveRecognizer:
    def __init__(
        self,
        *,
        engine: FaceEngine,
        gallery: Gallery,
        threshold: float,
        uncertain_band: float,
        min_probability: float,
        settle_after: int = 2,
        min_face_px: int | None = None,
        max_embeds_per_frame: int | None = None,
    ) -> None:
        """`settle_after`: matches of one face in a row before it is trusted without re-embedding
        (at least the number of sightings attendance needs, or confirmation could stall).
        `min_face_px`: faces narrower than this are not looked for, which lets detection run on a
        downscaled copy of the frame. `max_embeds_per_frame`: faces embedded per frame at most."""
        self.engine = engine
        self.settle_after = settle_after
        self.gallery = gallery
        self.threshold = threshold
        self.uncertain_band = uncertain_band
        self.min_probability = min_probability
        self.min_face_px = min_face_px
        self.max_embeds_per_frame = max_embeds_per_frame
        self.tracker = self._new_tracker()

    def _new_tracker(self) -> FaceTracker:
        # A face twice the uncertain band over the threshold is well clear of any "maybe": a
        # stranger, re-checked less often. (Unknown faces lie about 1.3 from everyone; a student's
        # own face drifts up to about 1.2 on bad frames of the shared clip.)
        return FaceTracker(settle_after=self.settle_after, stranger_distance=self.threshold + 2 * self.uncertain_band)

    def replace_gallery(self, gallery: Gallery) -> None:
        # Earlier matches were made against other students: start the tracks afresh.
        self.gallery = gallery
        self.tracker = self._new_tracker()

    def process_frame(self, data: bytes) -> list[LiveFace]:
        """Decode and process one webcam frame; ImageRejected if it is not an acceptable image."""
        return self.process(decode_frame(data))

    def process(self, image: np.ndarray) -> list[LiveFace]:
        detected = self.engine.detect(image, min_face_px=self.min_face_px)
        faces = [face for face in detected if face.probability >= self.min_probability]
        tracks = self.tracker.update(faces)
        todo = self.tracker.due(tracks, limit=self.max_embeds_per_frame)
        if todo:
            embeddings = self.engine.embed(image, [faces[i] for i in todo])
            matches = match_faces(embeddings, self.gallery, threshold=self.threshold)
            # A settled face keeps its name: another face in the frame cannot take it.
            held = {
                track.match.student_id
                for i, track in enumerate(tracks)
                if i not in todo and track.match is not None and track.match.student_id is not None
            }
            for i, match in zip(todo, matches, strict=True):
                if match.student_id in held:
                    match = Match(student_id=None, nearest_student_id=match.nearest_student_id, distance=match.distance)
                self.tracker.record(tracks[i], match)

        fresh = set(todo)
        named = {track.match.student_id for track in tracks if track.match and track.match.student_id is not None}
        return [self._live_face(track, fresh=i in fresh, named=named) for i, track in enumerate(tracks)]

    def _live_face(self, track: Track, *, fresh: bool, named: set[int]) -> LiveFace:
        match = track.match
        candidate = None
        if (
            match is not None
            and match.student_id is None
            and match.distance is not None
            and match.distance < self.threshold + self.uncertain_band
            # Nobody is "maybe" a student whose face is already named in the same frame.
            and match.nearest_student_id not in named
        ):
            candidate = match.nearest_student_id
        return LiveFace(
            track_id=track.track_id,
            box=track.face.box,
            probability=track.face.probability,
            student_id=match.student_id if match else None,
            distance=match.distance if match else None,
            candidate_id=candidate,
            fresh=fresh,
        )
