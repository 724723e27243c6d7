"""Consent to face recognition: no embedding without it, nobody recognised without it, and a
student without it is still on the live roster to be marked by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from attendance import live
from attendance.models import AttendanceChange, AttendanceRecord
from recognition.engine import get_engine
from students.consent import student_record_consent
from students.models import Student, StudentPhoto
from students.selectors import gallery_for
from students.services import CONSENT_MISSING, photo_create, photo_enrol
from tests.attendance.builders import open_session_with
from tests.faces import face_bytes
from tests.students.builders import files_under

OBAMA = "enroll/obama/obama.jpg"
CONSENT_REASON = "Consent to face recognition is not recorded for this student; record it, then re-check the photo."


@pytest.fixture
def unconsented(db: None) -> Student:
    return Student.objects.create(student_number="S050", first_name="Barack", last_name="Obama")


def enrolled(student: Student, relative: str = OBAMA) -> StudentPhoto:
    """A photo of the student, stored and put through the enrolment the background task runs."""
    photo, created = photo_create(student=student, data=face_bytes(relative))
    assert created
    return photo_enrol(photo=photo)


# --- No embedding without consent ---------------------------------------------------------------


def test_a_photo_of_a_student_without_consent_is_rejected_unembedded(unconsented: Student, media_root: Path) -> None:
    photo = enrolled(unconsented)

    assert CONSENT_MISSING == CONSENT_REASON
    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason == CONSENT_REASON
    assert photo.embedding is None
    assert photo.face_box is None
    assert photo.embedding_model == ""
    assert photo.processed_at is not None
    # Kept for the admin to see, and to embed once consent is recorded.
    assert files_under(media_root) == [Path(photo.image.path)]


def test_consent_withdrawn_after_the_upload_is_checked_when_the_task_runs(student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes(OBAMA))
    Student.objects.filter(pk=student.pk).update(consent_given_at=None)

    photo = photo_enrol(photo=photo)  # `photo.student` still says consent was given

    assert (photo.status, photo.reason) == (StudentPhoto.Status.REJECTED, CONSENT_REASON)
    assert photo.embedding is None


def test_recording_consent_embeds_the_photos_rejected_for_the_lack_of_it(
    unconsented: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    waiting = enrolled(unconsented)
    other = photo_create(student=unconsented, data=face_bytes("probe/two_people.jpg"))[0]
    photo_enrol(photo=other)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        student_record_consent(student=unconsented)

    assert len(queued) == 2  # both were waiting for consent
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert (waiting.status, waiting.reason) == (StudentPhoto.Status.READY, "")
    assert waiting.embedding_model == get_engine().model_id
    assert other.status == StudentPhoto.Status.REJECTED
    assert other.reason == "2 faces found: upload a photo of one person."


def test_after_consent_the_admin_action_embeds_the_photo_again(
    admin_client: Client, unconsented: Student, django_capture_on_commit_callbacks: Callable
) -> None:
    photo = enrolled(unconsented)
    # Consent recorded on the student's admin page: the field, not the service.
    Student.objects.filter(pk=unconsented.pk).update(consent_given_at=timezone.now())

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:students_studentphoto_changelist"),
            {"action": "requeue", "_selected_action": [photo.pk]},
            follow=True,
        )

    assert response.status_code == 200
    photo.refresh_from_db()
    assert (photo.status, photo.reason) == (StudentPhoto.Status.READY, "")


def test_without_require_consent_a_photo_is_embedded_without_it(unconsented: Student, settings: Settings) -> None:
    settings.REQUIRE_CONSENT = False

    photo = enrolled(unconsented)

    assert photo.status == StudentPhoto.Status.READY, photo.reason
    assert photo.embedding is not None


# --- Nobody recognised without consent --------------------------------------------------------


def ready_photo(student: Student, seed: int, model_id: str = "model-a") -> StudentPhoto:
    """A ready photo with a recorded (random unit) embedding: the gallery does not look at faces."""
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return StudentPhoto.objects.create(
        student=student,
        image=f"student_photos/{seed}.jpg",
        sha256=f"{seed:064x}",
        status=StudentPhoto.Status.READY,
        embedding=vector.tobytes(),
        embedding_model=model_id,
    )


def test_the_gallery_holds_only_active_students_with_consent(student: Student, settings: Settings) -> None:
    withdrawn = Student.objects.create(student_number="S002")  # embeddings left from before
    inactive = Student.objects.create(student_number="S003", consent_given_at=timezone.now(), is_active=False)
    for seed, owner in enumerate([student, student, withdrawn, inactive]):
        ready_photo(owner, seed)
    ready_photo(student, 9, model_id="model-b")

    assert gallery_for(model_id="model-a").student_ids.tolist() == [student.pk]
    assert len(gallery_for(model_id="model-a").embeddings) == 2
    assert gallery_for(model_id="model-a", student_ids=[withdrawn.pk, inactive.pk]).student_ids.tolist() == []

    settings.REQUIRE_CONSENT = False
    assert gallery_for(model_id="model-a").student_ids.tolist() == [student.pk, withdrawn.pk]


def test_a_student_whose_consent_is_cleared_is_no_longer_recognised(teacher: User, student: Student) -> None:
    """Real photo, real model: named while consent is recorded, nobody once it is cleared by hand."""
    photo = enrolled(student)
    assert photo.status == StudentPhoto.Status.READY, photo.reason
    session = open_session_with(teachers=[teacher], students=[student], code="CONS1")
    frame = face_bytes("enroll/obama/obama2.jpg")

    def names_in_frame() -> list[int | None]:
        gallery, _ = live.gallery_and_names(session_id=session.pk, model_id=get_engine().model_id)
        recognizer = live.recognizer(engine=get_engine(), gallery=gallery)
        # A face is named once its track is confirmed: the same picture for a few frames.
        for _ in range(settings.ATTENDANCE_CONFIRM_NEAR_MATCHES):
            faces = recognizer.process_frame(frame)
        return [face.student_id for face in faces]

    assert names_in_frame() == [student.pk]
    Student.objects.filter(pk=student.pk).update(consent_given_at=None)

    assert names_in_frame() == [None]


# --- Marked by hand on the same page ---------------------------------------------------------


def test_a_student_without_consent_is_on_the_roster_without_a_photo_and_marked_by_hand(
    teacher: User, student: Student, unconsented: Student
) -> None:
    ready_photo(student, 1)
    enrolled(unconsented)  # rejected: no consent
    session = open_session_with(teachers=[teacher], students=[student, unconsented], code="CONS1")

    roster = live.roster_message(session_id=session.pk)["students"]

    assert [(row["name"], row["has_photo"], row["status"]) for row in roster] == [
        ("Ada Lovelace", True, None),
        ("Barack Obama", False, None),
    ]

    client = Client()
    client.force_login(teacher)
    response = client.post(
        f"/sessions/{session.pk}/records/",
        json.dumps({"student_id": unconsented.pk, "status": "present", "note": "No consent: marked by hand"}),
        content_type="application/json",
    )

    assert response.status_code == 200
    answer = response.json()
    assert (answer["student_id"], answer["status"], answer["source"]) == (unconsented.pk, "present", "manual")
    record = AttendanceRecord.objects.get(session=session, student=unconsented)
    assert (record.status, record.source, record.changed_by) == ("present", "manual", teacher)
    assert AttendanceChange.objects.filter(student=unconsented, source="manual").count() == 1
    roster = live.roster_message(session_id=session.pk)["students"]
    [row] = [row for row in roster if row["student_id"] == unconsented.pk]
    assert (row["has_photo"], row["consented"], row["status"], row["source"]) == (False, False, "present", "manual")


def test_the_admin_actions_record_and_withdraw_consent(
    admin_client: Any, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    student = Student.objects.create(student_number="S900", first_name="Nia")
    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.REJECTED

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/students/student/", {"action": "record_consent", "_selected_action": [student.pk]}, follow=True
        )
    assert "Consent recorded for 1 student(s)." in response.content.decode()
    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.READY

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/students/student/", {"action": "withdraw_consent", "_selected_action": [student.pk]}, follow=True
        )
    assert "Consent withdrawn for 1 student(s); 1 photo(s) deleted." in response.content.decode()
    assert not StudentPhoto.objects.filter(student=student).exists()
    assert [p for p in media_root.rglob("*") if p.is_file()] == []
