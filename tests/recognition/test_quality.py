"""The enrolment face rule: which detection a photo enrols, and the reason an admin sees otherwise."""

from __future__ import annotations

import pytest

from recognition.engine import Face
from recognition.quality import EnrolmentRule, enrolment_face

# The default settings' thresholds (FACE_MIN_PROBABILITY, ENROLMENT_MIN_PROBABILITY, ENROLMENT_MIN_FACE_PX).
RULE = EnrolmentRule(face_probability=0.9, min_probability=0.92, min_face_px=40)


def box_face(width: float, probability: float = 0.99, x: float = 0) -> Face:
    return Face(box=(x, 0, x + width, width * 1.3), probability=probability)


@pytest.mark.parametrize(
    ("faces", "reason"),
    [
        ([], "No face found: upload a photo in which the student's face is clearly visible."),
        (
            [box_face(200, 0.85)],
            "No clear face found (best guess 0.85, at least 0.92 needed): upload a sharp, well-lit, frontal photo.",
        ),
        ([box_face(200), box_face(120, x=300)], "2 faces found: upload a photo of one person."),
        ([box_face(110, x=600), box_face(200), box_face(150, x=300)], "3 faces found: upload a photo of one person."),
        (
            [box_face(200, 0.91)],
            "Face not clear enough (probability 0.91, at least 0.92 needed): upload a sharper, frontal photo.",
        ),
        ([box_face(30)], "Face too small: 30 px, at least 40 px needed. Upload a closer or larger photo."),
    ],
    ids=["none", "unclear", "two", "three", "not-clear-enough", "too-small"],
)
def test_enrolment_rejection_reasons(faces: list[Face], reason: str) -> None:
    assert enrolment_face(faces, RULE) == (None, reason)


def test_the_largest_clear_face_is_enrolled_and_small_or_unclear_ones_ignored() -> None:
    main = box_face(200, 0.97)
    background = box_face(80, 0.999, x=400)  # more probable, but far smaller
    unclear = box_face(190, 0.5, x=800)  # as large, but not a face

    assert enrolment_face([background, unclear, main], RULE) == (main, "")
