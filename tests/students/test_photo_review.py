"""A new photo that may show another person waits for an admin instead of being used: far from the
student's other photos, or nearer another student's. Real photos, the real model."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from students.models import Student, StudentPhoto
from students.selectors import gallery_for
from students.services import photo_create, photo_enrol
from tests.faces import face_bytes

pytestmark = pytest.mark.django_db


def enrolled(student: Student, relative: str) -> StudentPhoto:
    photo, created = photo_create(student=student, data=face_bytes(relative))
    assert created
    return photo_enrol(photo=photo)


@pytest.fixture
def joe() -> Student:
    return Student.objects.create(
        student_number="S002", first_name="Joe", last_name="Biden", consent_given_at=timezone.now()
    )


def in_gallery(photo: StudentPhoto) -> bool:
    return photo.student_id in gallery_for(model_id=photo.embedding_model).student_ids.tolist()


def test_a_second_photo_of_the_same_person_is_ready(student: Student) -> None:
    enrolled(student, "enroll/obama/obama.jpg")

    second = enrolled(student, "enroll/obama/obama2.jpg")

    assert (second.status, second.reason) == (StudentPhoto.Status.READY, "")


def test_another_persons_face_for_the_same_student_waits_for_review(student: Student) -> None:
    enrolled(student, "enroll/obama/obama.jpg")

    stranger = enrolled(student, "enroll/kit_harington/john1.jpeg")

    assert stranger.status == StudentPhoto.Status.REVIEW
    assert stranger.reason.startswith("Far from this student's other photos (distance ")
    assert stranger.reason.endswith("check that it is the same person, then approve it, or delete it.")
    assert stranger.embedding is not None  # kept, so that approving needs no second run


def test_a_photo_of_another_enrolled_student_waits_for_review(student: Student, joe: Student) -> None:
    enrolled(joe, "enroll/biden/biden.jpg")

    # Uploaded for Ada by mistake: Ada has no photo yet, so only Joe's tell.
    mistaken = enrolled(student, "enroll/biden/biden2.jpg")

    assert mistaken.status == StudentPhoto.Status.REVIEW
    assert mistaken.reason.startswith("Close to the photos of Joe Biden (S002) (distance 0.")
    assert not in_gallery(mistaken)  # Ada is not recognised by Joe's face


def test_an_admin_approves_a_photo_and_recognition_then_uses_it(student: Student, admin_client: Client) -> None:
    enrolled(student, "enroll/obama/obama.jpg")
    stranger = enrolled(student, "enroll/kit_harington/john1.jpeg")
    ready = StudentPhoto.objects.get(student=student, status=StudentPhoto.Status.READY)
    changelist = reverse("admin:students_studentphoto_changelist")

    listed = admin_client.get(changelist, {"status": "review"})
    response = admin_client.post(
        changelist, {"action": "approve", "_selected_action": [stranger.pk, ready.pk]}, follow=True
    )

    assert escape(stranger.reason) in listed.content.decode()
    assert "1 photo(s) approved; 1 did not need review." in response.content.decode()
    stranger.refresh_from_db()
    assert (stranger.status, stranger.reason) == (StudentPhoto.Status.READY, "")
    assert in_gallery(stranger)


def test_a_teacher_cannot_approve(student: Student, teacher: User) -> None:
    enrolled(student, "enroll/obama/obama.jpg")
    stranger = enrolled(student, "enroll/kit_harington/john1.jpeg")
    client = Client()
    client.force_login(teacher)

    client.post(
        reverse("admin:students_studentphoto_changelist"), {"action": "approve", "_selected_action": [stranger.pk]}
    )

    stranger.refresh_from_db()
    assert stranger.status == StudentPhoto.Status.REVIEW
