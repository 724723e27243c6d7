"""Recognising the faces of a live webcam stream, one frame at a time.

Per frame: find the faces (the whole frame every few frames, otherwise only where the faces
already were), follow them by box overlap, embed the faces not yet confirmed in one batch (as
many as the frame's budget allows), and match them against the gallery in one matrix operation.
A face is named only once its track is confirmed (recognition/tracking.py). A face on its way to
confirmation, or just above the threshold, names a *candidate* for the teacher to confirm; a
candidate never counts as a match.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from django.conf import settings

from recognition.engine import Face, FaceModels
from recognition.identify import uncertain_student
from recognition.images import ImageRejected, decode_image
from recognition.matching import Gallery, MatchRule, match_faces
from recognition.tracking import FaceTracker, Track, iou

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
    # Set only once the face's track is confirmed as the student (see recognition/tracking.py).
    student_id: int | None
    distance: float | None
    # Who the face may be, for the teacher to confirm: the student its track is on the way to
    # (not yet confirmed), or the nearest student within the uncertain band.
    candidate_id: int | None
    fresh: bool  # embedded in this frame


class LiveRecognizer:
    def __init__(
        self,
        *,
        engine: FaceModels,
        gallery: Gallery,
        rule: MatchRule,
        uncertain_band: float,
        min_probability: float,
        min_face_px: int | None = None,
        detection_max_side: int | None = None,
        detect_every: int = 1,
        max_embeds_per_frame: int | None = None,
        confirm_after: int = 2,
        confirm_after_small: int = 3,
        confirm_after_near: int = 4,
    ) -> None:
        """`min_face_px`: faces narrower than this are not looked for, and `detection_max_side` caps
        the size of the copy detection runs on. The whole frame is searched every `detect_every`
        frames; in between the faces already found are followed by MTCNN's last stage alone, so a
        face that comes into view is found within `detect_every` frames. `max_embeds_per_frame`:
        faces embedded per frame at most. `confirm_after` (`confirm_after_small` for small faces):
        agreeing matches that confirm a face's track as a student, `confirm_after_near` near or full
        matches in a row (near matches: see `MatchRule`)."""
        self.engine = engine
        self.gallery = gallery
        self.rule = rule
        self.uncertain_band = uncertain_band
        self.min_probability = min_probability
        self.min_face_px = min_face_px
        self.detection_max_side = detection_max_side
        self.detect_every = detect_every
        self.max_embeds_per_frame = max_embeds_per_frame

        def new_tracker() -> FaceTracker:
            # A face twice the uncertain band over the threshold is well clear of any "maybe": a
            # stranger, re-checked less often. (Unknown faces lie about 1.3 from everyone.)
            return FaceTracker(
                confirm_after=confirm_after,
                confirm_after_small=confirm_after_small,
                confirm_after_near=confirm_after_near,
                small_face_px=rule.small_face_px,
                stranger_distance=rule.threshold + 2 * uncertain_band,
                corroborate=self._average_agrees,
            )

        self._new_tracker = new_tracker
        self.tracker = new_tracker()
        self.last_full_detection = -math.inf

    def replace_gallery(self, gallery: Gallery) -> None:
        # Earlier matches were made against other students: start the tracks afresh.
        self.gallery = gallery
        self.tracker = self._new_tracker()
        self.last_full_detection = -math.inf

    def process_frame(self, data: bytes) -> list[LiveFace]:
        """Decode and process one webcam frame; ImageRejected if it is not an acceptable image."""
        return self.process(decode_frame(data))

    def find_faces(self, image: np.ndarray) -> list[Face]:
        """This frame's faces: the followed faces looked at again, or the whole frame searched (every
        `detect_every` frames, and whenever none of the followed faces is still there: a cut, or
        the camera moved)."""
        followed = self.tracker.followed()
        frame = self.tracker.frame + 1
        if followed and frame - self.last_full_detection < self.detect_every:
            refined = self.engine.refine(image, [track.face.box for track in followed])
            kept = [face for face in refined if face.probability >= self.min_probability]
            if kept:
                return _without_overlaps(kept)
        self.last_full_detection = frame
        detected = self.engine.detect(image, min_face_px=self.min_face_px, max_side=self.detection_max_side)
        return [face for face in detected if face.probability >= self.min_probability]

    def process(self, image: np.ndarray) -> list[LiveFace]:
        faces = self.find_faces(image)
        tracks = self.tracker.update(faces)
        todo = self.tracker.due(tracks, limit=self.max_embeds_per_frame)
        if todo:
            embeddings = self.engine.embed(image, [faces[i] for i in todo])
            # A confirmed face keeps its name: no other face can take it.
            held = {track.student_id for track in tracks if track.confirmed and track.student_id is not None}
            matches = match_faces(
                embeddings, self.gallery, rule=self.rule, widths=[faces[i].width for i in todo], excluded=held
            )
            for i, match, embedding in zip(todo, matches, embeddings, strict=True):
                self.tracker.record(tracks[i], match, embedding)

        fresh = set(todo)
        named = {track.student_id for track in tracks if track.confirmed}
        return [self._live_face(track, fresh=i in fresh, named=named) for i, track in enumerate(tracks)]

    def _average_agrees(self, track: Track) -> bool:
        """Whether the average of the face's latest embeddings is the track's student too: within
        the uncertain band over the threshold and by the rule's margin, and nobody else's face.

        Single frames of a stranger who looks like a student land on them now and then; their
        average stays between students (measured on the classroom video: margin 0.02-0.05 for the
        look-alike, 0.11 and more for every student in view)."""
        if not track.embeddings:
            return False
        average = np.mean(track.embeddings, axis=0)
        average /= np.linalg.norm(average)
        held = {other.student_id for other in self.tracker.tracks if other.confirmed and other is not track}
        rule = MatchRule(threshold=self.rule.threshold + self.uncertain_band, margin=self.rule.margin)
        [match] = match_faces(average[None, :], self.gallery, rule=rule, excluded={s for s in held if s is not None})
        return match.student_id is not None and match.student_id == track.student_id

    def _live_face(self, track: Track, *, fresh: bool, named: set[int | None]) -> LiveFace:
        match = track.match
        candidate = None
        if not track.confirmed and track.student_id is not None:
            candidate = track.student_id
        elif match is not None:
            candidate = uncertain_student(match, rule=self.rule, uncertain_band=self.uncertain_band)
        if candidate in named:
            # Nobody is "maybe" a student whose face is already named in the same frame.
            candidate = None
        return LiveFace(
            track_id=track.track_id,
            box=track.face.box,
            probability=track.face.probability,
            student_id=track.student_id if track.confirmed else None,
            distance=match.distance if match else None,
            candidate_id=candidate,
            fresh=fresh,
        )


def _without_overlaps(faces: list[Face], *, max_iou: float = 0.5) -> list[Face]:
    """The faces less a face that mostly covers an earlier one (two tracks that slid onto one face)."""
    kept: list[Face] = []
    for face in faces:
        if all(iou(face.box, other.box) <= max_iou for other in kept):
            kept.append(face)
    return kept
