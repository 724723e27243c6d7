"""Turning confirmed faces into attendance writes (attendance/decisions.py)."""

from __future__ import annotations

from attendance.decisions import SightingLog

LIN, ALEX = 1, 2


def test_a_confirmed_student_is_reported_at_once() -> None:
    log = SightingLog()

    assert log.observe([LIN], at=0.0) == ([LIN], [])


def test_one_frame_naming_a_student_twice_counts_once() -> None:
    assert SightingLog().observe([LIN, LIN], at=0.0) == ([LIN], [])


def test_students_are_reported_independently() -> None:
    log = SightingLog()

    assert log.observe([LIN], at=0.0) == ([LIN], [])
    assert log.observe([LIN, ALEX], at=1.0) == ([ALEX], [])


def test_a_frame_without_confirmed_faces_changes_nothing() -> None:
    log = SightingLog()

    assert log.observe([], at=0.0) == ([], [])
    assert log.observe([LIN], at=1.0) == ([LIN], [])


def test_a_reported_student_is_reported_again_only_every_refresh_interval() -> None:
    log = SightingLog(refresh_seconds=30)
    log.observe([LIN], at=0.0)

    assert log.observe([LIN], at=10.0) == ([], [])
    assert log.observe([LIN], at=29.9) == ([], [])
    assert log.observe([LIN], at=30.0) == ([], [LIN])
    assert log.observe([LIN], at=45.0) == ([], [])
    assert log.observe([LIN], at=60.0) == ([], [LIN])
