"""Reads about courses, sessions and attendance, with the permission rules in one place."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student, StudentPhoto

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


def course_student_ids(*, code: str) -> list[int] | None:
    """Ids of the students enrolled in the course, or None if there is no such course."""
    course = Course.objects.filter(code=code).first()
    if course is None:
        return None
    return list(course.enrollments.values_list("student_id", flat=True))


def courses_for(*, user: User | AnonymousUser) -> QuerySet[Course]:
    """Staff see every course; a teacher the courses they teach; anybody else none."""
    if not user.is_authenticated:
        return Course.objects.none()
    if user.is_staff:
        return Course.objects.all()
    return Course.objects.filter(teachers=user)


def students_for(*, user: User | AnonymousUser) -> QuerySet[Student]:
    """Staff see every student; a teacher the students ever enrolled in a course they teach."""
    if not user.is_authenticated:
        return Student.objects.none()
    if user.is_staff:
        return Student.objects.all()
    return Student.objects.filter(enrollments__course__in=courses_for(user=user)).distinct()


def sessions_for(*, user: User | AnonymousUser) -> QuerySet[ClassSession]:
    return ClassSession.objects.filter(course__in=courses_for(user=user)).select_related("course")


def session_for(*, user: User | AnonymousUser, session_id: int) -> ClassSession | None:
    """The session if the user may see and change it, else None (whether or not it exists)."""
    return sessions_for(user=user).filter(pk=session_id).first()


def lock_cutoff() -> datetime.datetime:
    """Sessions that start before this moment, ATTENDANCE_LOCK_DAYS ago, are locked."""
    return timezone.now() - datetime.timedelta(days=settings.ATTENDANCE_LOCK_DAYS)


def session_is_locked(session: ClassSession) -> bool:
    """The session's records are final: nobody opens it again and no sighting changes it; only
    staff change its times or correct its records (`may_change_locked`)."""
    return session.starts_at < lock_cutoff()


def may_change_locked(user: User | None) -> bool:
    """Staff correct locked sessions; teachers, and changes made by nobody in particular, cannot."""
    return user is not None and user.is_staff


def session_students(*, session: ClassSession) -> QuerySet[Student]:
    """Students who count in the session: enrolled in its course on the day it was held."""
    enrolments = Enrollment.objects.on(timezone.localdate(session.starts_at)).filter(course_id=session.course_id)
    return Student.objects.filter(pk__in=enrolments.values("student_id"))


def session_roster(*, session: ClassSession) -> list[dict[str, Any]]:
    """Every student who counts in the session with their record (status None: not seen yet)."""
    records = {
        record.student_id: record
        for record in AttendanceRecord.objects.filter(session=session).select_related("changed_by")
    }
    # The students recognition can find (whichever model embedded their photos).
    recognisable = StudentPhoto.objects.recognisable().filter(student__in=session_students(session=session))
    # One enrolled photo per student, shown beside a "maybe" offer (served by the authorised view).
    photo_ids: dict[int, int] = {}
    for student_id, photo_id in recognisable.order_by("-pk").values_list("student_id", "pk"):
        photo_ids[student_id] = photo_id
    roster = []
    for student in session_students(session=session).order_by("last_name", "first_name", "student_number"):
        record = records.get(student.pk)
        roster.append(
            {
                "student_id": student.pk,
                "name": student.full_name,
                "student_number": student.student_number,
                "has_photo": student.pk in photo_ids,
                # Only then may a teacher add a face seen on the live page as the student's photo.
                "consented": student.consent_given_at is not None,
                "photo_url": reverse("photo-image", args=[photo_ids[student.pk]]) + "?size=thumb"
                if student.pk in photo_ids
                else None,
                **record_fields(record),
            }
        )
    return roster


def record_fields(record: AttendanceRecord | None) -> dict[str, Any]:
    """A record as the live page shows it (None: not seen yet)."""
    if record is None:
        return {"status": None, "first_seen": None, "last_seen": None, "source": None, "note": "", "changed_by": None}
    changed_by = record.changed_by
    return {
        "status": record.status,
        "first_seen": record.first_seen_at.isoformat() if record.first_seen_at else None,
        "last_seen": record.last_seen_at.isoformat() if record.last_seen_at else None,
        "source": record.source,
        "note": record.note,
        "changed_by": (changed_by.get_full_name() or changed_by.get_username()) if changed_by else None,
    }
