"""The synchronous side of the live attendance websocket: permission, roster, gallery, messages.

The consumer (attendance/consumers.py) and its connection's `LiveSession`
(attendance/live_session.py) call these through `database_sync_to_async`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from attendance.models import ClassSession
from attendance.selectors import session_for, session_roster, session_students
from attendance.services import Sighting, attendance_record_sighting
from recognition.engine import FaceEngine, FaceModels, get_engine
from recognition.identify import match_rule
from recognition.live import LiveFace, LiveRecognizer
from recognition.matching import Gallery
from students.selectors import gallery_fingerprint, gallery_for

if TYPE_CHECKING:
    import datetime

    from django.contrib.auth.models import User

# Why a viewer may not take attendance, besides the session's state not being "open".
UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Viewer:
    """Who opened a live page: the Django session they logged in with, and its user then."""

    session_key: str | None
    user_id: int | None


class AccessLost(Exception):
    """The viewer may no longer take attendance in the session; `access` says why."""

    def __init__(self, access: str) -> None:
        super().__init__(access)
        self.access = access


def viewer_user(viewer: Viewer) -> User | AnonymousUser:
    """The viewer's user as things stand now, as Django's auth middleware would find them:
    anonymous once their session was logged out, flushed or expired, or the user deactivated,
    deleted or given a new password."""
    if viewer.session_key is None or viewer.user_id is None:
        return AnonymousUser()
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(viewer.session_key)
    user = auth.get_user(request)
    return user if user.pk == viewer.user_id else AnonymousUser()


def access(*, viewer: Viewer, session_id: int) -> str:
    """The session's state if the viewer may watch it now ("open": they may take attendance),
    else UNAUTHENTICATED or FORBIDDEN (also for a session that does not exist)."""
    user = viewer_user(viewer)
    if not user.is_authenticated:
        return UNAUTHENTICATED
    session = session_for(user=user, session_id=session_id)
    return session.state if session else FORBIDDEN


def roster_message(*, session_id: int) -> dict[str, Any]:
    session = ClassSession.objects.select_related("course").get(pk=session_id)
    return {
        "type": "roster",
        "session": {
            "id": session.pk,
            "state": session.state,
            "course": session.course.code,
            "starts_at": session.starts_at.isoformat(),
            "late_from": session.late_from.isoformat(),
        },
        "students": session_roster(session=session),
    }


def _student_ids(session_id: int) -> list[int]:
    session = ClassSession.objects.get(pk=session_id)
    return list(session_students(session=session).values_list("pk", flat=True))


def gallery_fingerprint_for(*, session_id: int, model_id: str) -> object:
    return gallery_fingerprint(model_id=model_id, student_ids=_student_ids(session_id))


def gallery_and_names(*, session_id: int, model_id: str) -> tuple[Gallery, dict[int, str]]:
    session = ClassSession.objects.get(pk=session_id)
    students = session_students(session=session)
    names = {student.pk: student.full_name for student in students}
    return gallery_for(model_id=model_id, student_ids=names), names


def engine() -> FaceEngine:
    return get_engine()


def recognizer(*, engine: FaceModels, gallery: Gallery) -> LiveRecognizer:
    return LiveRecognizer(
        engine=engine,
        gallery=gallery,
        rule=match_rule(),
        uncertain_band=settings.FACE_UNCERTAIN_BAND,
        min_probability=settings.FACE_MIN_PROBABILITY,
        min_face_px=settings.FACE_LIVE_MIN_FACE_PX,
        detection_max_side=settings.FACE_LIVE_DETECTION_MAX_SIDE,
        detect_every=settings.FACE_LIVE_DETECT_EVERY,
        max_embeds_per_frame=settings.FACE_LIVE_MAX_EMBEDS_PER_FRAME,
        confirm_after=settings.ATTENDANCE_CONFIRM_MATCHES,
        confirm_after_small=settings.ATTENDANCE_CONFIRM_MATCHES_SMALL,
        confirm_after_near=settings.ATTENDANCE_CONFIRM_NEAR_MATCHES,
    )


def record_sightings(
    *, viewer: Viewer, session_id: int, faces: list[LiveFace], student_ids: list[int], seen_at: datetime.datetime
) -> None:
    """Mark the students seen, if the viewer still may (else AccessLost, and nobody is marked)."""
    # Checked here too, not only on the page's re-checks: a frame must not mark anybody in the
    # moment between a right being taken away and the page being closed.
    now = access(viewer=viewer, session_id=session_id)
    if now != ClassSession.State.OPEN:
        raise AccessLost(now)
    distances = {face.student_id: face.distance for face in faces if face.student_id is not None}
    for student_id in student_ids:
        attendance_record_sighting(
            session_id=session_id,
            sighting=Sighting(student_id=student_id, distance=distances.get(student_id) or 0.0, seen_at=seen_at),
        )


def frame_message(
    faces: list[LiveFace], *, size: tuple[int, int], names: dict[int, str], elapsed_ms: float
) -> dict[str, Any]:
    """The answer to one frame: its faces (boxes in the frame's pixels), and how many are named."""

    def face_json(face: LiveFace) -> dict[str, Any]:
        candidate = None
        if face.candidate_id is not None:
            candidate = {"student_id": face.candidate_id, "name": names.get(face.candidate_id)}
        return {
            "box": [round(v) for v in face.box],
            "student_id": face.student_id,
            "name": names.get(face.student_id) if face.student_id is not None else None,
            "distance": None if face.distance is None else round(face.distance, 3),
            "uncertain": candidate,
            "track": face.track_id,
            "confirmed": face.student_id is not None,
        }

    return {
        "type": "frame",
        "faces": [face_json(face) for face in faces],
        "size": list(size),
        "in_view": len(faces),
        "recognised": sum(1 for face in faces if face.student_id is not None),
        "ms": round(elapsed_ms, 1),
    }
