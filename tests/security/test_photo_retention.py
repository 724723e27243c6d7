"""Finding 8, photos of bystanders kept forever: a rejected photo ("2 faces found") and a photo of
a student without recorded consent keep their files only PHOTO_REJECTED_FILE_HOURS, then the file
is deleted from MEDIA_ROOT and the row keeps its reason; the admin says so instead of showing it."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from students.consent import student_record_consent
from students.models import Student, StudentPhoto
from students.services import CONSENT_MISSING, FILE_DELETED, photo_create, photo_enrol, photos_delete_expired_files
from students.tasks import photos_delete_expired_files as sweep_task
from tests.faces import face_bytes
from tests.students.builders import files_under

TWO_PEOPLE = "probe/two_people.jpg"
OBAMA = "enroll/obama/obama.jpg"
TWO_FACES = "2 faces found: upload a photo of one person."
DELETED_NOTE = "File deleted after 72 hours; upload a new photo."


@pytest.fixture(autouse=True)
def retention(settings: Settings) -> None:
    settings.PHOTO_REJECTED_FILE_HOURS = 72
    settings.REQUIRE_CONSENT = True


@pytest.fixture
def unconsented(db: None) -> Student:
    return Student.objects.create(student_number="S050", first_name="Barack", last_name="Obama")


def enrolled(student: Student, relative: str) -> StudentPhoto:
    """A photo stored and put through the enrolment the background task runs (the real face model)."""
    photo, created = photo_create(student=student, data=face_bytes(relative))
    assert created
    return photo_enrol(photo=photo)


def age(photo: StudentPhoto, hours: float) -> None:
    """Make the photo's last change `hours` old."""
    StudentPhoto.objects.filter(pk=photo.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=hours))


def sweep(capture: Callable) -> int:
    """Run the beat task as the worker would, with the files deleted once its changes commit."""
    with capture(execute=True):
        return sweep_task()


@pytest.fixture
def rejected(student: Student) -> StudentPhoto:
    photo = enrolled(student, TWO_PEOPLE)
    assert (photo.status, photo.reason) == (StudentPhoto.Status.REJECTED, TWO_FACES)
    return photo


# --- Rejected photos ----------------------------------------------------------------------------


