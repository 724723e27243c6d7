"""Following faces from frame to frame by box overlap, so a settled face is not embedded every frame.

A track is *settled* once its last `settle_after` embeddings agreed: all named the same student,
or all found a stranger (nearest student at least `stranger_distance` away, so not even a "maybe").
A settled student is embedded again every `recheck_every` frames (to catch a swap of people in the
same spot), a settled stranger every `stranger_recheck_every` frames (to catch a student who first
turned away). A face whose box jumped (overlap with its last box under `steady_iou`, as at a cut
or when one person steps in front of another) is unsettled and loses its name: it may be somebody
else now. Other faces are embedded every frame they are seen, as far as `due` allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from recognition.engine import Face
from recognition.matching import Match

SETTLE_AFTER = 2
STRANGER: Literal["stranger"] = "stranger"
# What one embedding said about a track: a student, a stranger, or neither (near a student, or no match yet).
Verdict = int | Literal["stranger"] | None


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
    recent_verdicts: list[Verdict] = field(default_factory=list)
    settle_after: int = SETTLE_AFTER

    @property
    def settled_as(self) -> Verdict:
        """The student (or STRANGER) the last `settle_after` embeddings all agreed on, else None."""
        recent = self.recent_verdicts[-self.settle_after :]
        if len(recent) == self.settle_after and len(set(recent)) == 1:
            return recent[0]
        return None

    @property
    def settled(self) -> bool:
        return self.settled_as is not None


class FaceTracker:
    def __init__(
        self,
        *,
        min_iou: float = 0.3,
        steady_iou: float = 0.6,
        recheck_every: int = 15,
        stranger_recheck_every: int = 5,
        stranger_distance: float = math.inf,
        forget_after: int = 10,
        settle_after: int = SETTLE_AFTER,
    ) -> None:
        self.min_iou = min_iou
        self.steady_iou = steady_iou
        self.settle_after = settle_after
        self.recheck_every = recheck_every
        self.stranger_recheck_every = stranger_recheck_every
        self.stranger_distance = stranger_distance
        self.forget_after = forget_after
        self.tracks: list[Track] = []
        self.frame = -1
        self._next_id = 1

    def update(self, faces: list[Face]) -> list[Track]:
        """Advance one frame: the track of each face (in the order of `faces`)."""
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
                track_of[f].recent_verdicts = []
                track_of[f].match = None
        for f, face in enumerate(faces):
            track = track_of.get(f)
            if track is None:
                track = Track(
                    track_id=self._next_id, face=face, last_seen_frame=self.frame, settle_after=self.settle_after
                )
                self._next_id += 1
                self.tracks.append(track)
                track_of[f] = track
            track.face = face
            track.last_seen_frame = self.frame
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen_frame <= self.forget_after]
        return [track_of[f] for f in range(len(faces))]

    def record(self, track: Track, match: Match) -> None:
        """What embedding the track's face in this frame found."""
        verdict: Verdict = match.student_id
        if verdict is None and match.distance is not None and match.distance >= self.stranger_distance:
            verdict = STRANGER
        track.match = match
        track.last_embedded_frame = self.frame
        track.recent_verdicts = [*track.recent_verdicts[-(self.settle_after - 1) :], verdict]

    def needs_embedding(self, track: Track) -> bool:
        settled_as = track.settled_as
        if settled_as is None:
            return True
        every = self.stranger_recheck_every if settled_as == STRANGER else self.recheck_every
        return self.frame - track.last_embedded_frame >= every

    def due(self, tracks: list[Track], *, limit: int | None = None) -> list[int]:
        """Indices of the tracks to embed this frame: at most `limit`, those waiting longest first.

        The limit bounds a frame's time when many faces appear at once; the others wait a frame or two.
        """
        waiting = sorted(
            (i for i, track in enumerate(tracks) if self.needs_embedding(track)),
            key=lambda i: tracks[i].last_embedded_frame,
        )
        return sorted(waiting[:limit])
