"""Following faces from frame to frame by box overlap (recognition/tracking.py)."""

from __future__ import annotations

import pytest

from recognition.engine import Face
from recognition.matching import Match
from recognition.tracking import STRANGER, FaceTracker, iou

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
    assert tracks[1].recent_verdicts == []


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


def test_a_face_is_settled_after_two_matches_of_the_same_student() -> None:
    tracker = FaceTracker(recheck_every=5)
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN))
    tracker.update([face(101, 100)])
    assert tracker.needs_embedding(track), "one match does not settle a face"
    tracker.record(track, named(LIN))

    embedded = []
    for step in range(1, 8):
        tracker.update([face(100 + step, 100)])
        embedded.append(tracker.needs_embedding(track))
        if embedded[-1]:
            tracker.record(track, named(LIN))

    # Embedded again only every 5 frames, to notice another person taking the same place.
    assert embedded == [False, False, False, False, True, False, False]
    assert track.match is not None and track.match.student_id == LIN


def test_settling_waits_for_as_many_matches_as_attendance_needs() -> None:
    # With ATTENDANCE_CONFIRM_FRAMES = 3 a face must keep being embedded until its third match,
    # or the third sighting would never come.
    tracker = FaceTracker(settle_after=3)
    (track,) = tracker.update([face(100, 100)])
    needed = []
    for step in range(4):
        if step:
            tracker.update([face(100 + step, 100)])
        needed.append(tracker.needs_embedding(track))
        if needed[-1]:
            tracker.record(track, named(LIN))

    assert needed == [True, True, True, False]


@pytest.mark.parametrize(
    "matches",
    [[None, None], [LIN, None], [None, LIN], [LIN, ALEX]],
    ids=["unknown", "lost", "found once", "changed"],
)
def test_an_unknown_or_changing_face_is_embedded_every_frame(matches: list[int | None]) -> None:
    tracker = FaceTracker()
    (track,) = tracker.update([face(100, 100)])
    for student_id in matches:
        tracker.record(track, named(student_id))
        tracker.update([face(100, 100)])

    assert not track.settled
    assert tracker.needs_embedding(track)


def test_a_recheck_that_names_someone_else_unsettles_the_face() -> None:
    tracker = FaceTracker()
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN))
    tracker.record(track, named(LIN))
    assert track.settled

    tracker.record(track, named(ALEX))

    assert not track.settled
    assert track.match is not None and track.match.student_id == ALEX


def test_a_clear_stranger_settles_and_is_embedded_again_only_every_stranger_recheck() -> None:
    tracker = FaceTracker(stranger_distance=1.1, stranger_recheck_every=5)
    (track,) = tracker.update([face(100, 100)])
    embedded = []
    for step in range(9):
        if step:
            tracker.update([face(100 + step, 100)])
        embedded.append(tracker.needs_embedding(track))
        if embedded[-1]:
            tracker.record(track, named(None))  # nearest student 1.3 away

    assert track.settled_as == STRANGER
    assert embedded == [True, True, False, False, False, False, True, False, False]
    assert track.match is not None and track.match.student_id is None


def test_a_face_near_a_student_is_no_stranger_and_is_embedded_every_frame() -> None:
    tracker = FaceTracker(stranger_distance=1.1)
    (track,) = tracker.update([face(100, 100)])
    for _ in range(3):
        tracker.record(track, Match(student_id=None, nearest_student_id=LIN, distance=1.05))
        tracker.update([face(100, 100)])

    assert not track.settled
    assert tracker.needs_embedding(track)


def test_due_embeds_at_most_the_limit_those_waiting_longest_first() -> None:
    tracker = FaceTracker()
    old, recent = tracker.update([face(10, 10), face(300, 10)])
    tracker.record(old, named(None))
    tracker.update([face(10, 10), face(300, 10)])
    tracker.record(recent, named(None))
    tracks = tracker.update([face(10, 10), face(300, 10), face(600, 10)])  # a new face on the right

    assert tracker.due(tracks) == [0, 1, 2]
    assert tracker.due(tracks, limit=2) == [0, 2], "the new face and the one embedded longest ago"
    assert tracker.due(tracks, limit=1) == [2]


def test_a_settled_face_whose_box_jumps_is_embedded_again() -> None:
    # As at a cut, or when one person steps in front of another: the same spot, maybe somebody else.
    tracker = FaceTracker(min_iou=0.3, steady_iou=0.6)
    (track,) = tracker.update([face(100, 100)])
    tracker.record(track, named(LIN))
    tracker.record(track, named(LIN))
    (steady,) = tracker.update([face(106, 100)])  # 54 of 60 px overlap: IoU 0.82
    assert steady is track and not tracker.needs_embedding(track)

    (jumped,) = tracker.update([face(130, 100)])  # 36 of 60 px overlap: IoU 0.43

    assert jumped is track
    assert not track.settled
    assert track.match is None, "no name shown until the face is embedded again"
    assert tracker.needs_embedding(track)
