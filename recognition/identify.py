"""Who is in an image: detect once, embed every clear face in one batch, match them all at once."""

from __future__ import annotations

from dataclasses import dataclass

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


def identify_faces(
    *, engine: FaceEngine, image: np.ndarray, gallery: Gallery, min_face_px: int | None = None
) -> list[IdentifiedFace]:
    faces = [
        face
        for face in engine.detect(image, min_face_px=min_face_px)
        if face.probability >= settings.FACE_MIN_PROBABILITY
    ]
    matches = match_faces(engine.embed(image, faces), gallery, rule=match_rule(), widths=[face.width for face in faces])
    return [IdentifiedFace(face=face, match=match) for face, match in zip(faces, matches, strict=True)]
