"""Photos added on a student's admin page go through the same checks as the API."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from students.models import Student, StudentPhoto
from students.services import photo_create
from tests.faces import face_bytes
from tests.recognition.samples import BadUpload, bad_uploads, encode, gradient
from tests.students.builders import files_under, student_form


def change_url(student: Student) -> str:
    return reverse("admin:students_student_change", args=[student.pk])


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def test_photos_added_on_the_student_page_are_stored_and_queued(
    admin_client: Client, student: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    photos = [upload("a.jpg", face_bytes("enroll/obama/obama.jpg")), upload("b.jpg", face_bytes("probe/obama1.jpg"))]

    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(change_url(student), student_form(student, new_photos=photos), follow=True)

    assert response.status_code == 200
    assert "2 photo(s) uploaded; each is checked for a face in the background." in response.content.decode()
    assert student.photos.filter(status=StudentPhoto.Status.PENDING).count() == 2
    assert len(files_under(media_root)) == 2
    assert len(queued) == 2


def test_a_new_student_can_be_added_with_a_photo(admin_client: Client, db: None) -> None:
    photo = upload("a.jpg", face_bytes("enroll/obama/obama.jpg"))

    response = admin_client.post(reverse("admin:students_student_add"), student_form(new_photos=[photo]))

    assert response.status_code == 302
    student = Student.objects.get(student_number="S100")
    assert student.photos.count() == 1


@pytest.mark.parametrize("case", bad_uploads(), ids=lambda case: case.id)
def test_bad_photos_are_400_with_the_error_on_the_page_and_nothing_is_stored(
    case: BadUpload, admin_client: Client, student: Student, media_root: Path, settings: Any
) -> None:
    for name, value in case.settings.items():
        setattr(settings, name, value)

    response = admin_client.post(
        change_url(student), student_form(student, new_photos=[upload(case.filename, case.data)])
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert html.escape(f"{case.filename}: {case.message}") in page
    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []


def test_one_bad_photo_among_good_ones_stores_none_of_them(
    admin_client: Client, student: Student, media_root: Path
) -> None:
    photos = [upload("good.jpg", face_bytes("enroll/obama/obama.jpg")), upload("bad.jpg", b"not a photo")]

    response = admin_client.post(change_url(student), student_form(student, new_photos=photos))

    assert response.status_code == 400
    assert "bad.jpg: The file is not a JPEG, PNG or WebP image." in response.content.decode()
    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []


def test_the_student_page_shows_photos_with_status_and_reason(admin_client: Client, student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("probe/two_people.jpg"))
    StudentPhoto.objects.filter(pk=photo.pk).update(status=StudentPhoto.Status.REJECTED, reason="2 faces found")

    response = admin_client.get(change_url(student))

    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("photo-image", args=[photo.pk]) + "?size=thumb" in page
    assert "2 faces found" in page


def test_photos_can_be_requeued_from_the_photo_list(
    admin_client: Client, student: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    StudentPhoto.objects.filter(pk=photo.pk).update(status=StudentPhoto.Status.FAILED, reason="Model unavailable")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:students_studentphoto_changelist"),
            {"action": "requeue", "_selected_action": [photo.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "1 photo(s) queued." in response.content.decode()
    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.READY
    assert photo.reason == ""


def test_admin_lists_render(admin_client: Client, student: Student) -> None:
    photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    photo = student.photos.get()

    for url in (
        reverse("admin:students_student_changelist"),
        reverse("admin:students_studentphoto_changelist"),
        reverse("admin:students_studentphoto_change", args=[photo.pk]),
    ):
        assert admin_client.get(url).status_code == 200, url


def test_the_photo_page_boxes_the_face_found_and_the_list_groups_photos_by_student(
    admin_client: Client, student: Student
) -> None:
    photo, _ = photo_create(student=student, data=encode(gradient((200, 400)), "PNG"))
    StudentPhoto.objects.filter(pk=photo.pk).update(
        status=StudentPhoto.Status.READY, width=200, height=400, face_box=[50, 100, 150, 300], embedding_model="m-1"
    )
    zoe = Student.objects.create(student_number="S009", first_name="Zoe", last_name="Abbott")
    photo_create(student=zoe, data=encode(gradient(), "PNG"))

    page = admin_client.get(reverse("admin:students_studentphoto_change", args=[photo.pk])).content.decode()
    listed = admin_client.get(reverse("admin:students_studentphoto_changelist")).content.decode()

    assert 'class="face-box" style="left: 25.00%; top: 25.00%; width: 50.00%; height: 50.00%"' in page
    # Abbott before Lovelace; the model id is a filter, not a column.
    assert listed.index("S009") < listed.index("S001")
    assert "m-1</td>" not in listed
