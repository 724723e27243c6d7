"""When a stream of face matches makes a student present (pure logic, no database)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class SightingWindow:
    """A student is confirmed once matched in `frames` frames within `seconds`.

    One connection keeps one window. After confirmation, further sightings are reported at most
    every `refresh_seconds` so that "last seen" stays current without a write per frame.
    """

    def __init__(self, *, frames: int, seconds: float, refresh_seconds: float = 30.0) -> None:
        self.frames = frames
        self.seconds = seconds
        self.refresh_seconds = refresh_seconds
        self._recent: dict[int, deque[float]] = {}
        self._reported_at: dict[int, float] = {}

    def observe(self, student_ids: Iterable[int], *, at: float) -> tuple[list[int], list[int]]:
        """Record one frame's matches; returns (newly confirmed, confirmed and due a refresh)."""
        confirmed_now: list[int] = []
        seen_again: list[int] = []
        for student_id in dict.fromkeys(student_ids):
            if student_id in self._reported_at:
                if at - self._reported_at[student_id] >= self.refresh_seconds:
                    self._reported_at[student_id] = at
                    seen_again.append(student_id)
                continue
            times = self._recent.setdefault(student_id, deque())
            times.append(at)
            while times and at - times[0] > self.seconds:
                times.popleft()
            if len(times) >= self.frames:
                del self._recent[student_id]
                self._reported_at[student_id] = at
                confirmed_now.append(student_id)
        return confirmed_now, seen_again
