"""Students and their enrolment photos, each photo with the face embedding computed from it."""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath

import numpy as np
from django.conf import settings
from django.db import models


class Student(models.Model):
    student_number = models.CharField(max_length=32, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    consent_given_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the school recorded the student's consent to face recognition.",
    )
    # Check-in cards carry a signed token with this number: raising it revokes every card printed before.
    card_version = models.PositiveIntegerField(default=1, editable=False)
    guardian_emails = models.TextField(
        blank=True, help_text="Guardians' email addresses for attendance alerts, one per line."
    )
    alerts_to_student = models.BooleanField(
        default=True, help_text="Send attendance alerts to the student's own email address."
    )
    alerts_to_guardians = models.BooleanField(default=True, help_text="Send attendance alerts to the guardians.")
    # The student's sourcedId in the school's information system (OneRoster), if imported from it.
    sourced_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "student_number"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.student_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.student_number


def photo_upload_path(instance: StudentPhoto, filename: str) -> str:
    # A random name: the upload's own name may carry the student's name or other data.
    suffix = PurePosixPath(filename).suffix.lower()
    return f"student_photos/{uuid.uuid4().hex}{suffix}"


class StudentPhotoQuerySet(models.QuerySet["StudentPhoto"]):
    def recognisable(self, *, model_id: str | None = None) -> StudentPhotoQuerySet:
        """Photos recognition may use: ready, of an active student, and with REQUIRE_CONSENT of a
        student whose consent is recorded (nobody else is ever recognised, even if embeddings of
        theirs are left from before), embedded by `model_id` when given (other models' vectors do
        not compare). The gallery, its fingerprint, the roster and the admin all count these."""
        photos = self.filter(status=StudentPhoto.Status.READY, student__is_active=True, embedding__isnull=False)
        if settings.REQUIRE_CONSENT:
            photos = photos.filter(student__consent_given_at__isnull=False)
        if model_id is not None:
            photos = photos.filter(embedding_model=model_id)
        return photos


class StudentPhoto(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        # Embedded, but not used until an admin approves it: the face may be another person's.
        REVIEW = "review", "Needs review"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"

    class Origin(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        # The crop of a face a teacher assigned to the student on a live page (never the frame).
        SESSION = "session", "From a session"

    EMBEDDING_DIM = 512

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to=photo_upload_path)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, help_text="Of the uploaded file; one upload per student.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.UPLOAD)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the photo was rejected or failed.")
    face_box = models.JSONField(null=True, blank=True, help_text="[x1, y1, x2, y2] in image pixels.")
    face_probability = models.FloatField(null=True, blank=True)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    objects = StudentPhotoQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["student", "sha256"], name="unique_photo_per_student"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"Photo {self.pk} of {self.student.student_number} ({self.status})"

    @property
    def embedding_vector(self) -> np.ndarray | None:
        return None if self.embedding is None else self.decode_embedding(self.embedding)

    @staticmethod
    def decode_embedding(blob: bytes | memoryview | None) -> np.ndarray:
        """A stored embedding (float32 bytes, as the task writes them) as a vector."""
        if blob is None:
            raise ValueError("The photo has no embedding.")
        return np.frombuffer(bytes(blob), dtype=np.float32)
