"""Who is in an image: detect once, embed every clear face in one batch, match them all at once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from django.conf import settings

from recognition.engine import Face, FaceEngine
from recognition.matching import Gallery, Match, MatchRule, match_faces


@dataclass(frozen=True)
class IdentifiedFace:
    face: Face
    match: Match


def match_rule() -> MatchRule:
    """The settings' rule for when a face is a student (FACE_MATCH_*, FACE_SMALL_* and FACE_NEAR_*)."""
    return MatchRule(
        threshold=settings.FACE_MATCH_THRESHOLD,
        margin=settings.FACE_MATCH_MARGIN,
        small_face_px=settings.FACE_SMALL_FACE_PX,
        small_threshold=settings.FACE_SMALL_MATCH_THRESHOLD,
        small_margin=settings.FACE_SMALL_MATCH_MARGIN,
        near_threshold=settings.FACE_MATCH_THRESHOLD + settings.FACE_UNCERTAIN_BAND,
        near_margin=settings.FACE_NEAR_MATCH_MARGIN,
    )


def uncertain_student(match: Match, *, rule: MatchRule, uncertain_band: float) -> int | None:
    """Who a face that is no match may be, for a person to confirm: its nearest student, if the face
    lies within `uncertain_band` over the rule's threshold."""
    if match.student_id is None and match.distance is not None and match.distance < rule.threshold + uncertain_band:
        return match.nearest_student_id
    return None


def is_clear(face: Face) -> bool:
    """A detection sure enough to be a face at all (FACE_MIN_PROBABILITY)."""
    return face.probability >= settings.FACE_MIN_PROBABILITY


def identify_faces(
    *, engine: FaceEngine, image: np.ndarray, gallery: Gallery, min_face_px: int | None = None
) -> list[IdentifiedFace]:
    faces = [face for face in engine.detect(image, min_face_px=min_face_px) if is_clear(face)]
    return _identified(engine=engine, image=image, faces=faces, gallery=gallery)


def _identified(*, engine: FaceEngine, image: np.ndarray, faces: list[Face], gallery: Gallery) -> list[IdentifiedFace]:
    matches = match_faces(engine.embed(image, faces), gallery, rule=match_rule(), widths=[face.width for face in faces])
    return [IdentifiedFace(face=face, match=match) for face, match in zip(faces, matches, strict=True)]


class Verdict(StrEnum):
    RECOGNISED = "recognised"
    UNCERTAIN = "uncertain"
    UNKNOWN = "unknown"
    # Faces the live page does not look at: under FACE_MIN_PROBABILITY, or narrower than FACE_LIVE_MIN_FACE_PX.
    UNCLEAR = "unclear"
    TOO_SMALL = "too-small"


@dataclass(frozen=True)
class CheckedFace:
    face: Face
    verdict: Verdict
    # None for a face the live page does not look at (it is not matched).
    match: Match | None
    # Recognised: the student; uncertain: who the face may be.
    student_id: int | None

    @property
    def second_distance(self) -> float | None:
        """The distance to the second-nearest student (None with fewer than two students)."""
        if self.match is None or self.match.distance is None or self.match.margin is None:
            return None
        return self.match.distance + self.match.margin


def check_faces(*, engine: FaceEngine, image: np.ndarray, gallery: Gallery) -> list[CheckedFace]:
    """Every face found in a still, left to right, decided as the live page decides the faces of one
    frame: recognised (a match under `match_rule`), uncertain (`uncertain_student`, unless another
    face is that student) or unknown. Faces the live page would not look at are not matched."""
    faces = sorted(engine.detect(image), key=lambda face: face.box[0])
    looked_at = [i for i, face in enumerate(faces) if is_clear(face) and face.width >= settings.FACE_LIVE_MIN_FACE_PX]
    identified = _identified(engine=engine, image=image, faces=[faces[i] for i in looked_at], gallery=gallery)
    matches = dict(zip(looked_at, (found.match for found in identified), strict=True))
    named = {match.student_id for match in matches.values() if match.student_id is not None}
    return [_checked(face, matches.get(i), named=named) for i, face in enumerate(faces)]


def _checked(face: Face, match: Match | None, *, named: set[int]) -> CheckedFace:
    if match is None:
        verdict = Verdict.TOO_SMALL if is_clear(face) else Verdict.UNCLEAR
        return CheckedFace(face=face, verdict=verdict, match=None, student_id=None)
    if match.student_id is not None:
        return CheckedFace(face=face, verdict=Verdict.RECOGNISED, match=match, student_id=match.student_id)
    maybe = uncertain_student(match, rule=match_rule(), uncertain_band=settings.FACE_UNCERTAIN_BAND)
    if maybe is None or maybe in named:
        return CheckedFace(face=face, verdict=Verdict.UNKNOWN, match=match, student_id=None)
    return CheckedFace(face=face, verdict=Verdict.UNCERTAIN, match=match, student_id=maybe)
