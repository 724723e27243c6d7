"""Door mode: the live attendance websocket for a tablet at the classroom door.

The same connection as the live page (attendance/consumers.py: rights, limits, `LiveSession`,
decisions, records), but what it sends is what anyone walking past may see: no roster, no other
student's attendance, no face boxes. Each frame is answered with the first names (and present or
late) of the students recognised in that very frame, and how many faces in view have stayed
unrecognised for a moment. A student whose check-in card was read is greeted the same way.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async

from attendance.consumers import SessionConsumer
from attendance.models import AttendanceRecord, ClassSession
from students.models import Student

# A face is "not recognised" only once it has been in view this long: recognition confirms a
# student from several frames, and a student on their way to being greeted must not be told to
# see their teacher first.
UNKNOWN_AFTER_SECONDS = 2.0
# The statuses a greeting names; any other (a teacher's "absent" or "excused" stands over the camera)
# stays private: the student is greeted without it.
GREETED_STATUSES = (AttendanceRecord.Status.PRESENT, AttendanceRecord.Status.LATE)


def door_message(*, session_id: int) -> dict[str, Any]:
    session = ClassSession.objects.select_related("course").get(pk=session_id)
    return {"type": "door", "session": {"id": session.pk, "course": session.course.code, "state": session.state}}


def greetings(*, session_id: int, student_ids: list[int], first_names: dict[int, str]) -> list[dict[str, Any]]:
    """The students' first names, in order, with their status in the session if present or late
    (else None). `first_names` is the connection's cache of them, filled here as students come by."""
    statuses = dict(
        AttendanceRecord.objects.filter(session_id=session_id, student_id__in=student_ids).values_list(
            "student_id", "status"
        )
    )
    missing = [student_id for student_id in student_ids if student_id not in first_names]
    if missing:
        first_names.update(Student.objects.filter(pk__in=missing).values_list("pk", "first_name"))
    return [
        {
            "first_name": first_names.get(student_id, ""),
            "status": statuses.get(student_id) if statuses.get(student_id) in GREETED_STATUSES else None,
        }
        for student_id in student_ids
    ]


class DoorConsumer(SessionConsumer):
    # When each face's track came into view (monotonic seconds); tracks out of view are forgotten.
    tracks_since: dict[int, float]
    # First names of the students greeted so far (a student walks past for many frames).
    first_names: dict[int, str]

    async def connect(self) -> None:
        self.tracks_since = {}
        self.first_names = {}
        await super().connect()

    async def joined(self) -> None:
        await self.send_json(await database_sync_to_async(door_message)(session_id=self.session_id))

    async def answer_frame(self, answer: dict[str, Any]) -> None:
        now = time.monotonic()
        faces = answer["faces"]
        self.tracks_since = {face["track"]: self.tracks_since.get(face["track"], now) for face in faces}
        # A student who held up their check-in card is greeted like one recognised by face.
        cards = [card["student_id"] for card in answer["cards"] if card.get("ok")]
        recognised = list(
            dict.fromkeys([face["student_id"] for face in faces if face["student_id"] is not None] + cards)
        )
        unknown = sum(
            1
            for face in faces
            if face["student_id"] is None and now - self.tracks_since[face["track"]] >= UNKNOWN_AFTER_SECONDS
        )
        greet = (
            await database_sync_to_async(greetings)(
                session_id=self.session_id, student_ids=recognised, first_names=self.first_names
            )
            if recognised
            else []
        )
        await self.send_json({"type": "door-frame", "greet": greet, "unknown": unknown, "in_view": answer["in_view"]})

    async def session_event(self, event: dict[str, Any]) -> None:
        # Only the session's state (so the page stops when it closes): attendance events carry
        # other students' names and statuses.
        if event["message"].get("type") == "session":
            await super().session_event(event)

    async def assign(self, message: dict[str, Any]) -> None:
        # Naming faces (and adding their crops as photos) is the teacher's, on the live page: a
        # tablet left at the door must not do it.
        await self.send_error("The door screen does not name faces; use the session's live page.", about="assign")
