"""A photo's image file goes with its row, however the row is deleted, once the deletion commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from students.models import Student, StudentPhoto
from students.services import photo_create
from tests.faces import face_bytes
from tests.students.builders import files_under, student_form


@pytest.fixture
def photos(student: Student) -> list[StudentPhoto]:
    return [
        photo_create(student=student, data=face_bytes(relative))[0]
        for relative in ("enroll/obama/obama.jpg", "enroll/obama/obama2.jpg")
    ]


def test_deleting_a_photo_deletes_its_file(
    photos: list[StudentPhoto], media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    kept, deleted = photos

    with django_capture_on_commit_callbacks(execute=True):
        deleted.delete()

    assert files_under(media_root) == [Path(kept.image.path)]


def test_deleting_a_student_deletes_their_photo_files(
    student: Student, photos: list[StudentPhoto], media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    other = Student.objects.create(student_number="S002")
    others_photo, _ = photo_create(student=other, data=face_bytes("enroll/biden/biden.jpg"))

    with django_capture_on_commit_callbacks(execute=True):
        student.delete()

    assert not StudentPhoto.objects.filter(pk__in=[photo.pk for photo in photos]).exists()
    assert files_under(media_root) == [Path(others_photo.image.path)]


def test_a_deletion_that_is_rolled_back_keeps_the_file(
    photos: list[StudentPhoto], media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        photos[0].delete()
        raise RuntimeError("something after the deletion failed")

    assert StudentPhoto.objects.count() == 2
    assert len(files_under(media_root)) == 2


def test_photos_deleted_in_bulk_in_the_admin_lose_their_files(
    admin_client: Client, photos: list[StudentPhoto], media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:students_studentphoto_changelist"),
            {"action": "delete_selected", "_selected_action": [photo.pk for photo in photos], "post": "yes"},
        )

    assert response.status_code == 302
    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []


def test_a_photo_deleted_on_the_student_page_loses_its_file(
    admin_client: Client,
    student: Student,
    photos: list[StudentPhoto],
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    kept, deleted = photos
    form = student_form(student, photos=[kept, deleted], **{"photos-1-DELETE": "on"})

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:students_student_change", args=[student.pk]), form)

    assert response.status_code == 302
    assert list(student.photos.all()) == [kept]
    assert files_under(media_root) == [Path(kept.image.path)]
