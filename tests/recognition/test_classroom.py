"""A whole class with the real models: the shared classroom stills and video against truth.json.

Per row (face width), the detector must find the annotated faces, the share of students named
right must reach what the pipeline measurably does (docs/classroom.md), and no face may ever carry
a wrong name: not a stranger, not another student.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import cv2
import numpy as np
import pytest

from benchmarks.classroom import load_video
from benchmarks.video import build_gallery, folder_photos
from recognition.engine import FaceEngine, get_engine
from recognition.identify import identify_faces, match_rule
from recognition.live import LiveRecognizer
from recognition.matching import Gallery
from recognition.tracking import iou
from students.services import enrolment_rule
from tests.faces import FACES

CLASSROOM = FACES / "classroom"
STILLS = [f"stills/scene{scene}-{resolution}.jpg" for resolution in ("720p", "1080p") for scene in range(1, 6)]
# The share of the row's students that must be named right on the stills, from one still at a
# time (no tracking). Measured with torch: 720p rows 1-5 1.00/0.96/0.94/0.71/0.64, 1080p
# 1.00/0.96/0.94/0.76/0.75; the floors leave room for the ONNX embedder and other CPUs.
NAMED_RIGHT_AT_LEAST = {
    "720p": {1: 0.9, 2: 0.85, 3: 0.8, 4: 0.55, 5: 0.45},
    "1080p": {1: 0.9, 2: 0.85, 3: 0.8, 4: 0.6, 5: 0.55},
}


@cache
def truth() -> dict[str, Any]:
    return json.loads((CLASSROOM / "truth.json").read_text())


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return get_engine()


@pytest.fixture(scope="module")
def enrolled(engine: FaceEngine) -> tuple[Gallery, dict[int, str]]:
    """The 40 students of the class, from their enrolment photos; ids to student numbers."""
    result = build_gallery(
        engine=engine, people=folder_photos(CLASSROOM / "enroll"), rule=enrolment_rule(), size=0, seed=0
    )
    assert not result.rejected
    return result.gallery, result.names


def rgb(relative: str) -> np.ndarray:
    image = cv2.imread(str(CLASSROOM / relative))
    assert image is not None, relative
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def stills(engine: FaceEngine, enrolled: tuple[Gallery, dict[int, str]]) -> dict[str, list[tuple[dict, Any]]]:
    """Each still's annotated faces, each with the identified face over it (or None)."""
    gallery, _ = enrolled
    results = {}
    for still in STILLS:
        identified = identify_faces(engine=engine, image=rgb(still), gallery=gallery, min_face_px=20)
        pairs = []
        for expected in truth()["stills"][still]["faces"]:
            best = max(identified, key=lambda found: iou(found.face.box, expected["box"]), default=None)
            pairs.append((expected, best if best and iou(best.face.box, expected["box"]) >= 0.4 else None))
        results[still] = pairs
    return results


@pytest.mark.parametrize("still", STILLS)
def test_the_detector_finds_every_annotated_face_down_to_the_back_row(
    stills: dict[str, list[tuple[dict, Any]]], still: str
) -> None:
    missed = [(expected["label"], expected["row"]) for expected, found in stills[still] if found is None]

    assert len(stills[still]) == 34
    assert len(missed) <= 1, missed


@pytest.mark.parametrize("resolution", ["720p", "1080p"])
def test_per_row_students_are_named_right_and_nobody_wrong(
    stills: dict[str, list[tuple[dict, Any]]],
    enrolled: tuple[Gallery, dict[int, str]],
    resolution: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, numbers = enrolled
    right: dict[int, int] = {}
    students: dict[int, int] = {}
    wrong = []
    for still, pairs in stills.items():
        if not still.endswith(f"-{resolution}.jpg"):
            continue
        for expected, found in pairs:
            named = numbers.get(found.match.student_id) if found and found.match.student_id is not None else None
            if expected["id"] is not None:
                students[expected["row"]] = students.get(expected["row"], 0) + 1
            if named is not None and named == expected["id"]:
                right[expected["row"]] = right.get(expected["row"], 0) + 1
            elif named is not None:
                wrong.append((still, expected["label"], named, round(found.match.distance, 3)))

    shares = {row: right.get(row, 0) / students[row] for row in sorted(students)}
    with capsys.disabled():
        print(f"\n{resolution} stills, named right per row: " + ", ".join(f"{r}: {s:.2f}" for r, s in shares.items()))
    assert wrong == []
    for row, share in shares.items():
        assert share >= NAMED_RIGHT_AT_LEAST[resolution][row], (row, shares)


@pytest.mark.parametrize("resolution", ["720p", "1080p"])
def test_the_video_marks_the_class_and_only_the_class_late_arrivals_after_they_arrive(
    engine: FaceEngine, enrolled: tuple[Gallery, dict[int, str]], resolution: str
) -> None:
    """Frame by frame through the video's first 8 s, as the websocket would run it. At 1080p a
    stranger (X3) lands on an absent student (S15) in about one frame of ten: never a mark."""
    gallery, numbers = enrolled
    video = load_video(CLASSROOM, resolution)
    live = LiveRecognizer(
        engine=engine,
        gallery=gallery,
        rule=match_rule(),
        uncertain_band=0.1,
        min_probability=0.9,
        min_face_px=20,
        detect_every=20,
        max_embeds_per_frame=12,
    )
    confirmed_at: dict[str, int] = {}
    for index in range(80):
        for face in live.process_frame(video.frames[index]):
            if face.student_id is None:
                continue
            number = numbers[face.student_id]
            (expected,) = [e for e in video.truth[index] if iou(e["box"], face.box) >= 0.4]
            assert expected["id"] == number, (index, number, expected)
            confirmed_at.setdefault(number, index)

    events = truth()["video"]["events"]
    visible = video.students_visible
    assert set(confirmed_at) <= visible
    assert len(set(confirmed_at)) >= 0.8 * len(visible), sorted(visible - set(confirmed_at))
    for number, arrives in events["late"].items():
        if number in confirmed_at:
            assert confirmed_at[number] >= arrives * video.fps, (number, confirmed_at[number])
