"""The photo REST API: upload (202, processed in the background), status, permissions, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from attendance.models import Course
from students.models import Student, StudentPhoto
from tests.faces import face_bytes
from tests.recognition.samples import BadUpload, bad_uploads
from tests.students.builders import files_under


def upload_url(student: Student) -> str:
    return reverse("api:api-student-photos", args=[student.pk])


def detail_url(photo_id: int) -> str:
    return reverse("api:api-photo-detail", args=[photo_id])


def upload(client: Client, student: Student, data: bytes, filename: str = "photo.jpg") -> Any:
    return client.post(upload_url(student), {"image": SimpleUploadedFile(filename, data)})


def test_upload_answers_202_with_the_pending_photo(admin_client: Client, student: Student, media_root: Path) -> None:
    data = face_bytes("enroll/obama/obama.jpg")

    response = upload(admin_client, student, data, "obama.jpg")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["student"] == student.pk
    assert (body["width"], body["height"]) == (910, 1137)
    photo = StudentPhoto.objects.get(pk=body["id"])
    assert photo.student == student
    assert photo.uploaded_by is not None and photo.uploaded_by.username == "admin"
    assert [path.read_bytes() for path in files_under(media_root)] == [data]


def test_the_photo_is_processed_and_its_status_shown(
    admin_client: Client, student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload(admin_client, student, face_bytes("enroll/obama/obama.jpg")).json()

    response = admin_client.get(detail_url(uploaded["id"]))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == uploaded["id"]
    assert body["status"] == "ready"
    assert body["reason"] == ""
    assert len(body["face_box"]) == 4
    assert body["face_probability"] > 0.99
    assert body["embedding_model"].startswith("inception_resnet_v1:")
    assert body["processed_at"] is not None
    assert "embedding" not in body


def test_a_rejected_photo_shows_the_reason(
    admin_client: Client, student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload(admin_client, student, face_bytes("probe/two_people.jpg")).json()

    body = admin_client.get(detail_url(uploaded["id"])).json()

    assert body["status"] == "rejected"
    assert body["reason"] == "2 faces found: upload a photo of one person."


def test_the_same_file_again_returns_the_existing_photo_with_200(
    admin_client: Client, student: Student, media_root: Path
) -> None:
    data = face_bytes("enroll/obama/obama.jpg")
    first = upload(admin_client, student, data)

    again = upload(admin_client, student, data, "renamed.jpg")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert StudentPhoto.objects.count() == 1
    assert len(files_under(media_root)) == 1


def test_a_token_authenticates_staff(client: Client, admin_user: User, student: Student) -> None:
    _, token = AuthToken.objects.create(user=admin_user)

    response = client.post(
        upload_url(student),
        {"image": SimpleUploadedFile("photo.jpg", face_bytes("enroll/obama/obama.jpg"))},
        headers={"Authorization": f"Token {token}"},
    )

    assert response.status_code == 202


@pytest.fixture
def photo(student: Student) -> StudentPhoto:
    from students.services import photo_create

    return photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))[0]


def test_anonymous_users_are_refused(client: Client, student: Student, photo: StudentPhoto, media_root: Path) -> None:
    upload_response = upload(client, student, face_bytes("enroll/biden/biden.jpg"))
    detail_response = client.get(detail_url(photo.pk))

    assert upload_response.status_code in (401, 403)
    assert detail_response.status_code in (401, 403)
    assert "Authentication credentials were not provided." in detail_response.json()["detail"]
    assert StudentPhoto.objects.count() == 1
    assert len(files_under(media_root)) == 1


def test_teachers_are_refused_even_their_own_students(
    client: Client, teacher: User, course: Course, student: Student, photo: StudentPhoto, media_root: Path
) -> None:
    client.force_login(teacher)

    upload_response = upload(client, student, face_bytes("enroll/biden/biden.jpg"))
    detail_response = client.get(detail_url(photo.pk))

    assert upload_response.status_code == 403
    assert detail_response.status_code == 403
    assert detail_response.json()["detail"] == "You do not have permission to perform this action."
    assert StudentPhoto.objects.count() == 1
    assert len(files_under(media_root)) == 1


def test_unknown_student_and_photo_are_404(admin_client: Client, db: None) -> None:
    missing = Student(pk=999_999)

    assert upload(admin_client, missing, face_bytes("enroll/obama/obama.jpg")).status_code == 404
    assert admin_client.get(detail_url(999_999)).status_code == 404


def test_an_upload_without_a_file_is_400(admin_client: Client, student: Student) -> None:
    response = admin_client.post(upload_url(student), {})

    assert response.status_code == 400
    assert response.json() == {"image": ["No file was submitted."]}


@pytest.mark.parametrize("case", bad_uploads(), ids=lambda case: case.id)
def test_bad_uploads_are_400_with_the_reason_and_nothing_is_stored(
    case: BadUpload, admin_client: Client, student: Student, media_root: Path, settings: Any
) -> None:
    for name, value in case.settings.items():
        setattr(settings, name, value)

    response = upload(admin_client, student, case.data, case.filename)

    assert response.status_code == 400
    assert case.message in response.json()["detail"]
    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []
