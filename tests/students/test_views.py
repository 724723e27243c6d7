"""Student photos are served only to staff and to the teachers of the student's courses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from PIL import Image

from attendance.models import Course
from students.models import Student, StudentPhoto
from students.services import photo_create
from tests.faces import face_bytes
from tests.recognition.samples import exif_rotated_jpeg

OBAMA = "enroll/obama/obama.jpg"  # 910x1137


@pytest.fixture
def photo(student: Student) -> StudentPhoto:
    return photo_create(student=student, data=face_bytes(OBAMA))[0]


def image_url(photo: StudentPhoto, query: str = "") -> str:
    return reverse("photo-image", args=[photo.pk]) + query


def content_of(response: object) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]


def test_staff_get_the_photo_as_uploaded(admin_client: Client, photo: StudentPhoto) -> None:
    response = admin_client.get(image_url(photo))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert content_of(response) == face_bytes(OBAMA)


def test_the_thumbnail_is_a_small_upright_jpeg(admin_client: Client, student: Student) -> None:
    photo, _ = photo_create(student=student, data=exif_rotated_jpeg(OBAMA))

    response = admin_client.get(image_url(photo, "?size=thumb"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    with Image.open(io.BytesIO(content_of(response))) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 160
        assert thumb.height > thumb.width  # upright, as the portrait was taken


def test_a_png_photo_is_served_as_png(admin_client: Client, student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("edge/32bit.png"))

    response = admin_client.get(image_url(photo))

    assert response["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(admin_client.get(image_url(photo, "?size=thumb")).content)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.mode == "RGB"


def test_anonymous_users_are_sent_to_log_in(client: Client, photo: StudentPhoto) -> None:
    response = client.get(image_url(photo, "?size=thumb"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=" + image_url(photo, "%3Fsize%3Dthumb")


def test_a_teacher_of_another_course_gets_404(
    client: Client, other_teacher: User, course: Course, photo: StudentPhoto
) -> None:
    client.force_login(other_teacher)

    assert client.get(image_url(photo)).status_code == 404
    assert client.get(image_url(photo, "?size=thumb")).status_code == 404


def test_the_teacher_of_the_course_gets_the_photo(
    client: Client, teacher: User, course: Course, photo: StudentPhoto
) -> None:
    client.force_login(teacher)

    response = client.get(image_url(photo))

    assert response.status_code == 200
    assert content_of(response) == face_bytes(OBAMA)
    assert client.get(image_url(photo, "?size=thumb")).status_code == 200


def test_a_missing_photo_or_file_is_404(admin_client: Client, photo: StudentPhoto) -> None:
    Path(photo.image.path).unlink()

    assert admin_client.get(image_url(photo)).status_code == 404
    assert admin_client.get(reverse("photo-image", args=[999_999])).status_code == 404


def test_only_get(admin_client: Client, photo: StudentPhoto) -> None:
    assert admin_client.post(image_url(photo)).status_code == 405
