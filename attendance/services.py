"""Recording attendance: face sightings, manual corrections, opening, closing and moving sessions.

Every change is written in a transaction with a row in the append-only audit trail
(`AttendanceChange`, `SessionChange` for a session's times) and broadcast to the session's live
pages after it commits. Face recognition never overwrites a manual decision.

A locked session (`selectors.session_is_locked`: it started more than ATTENDANCE_LOCK_DAYS days
ago) keeps its records: it is not opened again, no sighting changes it, and only staff move it or
correct its records. Each service reads the lock from the session's row under its row lock, so a
concurrent change of times cannot slip between the check and the write.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from attendance.channels import broadcast_on_commit
from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, SessionChange
from attendance.selectors import lock_cutoff, may_change_locked, record_fields, session_is_locked, session_students
from config.web import ApplicationError
from students.models import Student

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Status = AttendanceRecord.Status
Source = AttendanceRecord.Source


@dataclass(frozen=True)
class Sighting:
    """A student seen by the camera: their face (`distance` to their photos) or their check-in card
    (`source` CARD, no distance)."""

    student_id: int
    distance: float | None
    seen_at: datetime.datetime
    source: str = AttendanceRecord.Source.FACE


def _broadcast(session_id: int, student: Student, record: AttendanceRecord | None) -> None:
    """Tell the session's live pages the student's record (None: not seen yet)."""
    broadcast_on_commit(
        session_id,
        {"type": "attendance", "student_id": student.pk, "name": student.full_name, **record_fields(record)},
    )


def _change(
    session_id: int,
    student: Student,
    record: AttendanceRecord | None,
    *,
    old_status: str,
    source: str,
    changed_by: User | None = None,
    note: str = "",
) -> None:
    """Audit one change of the student's status (record None: back to not seen) and broadcast it."""
    AttendanceChange.objects.create(
        session_id=session_id,
        student_id=student.pk,
        old_status=old_status,
        new_status=record.status if record else "",
        source=source,
        changed_by=changed_by,
        note=note,
    )
    _broadcast(session_id, student, record)


def seen_status(session: ClassSession, seen_at: datetime.datetime) -> str:
    """A student seen at `seen_at` is present, or late once the session's late-from time has passed."""
    return Status.LATE if seen_at > session.late_from else Status.PRESENT


def attendance_record_sighting(*, session_id: int, sighting: Sighting) -> AttendanceRecord | None:
    """The camera confirmed a student in an open session (face or card): mark them present or late.

    A student already seen only gets "last seen" and the best distance updated; an absence as not
    seen becomes present or late; a decision by a person is left alone (only "last seen" is
    noted). Returns the record, or None if nothing applied (the session is not open or is locked,
    or the student does not count in it).
    """
    with transaction.atomic():
        session = ClassSession.objects.select_for_update().filter(pk=session_id).first()
        # Locked: also a session left open, or opened again before this rule existed.
        if session is None or session.state != ClassSession.State.OPEN or session_is_locked(session):
            return None
        if not session_students(session=session).filter(pk=sighting.student_id).exists():
            return None
        status = seen_status(session, sighting.seen_at)
        record, created = AttendanceRecord.objects.select_for_update().get_or_create(
            session=session,
            student_id=sighting.student_id,
            defaults={
                "status": status,
                "source": sighting.source,
                "first_seen_at": sighting.seen_at,
                "last_seen_at": sighting.seen_at,
                "best_distance": sighting.distance,
            },
        )
        if created:
            _change(record.session_id, record.student, record, old_status="", source=sighting.source)
            return record
        if record.source not in (Source.FACE, Source.CARD, Source.SYSTEM):
            # A person's decision stands; the page shows that the camera has seen the student.
            first_sighting = record.last_seen_at is None
            record.first_seen_at = record.first_seen_at or sighting.seen_at
            record.last_seen_at = max(record.last_seen_at or sighting.seen_at, sighting.seen_at)
            record.save(update_fields=["first_seen_at", "last_seen_at"])
            if first_sighting:
                _broadcast(record.session_id, record.student, record)
            return record
        old_status = record.status
        record.last_seen_at = max(record.last_seen_at or sighting.seen_at, sighting.seen_at)
        if sighting.distance is not None:
            record.best_distance = min(record.best_distance or sighting.distance, sighting.distance)
        if record.source == Source.SYSTEM:
            # Marked absent as not seen (with everyone not yet seen, or when the session closed and
            # it was opened again): now seen.
            record.status, record.source, record.first_seen_at = status, sighting.source, sighting.seen_at
        record.save()
        if record.status != old_status:
            _change(record.session_id, record.student, record, old_status=old_status, source=sighting.source)
        return record


