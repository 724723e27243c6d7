"""Consent to face recognition, changed only here, by every interface (admin, API, commands).

A student's embeddings exist only while consent is recorded (when REQUIRE_CONSENT is on):
withdrawing consent deletes their photos and embeddings at once (the files once that commits);
recording it checks again the photos rejected for the lack of it. Export and retention, which
also read attendance, are in attendance/privacy.py.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from students.models import Student, StudentPhoto
from students.services import CONSENT_MISSING, photo_requeue


def student_withdraw_consent(*, student: Student) -> int:
    """Forget the student's consent and delete every photo and embedding; returns photos deleted."""
    with transaction.atomic():
        student.consent_given_at = None
        student.save(update_fields=["consent_given_at", "updated_at"])
        deleted, _ = StudentPhoto.objects.filter(student=student).delete()
    return deleted


def student_record_consent(*, student: Student) -> Student:
    """Record the student's consent, and queue again the photos rejected for the lack of it."""
    with transaction.atomic():
        if student.consent_given_at is None:
            student.consent_given_at = timezone.now()
            student.save(update_fields=["consent_given_at", "updated_at"])
        for photo in student.photos.filter(status=StudentPhoto.Status.REJECTED, reason=CONSENT_MISSING):
            photo_requeue(photo=photo)
    return student
