"""Which recognised students a live page reports to the attendance records (pure logic, no database).

Recognition confirms a student from several agreeing matches of one face's track
(recognition/tracking.py); this log only turns the stream of confirmed faces into writes: a student
is reported once when first confirmed, then at most every `refresh_seconds` while still in view, so
that "last seen" stays current without a write per frame.
"""

from __future__ import annotations

from collections.abc import Iterable


class SightingLog:
    """One connection keeps one log."""

    def __init__(self, *, refresh_seconds: float = 30.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._reported_at: dict[int, float] = {}

    def observe(self, student_ids: Iterable[int], *, at: float) -> tuple[list[int], list[int]]:
        """Record one frame's confirmed students; returns (newly confirmed, confirmed and due a refresh)."""
        confirmed_now: list[int] = []
        seen_again: list[int] = []
        for student_id in dict.fromkeys(student_ids):
            reported = self._reported_at.get(student_id)
            if reported is None:
                confirmed_now.append(student_id)
            elif at - reported >= self.refresh_seconds:
                seen_again.append(student_id)
            else:
                continue
            self._reported_at[student_id] = at
        return confirmed_now, seen_again
