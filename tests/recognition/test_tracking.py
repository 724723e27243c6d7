"""Following faces from frame to frame and confirming them from their tracks (recognition/tracking.py)."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.engine import Face
from recognition.matching import Match
from recognition.tracking import FaceTracker, Track, iou

LIN, ALEX = 1, 2
Box = tuple[float, float, float, float]


def face(x: float, y: float, size: float = 60.0) -> Face:
    return Face(box=(x, y, x + size, y + size), probability=0.99)


def named(student_id: int | None) -> Match:
    return Match(student_id=student_id, nearest_student_id=student_id or LIN, distance=0.7 if student_id else 1.3)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (2, 2, 8, 8), 36 / 100),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),
        ((0, 0, 10, 10), (30, 30, 40, 40), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
)
def test_iou(a: Box, b: Box, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_a_face_that_moves_a_little_keeps_its_track() -> None:
    tracker = FaceTracker()

    first = tracker.update([face(100, 100)])
    second = tracker.update([face(108, 104)])
    third = tracker.update([face(115, 110)])

    assert first[0].track_id == second[0].track_id == third[0].track_id
    assert third[0].face.box == (115, 110, 175, 170)
    assert len(tracker.tracks) == 1


def test_each_face_keeps_its_own_track_whatever_the_detection_order() -> None:
    tracker = FaceTracker()
    left, right = tracker.update([face(10, 10), face(300, 10)])

    swapped = tracker.update([face(305, 12), face(12, 11)])

    assert [track.track_id for track in swapped] == [right.track_id, left.track_id]


def test_a_new_face_gets_a_new_track() -> None:
    tracker = FaceTracker()
    (lin,) = tracker.update([face(10, 10)])

    tracks = tracker.update([face(12, 10), face(400, 200)])

    assert tracks[0].track_id == lin.track_id
    assert tracks[1].track_id != lin.track_id
    assert tracks[1].student_id is None and not tracks[1].confirmed


def test_a_face_that_jumps_too_far_is_a_new_track() -> None:
    tracker = FaceTracker(min_iou=0.3)
    (before,) = tracker.update([face(100, 100)])

    (after,) = tracker.update([face(140, 100)])  # 20 of 60 px overlap: IoU 0.2

    assert after.track_id != before.track_id


def test_a_face_missing_for_forget_after_frames_is_still_followed() -> None:
    tracker = FaceTracker(forget_after=3)
    (before,) = tracker.update([face(100, 100)])
    for _ in range(3):
        tracker.update([])

    (after,) = tracker.update([face(102, 100)])

    assert after.track_id == before.track_id


def test_a_face_missing_for_longer_is_forgotten() -> None:
    tracker = FaceTracker(forget_after=3)
    (before,) = tracker.update([face(100, 100)])
    for _ in range(4):
        tracker.update([])

    assert tracker.tracks == []
    (after,) = tracker.update([face(102, 100)])
    assert after.track_id != before.track_id


def test_a_new_face_is_embedded() -> None:
    tracker = FaceTracker()

    (track,) = tracker.update([face(100, 100)])

    assert tracker.needs_embedding(track)


def undecided() -> Match:
    """Near a student but not a match (a small, blurry face, or one between two students)."""
    return Match(student_id=None, nearest_student_id=LIN, distance=1.02)


def follow(tracker: FaceTracker, verdicts: list[Match], *, size: float = 60.0) -> tuple[list[bool], list[bool]]:
    """One frame per verdict for a single face: (embedded in each frame, confirmed after each frame)."""
    (track,) = tracker.update([face(100, 100, size)])
    embedded, confirmed = [], []
    for step, verdict in enumerate(verdicts):
        if step:
            (track,) = tracker.update([face(100 + step % 2, 100, size)])
        embedded.append(tracker.needs_embedding(track))
        if embedded[-1]:
            tracker.record(track, verdict)
        confirmed.append(track.confirmed)
    return embedded, confirmed


def test_a_face_that_stays_is_embedded_until_confirmed_and_then_only_followed() -> None:
    tracker = FaceTracker(confirm_after=2)

    embedded, confirmed = follow(tracker, [named(LIN)] * 6)

    assert embedded == [True, True, False, False, False, False]
    assert confirmed == [False, True, True, True, True, True]
    (track,) = tracker.tracks
    assert track.student_id == LIN


def test_a_small_face_needs_one_more_agreeing_match() -> None:
    tracker = FaceTracker(confirm_after=2, confirm_after_small=3, small_face_px=48)

    embedded, confirmed = follow(tracker, [named(LIN)] * 5, size=30)

    assert embedded == [True, True, True, False, False]
    assert confirmed == [False, False, True, True, True]


def test_undecided_embeddings_do_not_break_a_row_of_matches() -> None:
    tracker = FaceTracker(confirm_after=3)

    _, confirmed = follow(tracker, [named(LIN), undecided(), named(LIN), undecided(), named(LIN)])

    assert confirmed == [False, False, False, False, True]


@pytest.mark.parametrize(
    "verdicts",
    [
        [named(LIN), named(ALEX), named(LIN)],
        [named(LIN), named(None), named(LIN)],
        [undecided(), undecided(), undecided()],
    ],
    ids=["another student", "a stranger", "never sure"],
)
def test_a_face_whose_matches_disagree_is_not_confirmed_and_keeps_being_embedded(verdicts: list[Match]) -> None:
    tracker = FaceTracker(confirm_after=2, stranger_distance=1.2)

    embedded, confirmed = follow(tracker, verdicts)

    assert embedded == [True, True, True]
    assert not any(confirmed)


def test_a_clear_stranger_is_embedded_again_only_every_stranger_recheck() -> None:
    tracker = FaceTracker(stranger_distance=1.1, stranger_recheck_every=5)

    embedded, confirmed = follow(tracker, [named(None)] * 9)  # nearest student 1.3 away

    assert embedded == [True, True, False, False, False, False, True, False, False]
    assert not any(confirmed)


def test_a_face_near_a_student_is_no_stranger_and_is_embedded_every_frame() -> None:
    tracker = FaceTracker(stranger_distance=1.1)

    embedded, _ = follow(tracker, [undecided()] * 4)

    assert embedded == [True] * 4


def test_due_embeds_at_most_the_limit_those_waiting_longest_then_the_largest_first() -> None:
    tracker = FaceTracker()
    old, recent = tracker.update([face(10, 10), face(300, 10)])
    tracker.record(old, undecided())
    tracker.update([face(10, 10), face(300, 10)])
    tracker.record(recent, undecided())
    # Two new faces: a small one at the back and a large one in front.
    tracks = tracker.update([face(10, 10), face(300, 10), face(600, 10, 30), face(800, 300, 90)])

    assert tracker.due(tracks) == [0, 1, 2, 3]
    assert tracker.due(tracks, limit=3) == [0, 2, 3], "the new faces and the one embedded longest ago"
    assert tracker.due(tracks, limit=1) == [3], "of two new faces, the larger"


def test_a_confirmed_face_is_not_due() -> None:
    tracker = FaceTracker(confirm_after=1)
    (lin, _other) = tracker.update([face(10, 10), face(300, 10)])
    tracker.record(lin, named(LIN))

    tracks = tracker.update([face(11, 10), face(301, 10)])

    assert tracker.due(tracks) == [1]


def test_a_confirmed_face_whose_box_jumps_loses_its_name_and_is_embedded_again() -> None:
    # As when one person steps in front of another: the same spot, maybe somebody else.
    tracker = FaceTracker(min_iou=0.3, steady_iou=0.6, confirm_after=2)
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN))
    tracker.record(track, named(LIN))
    (steady,) = tracker.update([face(106, 100)])  # 54 of 60 px overlap: IoU 0.82
    assert steady is track and track.confirmed and not tracker.needs_embedding(track)

    (jumped,) = tracker.update([face(130, 100)])  # 36 of 60 px overlap: IoU 0.43

    assert jumped is track
    assert not track.confirmed and track.student_id is None
    assert track.match is None, "no name shown until the face is embedded again"
    assert tracker.needs_embedding(track)


def test_a_hidden_face_found_again_where_it_was_keeps_its_confirmation() -> None:
    tracker = FaceTracker(confirm_after=1, forget_after=5)
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN))
    for _ in range(3):  # hidden behind a neighbour for three frames
        assert tracker.update([]) == []
    assert tracker.followed() == []

    (again,) = tracker.update([face(101, 100)])

    assert again is track and again.confirmed and again.student_id == LIN


def near(student_id: int) -> Match:
    return Match(student_id=None, nearest_student_id=student_id, distance=1.05, margin=0.2, near=True)


def test_a_row_of_near_matches_confirms_and_a_stranger_breaks_it() -> None:
    tracker = FaceTracker(confirm_after=2, confirm_after_near=4, stranger_distance=1.2)

    _, confirmed = follow(tracker, [near(LIN), near(LIN), named(LIN), near(LIN)])
    _, broken = follow(FaceTracker(confirm_after_near=3, stranger_distance=1.2), [near(LIN), named(None), near(LIN)])

    assert confirmed == [False, False, False, True], "one full match among near ones is not two full matches"
    assert not any(broken)


def test_a_track_whose_verdicts_suffice_is_confirmed_only_once_corroborated() -> None:
    answers = iter([False, True])
    asked: list[int] = []

    def corroborate(track: Track) -> bool:
        asked.append(len(track.embeddings))
        return next(answers)

    tracker = FaceTracker(confirm_after=2, corroborate=corroborate)
    (track,) = tracker.update([face(100, 100)])
    embedded, confirmed = [], []
    for step in range(4):
        if step:
            (track,) = tracker.update([face(100, 100)])
        embedded.append(tracker.needs_embedding(track))
        if embedded[-1]:
            tracker.record(track, named(LIN), np.full(4, step, dtype=np.float32))
        confirmed.append(track.confirmed)

    assert asked == [2, 3], "asked once the verdicts sufficed, with the embeddings so far"
    assert confirmed == [False, False, True, True]
    assert embedded == [True, True, True, False], "embedded again while the veto held"


def test_a_jump_forgets_the_faces_embeddings() -> None:
    tracker = FaceTracker(min_iou=0.3, steady_iou=0.6)
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN), np.ones(4, dtype=np.float32))

    tracker.update([face(130, 100)])

    assert list(track.embeddings) == []
