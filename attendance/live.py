"""The synchronous side of the live attendance websocket: permission, roster, gallery, messages.

The consumer (attendance/consumers.py) and its connection's `LiveSession`
(attendance/live_session.py) call these through `database_sync_to_async`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from attendance.models import AttendanceRecord, ClassSession
from attendance.selectors import record_fields, session_for, session_roster, session_students
from attendance.services import Sighting, attendance_confirm_face, attendance_record_sighting
from config.web import ApplicationError
from recognition.engine import FaceEngine, FaceModels, get_engine
from recognition.identify import match_rule
from recognition.live import LiveFace, LiveRecognizer
from recognition.matching import Gallery
from students.cards import CardRefused, card_holder, card_token_from_qr
from students.models import StudentPhoto
from students.selectors import gallery_fingerprint, gallery_for
from students.services import photo_create, student_has_consent

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
    return _access_of(viewer_user(viewer), session_id)


def _access_of(user: User | AnonymousUser, session_id: int) -> str:
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


def _may_take_attendance(viewer: Viewer, session_id: int) -> User:
    """The viewer's user, if they may still take attendance in the session (else AccessLost)."""
    # Checked before anything is marked, not only on the page's re-checks: nothing may be marked
    # in the moment between a right being taken away and the page being closed.
    user = viewer_user(viewer)
    now = _access_of(user, session_id)
    if now != ClassSession.State.OPEN:
        raise AccessLost(now)
    return cast("User", user)


def course_cards_only(*, session_id: int) -> bool:
    """The session's course takes attendance with check-in cards only (no face recognition)."""
    return ClassSession.objects.filter(pk=session_id, course__cards_only=True).exists()


def check_in_card(*, viewer: Viewer, session_id: int, text: str, seen_at: datetime.datetime) -> dict[str, Any]:
    """A QR code held up to the camera: the card's student is marked seen (source "card"), or the
    card is refused with the reason the page shows."""
    _may_take_attendance(viewer, session_id)
    try:
        student = card_holder(card_token_from_qr(text))
    except CardRefused as exc:
        return {"ok": False, "message": exc.message}
    session = ClassSession.objects.select_related("course").get(pk=session_id)
    if not session_students(session=session).filter(pk=student.pk).exists():
        return {
            "ok": False,
            "message": f"This card is not for {session.course.code}: its student is not in this class.",
        }
    record = attendance_record_sighting(
        session_id=session_id,
        sighting=Sighting(student_id=student.pk, distance=None, seen_at=seen_at, source=AttendanceRecord.Source.CARD),
    )
    status = record.get_status_display().lower() if record else "not marked"
    return {"ok": True, "student_id": student.pk, "message": f"{student.full_name} checked in: {status}."}


def assign_face(
    *, viewer: Viewer, session_id: int, student_id: int, crop: bytes | None, add_photo: bool
) -> dict[str, Any]:
    """The teacher says who a face on the live page is: that student is seen now (source
    "teacher"), and with `add_photo` the face's crop becomes an enrolment photo "from a session",
    which goes through the photo checks like any upload (only for a student who consented)."""
    user = _may_take_attendance(viewer, session_id)
    session = ClassSession.objects.get(pk=session_id)
    student = session_students(session=session).filter(pk=student_id).first()
    if student is None:
        raise ApplicationError("That student is not enrolled in this session's course.")
    if add_photo and not student_has_consent(student.pk):
        raise ApplicationError(f"{student.full_name} has not consented to face recognition: no photo can be added.")
    if add_photo and crop is None:
        raise ApplicationError("That face is no longer in view: it cannot be added as a photo.")
    record = attendance_confirm_face(
        session=session, student=student, changed_by=user, note="Named by the teacher on the live page"
    )
    answer = {"type": "assigned", "student_id": student.pk, "name": student.full_name, "photo": None}
    if add_photo and crop is not None:
        try:
            photo_create(student=student, data=crop, uploaded_by=user, origin=StudentPhoto.Origin.SESSION)
        except ApplicationError as exc:
            answer["photo"] = f"The face was not added as a photo: {exc.message}"
        else:
            answer["photo"] = "The face was added as a photo; it is used once the photo checks pass."
    return {**answer, **record_fields(record)}


def record_sightings(
    *, viewer: Viewer, session_id: int, faces: list[LiveFace], student_ids: list[int], seen_at: datetime.datetime
) -> None:
    """Mark the students seen, if the viewer still may (else AccessLost, and nobody is marked)."""
    _may_take_attendance(viewer, session_id)
    distances = {face.student_id: face.distance for face in faces if face.student_id is not None}
    for student_id in student_ids:
        attendance_record_sighting(
            session_id=session_id,
            sighting=Sighting(student_id=student_id, distance=distances.get(student_id) or 0.0, seen_at=seen_at),
        )


def frame_message(
    faces: list[LiveFace],
    *,
    size: tuple[int, int],
    names: dict[int, str],
    elapsed_ms: float,
    cards: list[dict[str, Any]],
) -> dict[str, Any]:
    """The answer to one frame: its faces (boxes in the frame's pixels), how many are named, and
    the check-in cards read in it (each accepted or refused, with its message)."""

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
        "cards": cards,
        "ms": round(elapsed_ms, 1),
    }
