"""Following the faces of a class from frame to frame, and deciding from each face's track who it is.

A *track* is one face followed by box overlap. Each embedding of the track's face gives a verdict:
a student (a match under the rule), a stranger (nearest student at least `stranger_distance`
away, so not even a "maybe"), or nothing (too unsure either way: small faces often are). A track
is *confirmed* as a student once `confirm_after` of its verdicts in a row named that student
(nothing verdicts do not break the row; a stranger or another student does), `confirm_after_small`
for a face narrower than `small_face_px`. A *near* verdict (`Match.near`: just over the
threshold, but far closer to that student than to anybody else) names the student too, and
`confirm_after_near` verdicts in a row, strong or near, also confirm: a student whose every frame
lands at 1.05 from their photo, always nearest by a wide margin, is that student, while a stranger
sits between students (a small margin) and never builds such a row. Before a track is confirmed,
`corroborate` may veto it: a look-alike of one student who lands on them now and then by luck
(two lucky frames among ten) is no row at all once its embeddings are averaged.

A confirmed track keeps its name and is not embedded again while it is followed; a track whose
box jumps (overlap with its last box under `steady_iou`, as when one person steps in front of
another) starts again from nothing: it may be somebody else now. A stranger is embedded again
every `stranger_recheck_every` frames (a student who first turned away); every other face as soon
as `due` has room, the longest-waiting and largest first.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recognition.engine import Face
from recognition.matching import Match

STRANGER_RECHECK_EVERY = 5
# Embeddings of a face kept for the recognizer's check of their average.
EMBEDDINGS_KEPT = 8


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two [x1, y1, x2, y2] boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    track_id: int
    face: Face
    last_seen_frame: int
    last_embedded_frame: int = -1
    match: Match | None = None
    # The student of the latest verdicts in a row, and how many named them.
    student_id: int | None = None
    agreeing: int = 0
    agreeing_near: int = 0
    confirmed: bool = False
    strangers_in_a_row: int = 0
    # The face's latest embeddings, for `corroborate`.
    embeddings: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=EMBEDDINGS_KEPT))

    def forget_identity(self) -> None:
        self.embeddings.clear()
        self.match = None
        self.student_id = None
        self.agreeing = 0
        self.agreeing_near = 0
        self.confirmed = False
        self.strangers_in_a_row = 0


class FaceTracker:
    def __init__(
        self,
        *,
        confirm_after: int = 2,
        confirm_after_small: int = 3,
        confirm_after_near: int = 4,
        small_face_px: float = 0.0,
        min_iou: float = 0.3,
        steady_iou: float = 0.5,
        stranger_recheck_every: int = STRANGER_RECHECK_EVERY,
        stranger_distance: float = math.inf,
        forget_after: int = 10,
        corroborate: Callable[[Track], bool] | None = None,
    ) -> None:
        """`corroborate`: asked before a track whose verdicts suffice is confirmed (the recognizer
        checks the average of the face's latest embeddings); until it agrees the face is embedded
        again."""
        self.confirm_after = confirm_after
        self.confirm_after_small = confirm_after_small
        self.confirm_after_near = confirm_after_near
        self.small_face_px = small_face_px
        self.min_iou = min_iou
        self.steady_iou = steady_iou
        self.stranger_recheck_every = stranger_recheck_every
        self.stranger_distance = stranger_distance
        self.forget_after = forget_after
        self.corroborate = corroborate
        self.tracks: list[Track] = []
        self.frame = -1
        self._next_id = 1

    def followed(self) -> list[Track]:
        """The tracks seen in the latest frame (those to look for again in the next one)."""
        return [track for track in self.tracks if track.last_seen_frame == self.frame]

    def update(self, faces: list[Face]) -> list[Track]:
        """Advance one frame with the faces found in it: the track of each face (in the order of `faces`).

        Faces are paired with the tracks they overlap most; a face that overlaps none starts a track.
        """
        self.frame += 1
        pairs = sorted(
            (
                (iou(track.face.box, face.box), t, f)
                for t, track in enumerate(self.tracks)
                for f, face in enumerate(faces)
            ),
            reverse=True,
        )
        track_of: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for overlap, t, f in pairs:
            if overlap < self.min_iou:
                break
            if t in used_tracks or f in track_of:
                continue
            used_tracks.add(t)
            track_of[f] = self.tracks[t]
            if overlap < self.steady_iou:
                # Possibly somebody else now: no name until the face is embedded again.
                track_of[f].forget_identity()
        for f, face in enumerate(faces):
            track = track_of.get(f)
            if track is None:
                track = Track(track_id=self._next_id, face=face, last_seen_frame=self.frame)
                self._next_id += 1
                self.tracks.append(track)
                track_of[f] = track
            track.face = face
            track.last_seen_frame = self.frame
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen_frame <= self.forget_after]
        return [track_of[f] for f in range(len(faces))]

    def needed_matches(self, track: Track) -> int:
        return self.confirm_after_small if track.face.width < self.small_face_px else self.confirm_after

    def record(self, track: Track, match: Match, embedding: np.ndarray | None = None) -> None:
        """What embedding the track's face in this frame found (and the embedding)."""
        track.match = match
        track.last_embedded_frame = self.frame
        if embedding is not None:
            track.embeddings.append(embedding)
        student_id = match.nearest_student_id if match.near else match.student_id
        if student_id is not None:
            track.strangers_in_a_row = 0
            if student_id != track.student_id:
                track.student_id, track.agreeing, track.agreeing_near = student_id, 0, 0
            track.agreeing_near += 1
            if match.student_id is not None:
                track.agreeing += 1
            enough = track.agreeing >= self.needed_matches(track) or track.agreeing_near >= self.confirm_after_near
            if enough and (self.corroborate is None or self.corroborate(track)):
                track.confirmed = True
        elif match.distance is not None and match.distance >= self.stranger_distance:
            track.student_id, track.agreeing, track.agreeing_near = None, 0, 0
            track.strangers_in_a_row += 1

    def needs_embedding(self, track: Track) -> bool:
        if track.confirmed:
            return False
        if track.strangers_in_a_row >= 2:
            return self.frame - track.last_embedded_frame >= self.stranger_recheck_every
        return True

    def due(self, tracks: list[Track], *, limit: int | None = None) -> list[int]:
        """Indices of the tracks to embed this frame: at most `limit`, the longest-waiting first
        (then the largest face, the likeliest to be named).

        The limit bounds a frame's time when a whole class comes into view at once; the others
        wait a frame or two.
        """
        waiting = sorted(
            (i for i, track in enumerate(tracks) if self.needs_embedding(track)),
            key=lambda i: (tracks[i].last_embedded_frame, -tracks[i].face.width),
        )
        return sorted(waiting[:limit])
