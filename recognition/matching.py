"""Matching face embeddings against a gallery of enrolled students (numpy only, no torch).

A face is the nearest student if the L2 distance between unit embeddings is under the threshold
and the second-nearest student is at least a margin farther (both stricter for small faces, see
`MatchRule`); a student's distance is the smallest over all of their photos. All faces of a frame are compared
with the whole gallery in one matrix operation, and one student is given to at most one face of a
frame (the closest), so a look-alike in the same picture never takes a name that is already there.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gallery:
    """Enrolled embeddings, grouped by student: rows `starts[i]`.. belong to `student_ids[i]`."""

    student_ids: np.ndarray  # (S,) int64, distinct
    starts: np.ndarray  # (S,) int64, first row of each student in `embeddings`
    embeddings: np.ndarray  # (M, D) float32, unit rows

    @classmethod
    def build(cls, rows: Iterable[tuple[int, np.ndarray]]) -> Gallery:
        pairs = sorted(rows, key=lambda row: row[0])
        if not pairs:
            return cls.empty()
        owners = np.array([student_id for student_id, _ in pairs], dtype=np.int64)
        embeddings = np.stack([np.asarray(vector, dtype=np.float32) for _, vector in pairs])
        student_ids, starts = np.unique(owners, return_index=True)
        return cls(student_ids=student_ids, starts=starts.astype(np.int64), embeddings=embeddings)

    @classmethod
    def empty(cls, dim: int = 512) -> Gallery:
        return cls(
            student_ids=np.zeros(0, dtype=np.int64),
            starts=np.zeros(0, dtype=np.int64),
            embeddings=np.zeros((0, dim), dtype=np.float32),
        )

    def __len__(self) -> int:
        return len(self.student_ids)

    def student_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, S): each face's smallest distance to each student's photos."""
        if not len(self) or not len(embeddings):
            return np.zeros((len(embeddings), len(self)), dtype=np.float32)
        squared = (
            np.sum(embeddings**2, axis=1)[:, None]
            + np.sum(self.embeddings**2, axis=1)[None, :]
            - 2.0 * embeddings @ self.embeddings.T
        )
        distances = np.sqrt(np.maximum(squared, 0.0))
        return np.minimum.reduceat(distances, self.starts, axis=1)


@dataclass(frozen=True)
class MatchRule:
    """When a face counts as a student: under `threshold`, and at least `margin` closer to that
    student than to the next one. Faces narrower than `small_face_px` are blurrier and sit closer
    to everybody, so they need the stricter `small_threshold` and `small_margin`.

    A face that is no match but lies under `near_threshold` and at least `near_margin` closer to
    its nearest student than to the next is a *near* match of that student: not enough on its
    own, but a row of them confirms a face's track (recognition/tracking.py)."""

    threshold: float
    margin: float = 0.0
    small_face_px: float = 0.0
    small_threshold: float = math.inf
    small_margin: float = 0.0
    near_threshold: float = 0.0
    near_margin: float = math.inf

    def for_width(self, width: float) -> tuple[float, float]:
        """(threshold, margin) for a face this many pixels wide."""
        if width < self.small_face_px:
            return min(self.threshold, self.small_threshold), max(self.margin, self.small_margin)
        return self.threshold, self.margin

    def is_near(self, distance: float, margin: float | None) -> bool:
        return distance < self.near_threshold and margin is not None and margin >= self.near_margin


@dataclass(frozen=True)
class Match:
    """One face's outcome: `student_id` is set only for a match under the rule."""

    student_id: int | None
    nearest_student_id: int | None
    distance: float | None
    # How much farther the second-nearest student is (None with fewer than two students).
    margin: float | None = None
    # No match, but a near match of the nearest student (see MatchRule).
    near: bool = False


def match_faces(
    embeddings: np.ndarray,
    gallery: Gallery,
    *,
    rule: MatchRule,
    widths: Sequence[float] | None = None,
    excluded: Collection[int] = (),
) -> list[Match]:
    """Decide every face of one image at once (see the module docstring).

    `rule` says when a face is its nearest student; `widths` are the faces' widths in pixels for the
    rule's small-face limits. Students in `excluded` are already given to another face and are
    nobody's match here, not even a near one. A near match is given only to the one face of the
    image near that student, and only if no face matched them.
    """
    count = len(embeddings)
    if not len(gallery):
        return [Match(student_id=None, nearest_student_id=None, distance=None) for _ in range(count)]
    distances = gallery.student_distances(embeddings)
    order = np.argsort(distances, axis=1)
    nearest = order[:, 0]
    nearest_distance = distances[np.arange(count), nearest]
    margins: list[float | None] = [None] * count
    if len(gallery) > 1:
        second = distances[np.arange(count), order[:, 1]]
        margins = [float(m) for m in second - nearest_distance]
    face_widths = list(widths) if widths is not None else [np.inf] * count

    assigned: dict[int, int] = {}  # student column -> face row
    for row in np.argsort(nearest_distance):
        column = int(nearest[row])
        limit, needed_margin = rule.for_width(face_widths[row])
        margin = margins[row]
        if (
            nearest_distance[row] < limit
            and (margin is None or margin >= needed_margin)
            and column not in assigned
            and int(gallery.student_ids[column]) not in excluded
        ):
            assigned[column] = int(row)
    winner_of = {row: column for column, row in assigned.items()}
    near_rows = [
        row
        for row in range(count)
        if row not in winner_of
        and rule.is_near(float(nearest_distance[row]), margins[row])
        and int(nearest[row]) not in assigned
        and int(gallery.student_ids[nearest[row]]) not in excluded
    ]
    near_claims = Counter(int(nearest[row]) for row in near_rows)
    near = {row for row in near_rows if near_claims[int(nearest[row])] == 1}

    return [
        Match(
            student_id=int(gallery.student_ids[winner_of[row]]) if row in winner_of else None,
            nearest_student_id=int(gallery.student_ids[nearest[row]]),
            distance=float(nearest_distance[row]),
            margin=margins[row],
            near=row in near,
        )
        for row in range(count)
    ]
