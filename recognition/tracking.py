"""Following faces from frame to frame by box overlap, so a settled face is not embedded every frame.

A track is *settled* once its last `settle_after` embeddings named the same student; it is then
embedded again only every `recheck_every` frames (to catch a swap of people in the same spot).
Unknown and unsettled faces are embedded every frame they are seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recognition.engine import Face
from recognition.matching import Match

SETTLE_AFTER = 2


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
    recent_students: list[int | None] = field(default_factory=list)
    settle_after: int = SETTLE_AFTER

    @property
    def settled(self) -> bool:
        recent = self.recent_students[-self.settle_after :]
        return len(recent) == self.settle_after and recent[0] is not None and len(set(recent)) == 1

    def record(self, match: Match, frame: int) -> None:
        self.match = match
        self.last_embedded_frame = frame
        self.recent_students = [*self.recent_students[-(self.settle_after - 1) :], match.student_id]


class FaceTracker:
    def __init__(
        self,
        *,
        min_iou: float = 0.3,
        recheck_every: int = 15,
        forget_after: int = 10,
        settle_after: int = SETTLE_AFTER,
    ) -> None:
        self.min_iou = min_iou
        self.settle_after = settle_after
        self.recheck_every = recheck_every
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

    def needs_embedding(self, track: Track) -> bool:
        return not track.settled or self.frame - track.last_embedded_frame >= self.recheck_every
