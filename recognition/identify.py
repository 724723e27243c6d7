"""Who is in an image: detect once, embed every clear face in one batch, match them all at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from recognition.engine import Face, FaceEngine
from recognition.matching import Gallery, Match, match_faces


@dataclass(frozen=True)
class IdentifiedFace:
    face: Face
    match: Match


def identify_faces(*, engine: FaceEngine, image: np.ndarray, gallery: Gallery) -> list[IdentifiedFace]:
    faces = [face for face in engine.detect(image) if face.probability >= settings.FACE_MIN_PROBABILITY]
    matches = match_faces(engine.embed(image, faces), gallery, threshold=settings.FACE_MATCH_THRESHOLD)
    return [IdentifiedFace(face=face, match=match) for face, match in zip(faces, matches, strict=True)]
