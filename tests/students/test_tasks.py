"""Enrolment tasks: embedding one photo, and the periodic sweep that queues lost ones again.

Photos are stored with `photo_create` inside the test's transaction, so the embedding task it
queues on commit never runs: exactly a task lost with its worker or broker. Queued tasks run in
process (CELERY_TASK_ALWAYS_EAGER) with the real model once the callbacks are executed.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from config.celery import app
from students.models import Student, StudentPhoto
from students.services import CONSENT_MISSING, photo_create
from students.tasks import photo_embed_task, photos_requeue_stale
from tests.faces import face_bytes

pytestmark = pytest.mark.django_db


def lost_photo(student: Student, relative: str, *, minutes_ago: float) -> StudentPhoto:
    """A pending photo whose embedding task never ran, last changed `minutes_ago`."""
    photo, created = photo_create(student=student, data=face_bytes(relative))
    assert created
    StudentPhoto.objects.filter(pk=photo.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    photo.refresh_from_db()
    return photo


def test_a_stale_pending_photo_is_queued_again_and_embedded_and_a_fresh_one_left_alone(
    student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    stale = lost_photo(student, "enroll/obama/obama.jpg", minutes_ago=11)
    fresh = lost_photo(student, "enroll/obama/obama2.jpg", minutes_ago=9)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        result = photos_requeue_stale.delay()

    assert result.get() == 1
    assert len(queued) == 1
    stale.refresh_from_db()
    assert (stale.status, stale.reason) == (StudentPhoto.Status.READY, "")
    assert stale.embedding is not None
    untouched = StudentPhoto.objects.get(pk=fresh.pk)
    assert (untouched.status, untouched.updated_at) == (StudentPhoto.Status.PENDING, fresh.updated_at)


def test_finished_photos_are_never_queued_however_old(
    student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    photo = lost_photo(student, "enroll/obama/obama.jpg", minutes_ago=60)
    for status in (StudentPhoto.Status.READY, StudentPhoto.Status.REJECTED, StudentPhoto.Status.FAILED):
        StudentPhoto.objects.filter(pk=photo.pk).update(status=status)

        with django_capture_on_commit_callbacks(execute=True) as queued:
            assert photos_requeue_stale() == 0

        assert queued == []
        assert StudentPhoto.objects.get(pk=photo.pk).status == status


def test_how_old_is_stale_is_a_setting(
    student: Student, settings: Settings, django_capture_on_commit_callbacks: Callable
) -> None:
    settings.PHOTO_PENDING_STALE_SECONDS = 120
    lost_photo(student, "enroll/obama/obama.jpg", minutes_ago=3)

    with django_capture_on_commit_callbacks() as queued:
        assert photos_requeue_stale() == 1

    assert len(queued) == 1


def test_a_photo_is_queued_once_per_stale_period_even_if_lost_again(
    student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    """Queuing refreshes the photo: a sweep right after (or a second beat) does not queue it again."""
    photo = lost_photo(student, "enroll/obama/obama.jpg", minutes_ago=11)

    with django_capture_on_commit_callbacks() as first:  # queued, and lost again
        assert photos_requeue_stale() == 1
    with django_capture_on_commit_callbacks() as second:
        assert photos_requeue_stale() == 0

    assert (len(first), second) == (1, [])
    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.PENDING
    assert timezone.now() - photo.updated_at < datetime.timedelta(minutes=1)


def test_in_eager_mode_each_stale_photo_is_embedded_once_and_the_sweep_ends(
    student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    """In-process, the sweep embeds the photos itself; one that fails is finished, not retried."""
    missing = lost_photo(student, "enroll/obama/obama.jpg", minutes_ago=30)
    Path(missing.image.path).unlink()
    unconsented = Student.objects.create(student_number="S002")
    no_consent = lost_photo(unconsented, "enroll/biden/biden.jpg", minutes_ago=30)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert photos_requeue_stale() == 2

    assert len(queued) == 2
    missing.refresh_from_db()
    no_consent.refresh_from_db()
    assert (missing.status, missing.reason) == ("failed", "The image file is missing; upload it again.")
    assert (no_consent.status, no_consent.reason) == ("rejected", CONSENT_MISSING)
    with django_capture_on_commit_callbacks(execute=True) as again:
        assert photos_requeue_stale() == 0
    assert again == []


def test_the_sweep_runs_every_few_minutes_with_celery_beat() -> None:
    [entry] = [entry for entry in app.conf.beat_schedule.values() if entry["task"] == photos_requeue_stale.name]

    assert photos_requeue_stale.name == "students.tasks.photos_requeue_stale"
    assert photos_requeue_stale.name in app.tasks
    assert 10 <= entry["schedule"] <= 600


def test_the_embedding_task_skips_a_deleted_photo(student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    photo_id = photo.pk
    photo.delete()

    assert photo_embed_task(photo_id) == "deleted"
