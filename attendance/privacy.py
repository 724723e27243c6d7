"""Students' rights over the data kept about them: export, and retention of photos and embeddings.

Inactive students' photos and embeddings are purged after PHOTO_RETENTION_DAYS by
`manage.py purge_inactive_photos`; withdrawing consent (students/consent.py) deletes them at once.
The files of rejected photos, and of photos of students without consent, are deleted sooner, after
PHOTO_REJECTED_FILE_HOURS (students.services.photos_delete_expired_files).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from attendance.models import AttendanceRecord
from students.models import Student, StudentPhoto


def students_purge_inactive(*, days: int, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Delete photos and embeddings of students inactive for `days` days: (students, photos).

    A student is inactive when marked so, or when their last change, last photo upload and last
    attendance record are all older than the retention period. Their image files are deleted once
    this commits (students/receivers.py).
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    photos = StudentPhoto.objects.filter(student=OuterRef("pk"))
    recent_record = AttendanceRecord.objects.filter(student=OuterRef("pk"), updated_at__gte=cutoff)
    stale = Student.objects.filter(Exists(photos), updated_at__lt=cutoff).filter(
        Q(is_active=False) | (~Exists(photos.filter(created_at__gte=cutoff)) & ~Exists(recent_record))
    )
    with transaction.atomic():
        student_ids = list(stale.values_list("pk", flat=True))
        deleted, _ = StudentPhoto.objects.filter(student_id__in=student_ids).delete()
    return len(student_ids), deleted


def student_data_export(*, student: Student) -> dict[str, Any]:
    """Everything stored about one student, as JSON-ready data (no image bytes, no embeddings)."""
    return {
        "student": {
            "student_number": student.student_number,
            "first_name": student.first_name,
            "last_name": student.last_name,
            "email": student.email,
            "is_active": student.is_active,
            "consent_given_at": _iso(student.consent_given_at),
            "created_at": _iso(student.created_at),
            "updated_at": _iso(student.updated_at),
        },
        "photos": [
            {
                "id": photo.pk,
                "status": photo.status,
                "reason": photo.reason,
                "width": photo.width,
                "height": photo.height,
                "sha256": photo.sha256,
                "face_box": photo.face_box,
                "face_probability": photo.face_probability,
                "has_embedding": photo.embedding is not None,
                "embedding_model": photo.embedding_model,
                "uploaded_at": _iso(photo.created_at),
                "processed_at": _iso(photo.processed_at),
            }
            for photo in student.photos.order_by("created_at")
        ],
        "enrollments": [
            {
                "course": enrollment.course.code,
                "course_name": enrollment.course.name,
                "start_date": enrollment.start_date.isoformat(),
                "end_date": enrollment.end_date.isoformat() if enrollment.end_date else None,
            }
            for enrollment in student.enrollments.select_related("course").order_by("start_date")
        ],
        "attendance": [
            {
                "course": record.session.course.code,
                "session_start": _iso(record.session.starts_at),
                "status": record.status,
                "source": record.source,
                "first_seen_at": _iso(record.first_seen_at),
                "last_seen_at": _iso(record.last_seen_at),
                "best_distance": record.best_distance,
                "note": record.note,
            }
            for record in student.attendance_records.select_related("session__course").order_by("session__starts_at")
        ],
        "attendance_changes": [
            {
                "course": change.session.course.code,
                "session_start": _iso(change.session.starts_at),
                "old_status": change.old_status,
                "new_status": change.new_status,
                "source": change.source,
                "changed_by": change.changed_by.get_username() if change.changed_by else None,
                "note": change.note,
                "at": _iso(change.created_at),
            }
            for change in student.attendance_changes.select_related("session__course", "changed_by").order_by(
                "created_at"
            )
        ],
    }


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None
