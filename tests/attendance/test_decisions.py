"""When a stream of face matches makes a student present (attendance/decisions.py)."""

from __future__ import annotations

from attendance.decisions import SightingWindow

LIN, ALEX = 1, 2


def window() -> SightingWindow:
    return SightingWindow(frames=2, seconds=10, refresh_seconds=30)


def test_two_frames_within_ten_seconds_confirm_a_student() -> None:
    sightings = window()

    assert sightings.observe([LIN], at=100.0) == ([], [])
    assert sightings.observe([LIN], at=109.0) == ([LIN], [])


def test_two_frames_exactly_ten_seconds_apart_still_confirm() -> None:
    sightings = window()

    sightings.observe([LIN], at=100.0)

    assert sightings.observe([LIN], at=110.0) == ([LIN], [])


def test_two_frames_eleven_seconds_apart_do_not_confirm() -> None:
    sightings = window()

    sightings.observe([LIN], at=100.0)

    assert sightings.observe([LIN], at=111.0) == ([], [])
    # The second sighting starts a new window: one more within 10 s confirms.
    assert sightings.observe([LIN], at=115.0) == ([LIN], [])


def test_one_frame_naming_a_student_twice_counts_once() -> None:
    sightings = window()

    assert sightings.observe([LIN, LIN], at=100.0) == ([], [])


def test_students_are_confirmed_independently() -> None:
    sightings = window()

    sightings.observe([LIN], at=100.0)
    assert sightings.observe([LIN, ALEX], at=101.0) == ([LIN], [])
    assert sightings.observe([ALEX], at=102.0) == ([ALEX], [])


def test_a_frame_without_matches_changes_nothing() -> None:
    sightings = window()

    sightings.observe([LIN], at=100.0)
    assert sightings.observe([], at=101.0) == ([], [])
    assert sightings.observe([LIN], at=102.0) == ([LIN], [])


def test_a_confirmed_student_is_reported_again_only_every_refresh_interval() -> None:
    sightings = window()
    sightings.observe([LIN], at=100.0)
    sightings.observe([LIN], at=101.0)

    assert sightings.observe([LIN], at=102.0) == ([], [])
    assert sightings.observe([LIN], at=130.0) == ([], [])
    assert sightings.observe([LIN], at=131.0) == ([], [LIN])
    assert sightings.observe([LIN], at=140.0) == ([], [])
    assert sightings.observe([LIN], at=161.0) == ([], [LIN])


def test_one_frame_is_enough_when_configured() -> None:
    sightings = SightingWindow(frames=1, seconds=10)

    assert sightings.observe([LIN], at=0.0) == ([LIN], [])