def _refuse_if_locked(session: ClassSession, changed_by: User | None) -> None:
    if session_is_locked(session) and not may_change_locked(changed_by):
        raise ApplicationError(
            f"Records of sessions older than {settings.ATTENDANCE_LOCK_DAYS} days are locked; ask an administrator."
        )


def _decision_session(*, session: ClassSession, student: Student, changed_by: User | None) -> ClassSession:
    """The session under its row lock, if `changed_by` may decide about `student` in it."""
    # Lock the session first, as sightings and closing do: the same lock order everywhere means a
    # teacher's mark and a face sighting at the same moment queue instead of deadlocking.
    session = ClassSession.objects.select_for_update().select_related("course").get(pk=session.pk)
    _refuse_if_locked(session, changed_by)
    if not session_students(session=session).filter(pk=student.pk).exists():
        raise ApplicationError(f"{student.full_name} is not enrolled in {session.course.code} for this session.")
    return session


def attendance_set_status(
    *,
    session: ClassSession,
    student: Student,
    status: str,
    changed_by: User | None,
    note: str = "",
    source: str = Source.MANUAL,
    seen_at: datetime.datetime | None = None,
) -> AttendanceRecord:
    """A person's decision about one student in one session (a correction or a confirmation of a
    face seen at `seen_at`).

    Records of sessions that started more than `ATTENDANCE_LOCK_DAYS` days ago are locked for
    everybody but staff (and for changes made by nobody in particular: `changed_by` None).
    """
    if status not in Status.values:
        raise ApplicationError(f"Unknown status {status!r}; use one of {', '.join(Status.values)}.")
    with transaction.atomic():
        session = _decision_session(session=session, student=student, changed_by=changed_by)
        record, created = AttendanceRecord.objects.select_for_update().get_or_create(
            session=session,
            student=student,
            defaults={"status": status, "source": source, "changed_by": changed_by, "note": note},
        )
        old_status = "" if created else record.status
        record.status, record.source, record.changed_by, record.note = status, source, changed_by, note
        if seen_at is not None:
            record.first_seen_at = record.first_seen_at or seen_at
            record.last_seen_at = max(record.last_seen_at or seen_at, seen_at)
        record.save()
        _change(
            record.session_id,
            record.student,
            record,
            old_status=old_status,
            source=source,
            changed_by=changed_by,
            note=note,
        )
        return record


def attendance_confirm_face(
    *, session: ClassSession, student: Student, changed_by: User, note: str = ""
) -> AttendanceRecord:
    """The teacher says who a face the camera was unsure of is: that student is seen now, so
    present, or late after the late-from time (source "teacher", not a decision by hand)."""
    now = timezone.now()
    return attendance_set_status(
        session=session,
        student=student,
        status=seen_status(session, now),
        changed_by=changed_by,
        note=note,
        source=Source.TEACHER,
        seen_at=now,
    )


def attendance_clear(*, session: ClassSession, student: Student, changed_by: User | None, note: str = "") -> None:
    """Undo: the student is "not seen yet" again, so the camera may mark them (the record goes;
    the audit trail keeps what it was)."""
    with transaction.atomic():
        session = _decision_session(session=session, student=student, changed_by=changed_by)
        record = AttendanceRecord.objects.select_for_update().filter(session=session, student=student).first()
        if record is None:
            return
        record.delete()
        _change(
            session.pk, student, None, old_status=record.status, source=Source.MANUAL, changed_by=changed_by, note=note
        )


def _mark_unseen(
    session: ClassSession, *, status: str, source: str, changed_by: User | None, note: str
) -> list[AttendanceRecord]:
    """Give everyone who counts in the (row-locked) session and has no record yet `status`."""
    records = []
    for student in session_students(session=session).exclude(attendance_records__session=session):
        record = AttendanceRecord.objects.create(
            session=session, student=student, status=status, source=source, changed_by=changed_by, note=note
        )
        _change(
            record.session_id, record.student, record, old_status="", source=source, changed_by=changed_by, note=note
        )
        records.append(record)
    return records


