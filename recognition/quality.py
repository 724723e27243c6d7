"""Which detected face a photo can enrol a student with: exactly one clear face, large enough;
and how the new face resembles the gallery (its own student's photos, and everybody else's).

The thresholds come from the caller (the students app reads them from settings), so the same rule
serves enrolment, the benchmark and any other tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recognition.matching import Gallery

if TYPE_CHECKING:
    # Only the type: importing the engine loads torch.
    from recognition.engine import Face


@dataclass(frozen=True)
class EnrolmentRule:
    # A detection at least this probable is a face at all (the live pages use the same number).
    face_probability: float
    # The enrolled face must be at least this probable ...
    min_probability: float
    # ... and at least this many pixels on its shorter side.
    min_face_px: int
    # A face smaller than this fraction of the main face is in the background, or is not a face at
    # all (a pattern on a desk behind the student, detected at 0.91): it does not make the photo
    # ambiguous. A second face of similar size does.
    background_face_ratio: float = 0.5


def _face_size(face: Face) -> float:
    return min(face.width, face.height)


def enrolment_face(faces: Sequence[Face], rule: EnrolmentRule) -> tuple[Face | None, str]:
    """The face to enrol from these detections, or None and why the photo cannot enrol a student.

    The face is the largest clear one; the photo is rejected if another clear face is about as large.
    """
    clear = [face for face in faces if face.probability >= rule.face_probability]
    if not clear:
        if faces:
            best = max(face.probability for face in faces)
            return None, (
                f"No clear face found (best guess {best:.2f}, at least "
                f"{rule.min_probability:.2f} needed): upload a sharp, well-lit, frontal photo."
            )
        return None, "No face found: upload a photo in which the student's face is clearly visible."
    face = max(clear, key=_face_size)
    rivals = [
        other
        for other in clear
        if other is not face and _face_size(other) >= rule.background_face_ratio * _face_size(face)
    ]
    if rivals:
        return None, f"{len(rivals) + 1} faces found: upload a photo of one person."
    if face.probability < rule.min_probability:
        return None, (
            f"Face not clear enough (probability {face.probability:.2f}, at least "
            f"{rule.min_probability:.2f} needed): upload a sharper, frontal photo."
        )
    size = _face_size(face)
    if size < rule.min_face_px:
        return None, (
            f"Face too small: {size:.0f} px, at least {rule.min_face_px} px needed. Upload a closer or larger photo."
        )
    return face, ""


@dataclass(frozen=True)
class Resemblance:
    """A new face against the gallery: the nearest of its own student's photos, and the nearest
    other student (None where the gallery has nobody)."""

    own_distance: float | None
    other_student_id: int | None
    other_distance: float | None


def resemblance(embedding: np.ndarray, gallery: Gallery, *, student_id: int) -> Resemblance:
    distances = gallery.student_distances(np.asarray(embedding, dtype=np.float32)[None, :])[0]
    own = gallery.student_ids == student_id
    own_distance = float(distances[own].min()) if own.any() else None
    others = np.where(own, np.inf, distances)
    if not len(others) or not np.isfinite(others.min()):
        return Resemblance(own_distance=own_distance, other_student_id=None, other_distance=None)
    nearest = int(np.argmin(others))
    return Resemblance(
        own_distance=own_distance,
        other_student_id=int(gallery.student_ids[nearest]),
        other_distance=float(others[nearest]),
    )