def test_a_rejected_photo_keeps_its_file_for_the_period_only(
    rejected: StudentPhoto, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    file = Path(rejected.image.path)

    assert sweep(django_capture_on_commit_callbacks) == 0
    age(rejected, 71)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert files_under(media_root) == [file]

    age(rejected, 73)
    assert sweep(django_capture_on_commit_callbacks) == 1

    assert files_under(media_root) == []
    rejected.refresh_from_db()
    assert (rejected.status, rejected.reason) == (StudentPhoto.Status.REJECTED, TWO_FACES)
    assert rejected.image.name == ""


def test_the_admin_says_the_file_was_deleted_and_the_photo_view_404s(
    rejected: StudentPhoto, admin_client: Client, django_capture_on_commit_callbacks: Callable
) -> None:
    image_url = reverse("photo-image", args=[rejected.pk])
    assert admin_client.get(image_url).status_code == 200
    age(rejected, 73)
    sweep(django_capture_on_commit_callbacks)

    pages = [
        reverse("admin:students_studentphoto_change", args=[rejected.pk]),
        reverse("admin:students_studentphoto_changelist") + "?status=rejected_or_failed",
        reverse("admin:students_student_change", args=[rejected.student_id]),
    ]
    for page in pages:
        html = admin_client.get(page).content.decode()
        assert DELETED_NOTE in html, page
        assert TWO_FACES in html, page
        assert image_url not in html, page
    assert admin_client.get(image_url).status_code == 404
    assert admin_client.get(image_url + "?size=thumb").status_code == 404


def test_deleting_is_idempotent_and_waits_for_the_commit(
    rejected: StudentPhoto, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    age(rejected, 73)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        photos_delete_expired_files(older_than=datetime.timedelta(hours=72))
        raise RuntimeError("the sweep's transaction failed")
    assert len(files_under(media_root)) == 1
    rejected.refresh_from_db()
    assert rejected.image.name

    assert sweep(django_capture_on_commit_callbacks) == 1
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert files_under(media_root) == []


def test_requeuing_a_photo_without_its_file_asks_for_a_new_upload(
    rejected: StudentPhoto, django_capture_on_commit_callbacks: Callable, admin_client: Client
) -> None:
    age(rejected, 73)
    sweep(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(
            reverse("admin:students_studentphoto_changelist"),
            {"action": "requeue", "_selected_action": [rejected.pk]},
        )

    assert response.status_code == 302
    assert queued == []
    rejected.refresh_from_db()
    assert (rejected.status, rejected.reason) == (StudentPhoto.Status.REJECTED, FILE_DELETED)


def test_the_same_photo_uploaded_again_after_its_file_was_deleted_is_stored_anew(
    rejected: StudentPhoto, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    age(rejected, 73)
    sweep(django_capture_on_commit_callbacks)

    photo, created = photo_create(student=rejected.student, data=face_bytes(TWO_PEOPLE))

    assert created
    assert photo.status == StudentPhoto.Status.PENDING
    assert files_under(media_root) == [Path(photo.image.path)]
    assert not StudentPhoto.objects.filter(pk=rejected.pk).exists()


# --- Photos of students without consent --------------------------------------------------------


def test_a_photo_of_a_student_without_consent_keeps_its_file_for_the_period_only(
    unconsented: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    photo = enrolled(unconsented, OBAMA)
    assert photo.reason == CONSENT_MISSING
    age(photo, 71)
    assert sweep(django_capture_on_commit_callbacks) == 0
    assert len(files_under(media_root)) == 1

    age(photo, 73)
    assert sweep(django_capture_on_commit_callbacks) == 1

    assert files_under(media_root) == []
    photo.refresh_from_db()
    assert (photo.status, photo.reason, photo.image.name) == (StudentPhoto.Status.REJECTED, CONSENT_MISSING, "")


def test_consent_recorded_in_time_checks_the_photo_again(
    unconsented: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    photo = enrolled(unconsented, OBAMA)
    age(photo, 71)

    with django_capture_on_commit_callbacks(execute=True):
        student_record_consent(student=unconsented)

    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.READY
    assert photo.image.name


def test_consent_recorded_after_the_file_was_deleted_asks_for_a_new_upload(
    unconsented: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    photo = enrolled(unconsented, OBAMA)
    age(photo, 73)
    sweep(django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks() as queued:
        student_record_consent(student=unconsented)

    assert queued == []  # nothing to check again
    photo.refresh_from_db()
    assert (photo.status, photo.reason) == (StudentPhoto.Status.REJECTED, FILE_DELETED)


def test_an_embedded_photo_of_a_student_without_consent_loses_file_and_embedding(
    unconsented: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    # Embedded while REQUIRE_CONSENT was off.
    photo, _ = photo_create(student=unconsented, data=face_bytes(OBAMA))
    embedding = np.ones(StudentPhoto.EMBEDDING_DIM, dtype=np.float32).tobytes()
    StudentPhoto.objects.filter(pk=photo.pk).update(status=StudentPhoto.Status.READY, embedding=embedding)
    age(photo, 73)

    assert sweep(django_capture_on_commit_callbacks) == 1

    assert files_under(media_root) == []
    photo.refresh_from_db()
    assert (photo.status, photo.reason, photo.embedding) == (StudentPhoto.Status.REJECTED, CONSENT_MISSING, None)


# --- What is kept -----------------------------------------------------------------------------


def test_nothing_else_is_deleted_however_old(
    student: Student, unconsented: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    ready = enrolled(student, OBAMA)
    failed, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama2.jpg"))
    StudentPhoto.objects.filter(pk=failed.pk).update(status=StudentPhoto.Status.FAILED, reason="Face model unavailable")
    pending, _ = photo_create(student=unconsented, data=face_bytes(OBAMA))
    for photo in (ready, failed, pending):
        age(photo, 24 * 365)

    assert sweep(django_capture_on_commit_callbacks) == 0
    assert len(files_under(media_root)) == 3


def test_without_require_consent_only_rejected_photos_lose_their_files(
    settings: Settings, unconsented: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    settings.REQUIRE_CONSENT = False
    ready, _ = photo_create(student=unconsented, data=face_bytes(OBAMA))
    StudentPhoto.objects.filter(pk=ready.pk).update(status=StudentPhoto.Status.READY)
    bystanders = enrolled(unconsented, TWO_PEOPLE)
    for photo in (ready, bystanders):
        age(photo, 73)

    assert sweep(django_capture_on_commit_callbacks) == 1

    assert files_under(media_root) == [Path(ready.image.path)]


# --- How it runs ----------------------------------------------------------------------------


def test_beat_runs_the_sweep_and_a_command_runs_it_without_beat(
    rejected: StudentPhoto, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["photos-delete-expired-files"]["task"] == sweep_task.name
    age(rejected, 73)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("delete_expired_photo_files")

    assert files_under(media_root) == []
    with pytest.raises(CommandError, match="--hours must be 0 or more"):
        call_command("delete_expired_photo_files", "--hours", "-1")