def attendance_mark_unseen(*, session: ClassSession, status: str, changed_by: User) -> list[AttendanceRecord]:
    """Everyone not seen yet gets `status`. Absent is provisional (source "system", as at closing:
    a later sighting makes them present or late); late, excused or present are decisions by hand."""
    if status not in Status.values:
        raise ApplicationError(f"Unknown status {status!r}; use one of {', '.join(Status.values)}.")
    with transaction.atomic():
        session = ClassSession.objects.select_for_update().get(pk=session.pk)
        _refuse_if_locked(session, changed_by)
        if status == Status.ABSENT:
            note, source = "Not seen yet; the camera can still mark them.", Source.SYSTEM
        else:
            note, source = "Marked with everyone not yet seen.", Source.MANUAL
        return _mark_unseen(session, status=status, source=source, changed_by=changed_by, note=note)


def session_start_now(*, course: Course, minutes: int) -> ClassSession:
    """Create a session of `course` that starts now and is open for recognition."""
    now = timezone.now()
    return ClassSession.objects.create(
        course=course,
        starts_at=now,
        ends_at=now + datetime.timedelta(minutes=minutes),
        state=ClassSession.State.OPEN,
    )


def session_open(*, session: ClassSession) -> ClassSession:
    """Open the session for recognition; a locked or cancelled session is refused, whoever asks."""
    with transaction.atomic():
        session = ClassSession.objects.select_for_update().get(pk=session.pk)
        if session_is_locked(session):
            raise ApplicationError(
                f"This session started more than {settings.ATTENDANCE_LOCK_DAYS} days ago: it is locked "
                "and cannot be opened. Correct its records one by one instead."
            )
        if session.state == ClassSession.State.CANCELLED:
            raise ApplicationError("This session was cancelled and cannot be opened; schedule a new one.")
        session.state = ClassSession.State.OPEN
        session.save(update_fields=["state"])
        broadcast_on_commit(session.pk, {"type": "session", "state": session.state})
    return session


def session_update(
    *,
    session: ClassSession,
    changed_by: User | None,
    starts_at: datetime.datetime | None = None,
    ends_at: datetime.datetime | None = None,
    late_after_minutes: int | None = None,
) -> ClassSession:
    """Change a session's times or late minutes (None: keep); a change of times is audited.

    Only staff change a locked session, and only they move a session to start in the locked
    past: otherwise a teacher could move a session out of its lock, change its records and move
    it back.
    """
    with transaction.atomic():
        session = ClassSession.objects.select_for_update().select_related("course").get(pk=session.pk)
        old_times = (session.starts_at, session.ends_at)
        new_times = (starts_at or session.starts_at, ends_at or session.ends_at)
        new_late = session.late_after_minutes if late_after_minutes is None else late_after_minutes
        if (new_times, new_late) == (old_times, session.late_after_minutes):
            return session
        if not may_change_locked(changed_by):
            days = settings.ATTENDANCE_LOCK_DAYS
            if session_is_locked(session):
                raise ApplicationError(
                    f"This session started more than {days} days ago: it is locked and cannot be changed; "
                    "ask an administrator."
                )
            if new_times[0] < lock_cutoff():
                raise ApplicationError(
                    f"A session cannot be moved to start more than {days} days ago; ask an administrator."
                )
        session.starts_at, session.ends_at = new_times
        session.late_after_minutes = new_late
        session.save(update_fields=["starts_at", "ends_at", "late_after_minutes"])
        if new_times != old_times:
            SessionChange.objects.create(
                session=session,
                old_starts_at=old_times[0],
                old_ends_at=old_times[1],
                new_starts_at=new_times[0],
                new_ends_at=new_times[1],
                changed_by=changed_by,
            )
    return session


def session_close(*, session: ClassSession) -> ClassSession:
    """Close the session: everyone who counts in it and was never seen becomes absent."""
    with transaction.atomic():
        session = ClassSession.objects.select_for_update().get(pk=session.pk)
        session.state = ClassSession.State.CLOSED
        session.save(update_fields=["state"])
        _mark_unseen(
            session,
            status=Status.ABSENT,
            source=Source.SYSTEM,
            changed_by=None,
            note="Not seen before the session closed.",
        )
        broadcast_on_commit(session.pk, {"type": "session", "state": session.state})
    return session
