"""A student's biometric data: gone with the student, the photo or their consent, purged after the
retention period, exported on request without the data itself, and never written to the logs.

Photos are real and embedded by the real model once per test run; later tests put the recorded
result back rather than computing the same embedding again.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.services import attendance_set_status
from students.consent import student_withdraw_consent
from students.models import Student, StudentPhoto
from students.selectors import gallery_for
from students.services import CONSENT_MISSING, photo_create, photo_enrol
from tests.attendance.test_consumers import joined, photo_frame, send_frames
from tests.faces import face_bytes
from tests.students.builders import files_under

RESULT_FIELDS = ("status", "reason", "face_box", "face_probability", "embedding", "embedding_model", "processed_at")
RECORDED: dict[str, dict[str, Any]] = {}


def enrolled(student: Student, relative: str) -> StudentPhoto:
    """A ready photo of the student from ../shared/faces: its file on disk, its embedding in its row."""
    photo, created = photo_create(student=student, data=face_bytes(relative))
    assert created
    if relative not in RECORDED:
        photo = photo_enrol(photo=photo)
        assert photo.status == StudentPhoto.Status.READY, photo.reason
        RECORDED[relative] = {field: getattr(photo, field) for field in RESULT_FIELDS}
        RECORDED[relative]["embedding"] = bytes(photo.embedding or b"")
    else:
        StudentPhoto.objects.filter(pk=photo.pk).update(**RECORDED[relative])
        photo.refresh_from_db()
    return photo


def embedding_of(photo: StudentPhoto) -> bytes:
    assert photo.embedding is not None
    return bytes(photo.embedding)


def embedding_stored(embedding: bytes) -> bool:
    return StudentPhoto.objects.filter(embedding=embedding).exists()


@pytest.fixture
def ada_photos(student: Student) -> list[StudentPhoto]:
    return [enrolled(student, "enroll/obama/obama.jpg"), enrolled(student, "enroll/obama/obama2.jpg")]


@pytest.fixture
def joe_photo(db: None) -> StudentPhoto:
    """Another student's photo: it must survive whatever happens to Ada's."""
    joe = Student.objects.create(student_number="S002", first_name="Joe", consent_given_at=timezone.now())
    return enrolled(joe, "enroll/biden/biden.jpg")


# --- Deleting a student or a photo ------------------------------------------------------------


def delete_with_orm(student: Student, client: Client) -> None:
    student.delete()


def delete_in_the_admin(student: Student, client: Client) -> None:
    response = client.post(reverse("admin:students_student_delete", args=[student.pk]), {"post": "yes"})
    assert response.status_code == 302, response.content


def delete_with_the_api(student: Student, client: Client) -> None:
    response = client.delete(f"/api/students/{student.pk}/")
    assert response.status_code == 204, response.content


@pytest.mark.parametrize("delete", [delete_with_orm, delete_in_the_admin, delete_with_the_api])
def test_deleting_a_student_leaves_no_file_and_no_embedding_of_theirs(
    delete: Callable[[Student, Client], None],
    admin_client: Client,
    student: Student,
    ada_photos: list[StudentPhoto],
    joe_photo: StudentPhoto,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    files = [Path(photo.image.path) for photo in ada_photos]
    embeddings = [embedding_of(photo) for photo in ada_photos]
    assert all(path.exists() for path in files)

    with django_capture_on_commit_callbacks(execute=True):
        delete(student, admin_client)

    assert not Student.objects.filter(student_number="S001").exists()
    assert files_under(media_root) == [Path(joe_photo.image.path)]
    assert not any(embedding_stored(embedding) for embedding in embeddings)
    assert embedding_stored(embedding_of(joe_photo))


def test_deleting_one_photo_in_the_admin_removes_its_file_and_embedding(
    admin_client: Client,
    ada_photos: list[StudentPhoto],
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    kept, deleted = ada_photos

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:students_studentphoto_delete", args=[deleted.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert files_under(media_root) == [Path(kept.image.path)]
    assert not embedding_stored(embedding_of(deleted))
    assert embedding_stored(embedding_of(kept))


# --- Withdrawing consent -----------------------------------------------------------------------


def test_withdrawing_consent_deletes_every_photo_file_and_embedding(
    student: Student,
    ada_photos: list[StudentPhoto],
    joe_photo: StudentPhoto,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    embeddings = [embedding_of(photo) for photo in ada_photos]
    model_id = ada_photos[0].embedding_model
    assert student.pk in gallery_for(model_id=model_id).student_ids

    with django_capture_on_commit_callbacks(execute=True):
        deleted = student_withdraw_consent(student=student)

    assert deleted == 2
    student.refresh_from_db()
    assert student.consent_given_at is None
    assert not student.photos.exists()
    assert files_under(media_root) == [Path(joe_photo.image.path)]
    assert not any(embedding_stored(embedding) for embedding in embeddings)
    assert gallery_for(model_id=model_id).student_ids.tolist() == [joe_photo.student_id]


def test_photos_uploaded_after_withdrawal_are_not_embedded(
    student: Student, ada_photos: list[StudentPhoto], django_capture_on_commit_callbacks: Callable
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        student_withdraw_consent(student=student)
        photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))

    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.embedding is None


def api_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_withdrawing_consent_through_the_api_deletes_the_photo_files_and_embeddings(
    student: Student,
    ada_photos: list[StudentPhoto],
    joe_photo: StudentPhoto,
    admin_user: User,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    embeddings = [embedding_of(photo) for photo in ada_photos]

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(admin_user).delete(f"/api/students/{student.pk}/consent/")

    assert response.status_code == 200, response.content
    assert response.json()["consent_given_at"] is None
    assert not student.photos.exists()
    assert files_under(media_root) == [Path(joe_photo.image.path)]
    assert not any(embedding_stored(embedding) for embedding in embeddings)


def test_the_api_cannot_clear_or_set_consent_as_a_plain_field(
    student: Student, ada_photos: list[StudentPhoto], admin_user: User
) -> None:
    """The defect: a PATCH of consent_given_at kept the embeddings (and re-enabled them when set again)."""
    client = api_client(admin_user)

    patched = client.patch(
        f"/api/students/{student.pk}/", json.dumps({"consent_given_at": None}), content_type="application/json"
    )

    assert patched.status_code == 200
    student.refresh_from_db()
    assert student.consent_given_at is not None  # read-only: unchanged
    assert student.photos.filter(status=StudentPhoto.Status.READY).count() == 2


def test_recording_consent_through_the_api_checks_the_waiting_photos_again(
    student: Student, admin_user: User, django_capture_on_commit_callbacks: Callable
) -> None:
    student_withdraw_consent(student=student)
    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    photo.refresh_from_db()
    assert (photo.status, photo.reason) == (StudentPhoto.Status.REJECTED, CONSENT_MISSING)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(admin_user).post(f"/api/students/{student.pk}/consent/")

    assert response.status_code == 200, response.content
    assert response.json()["consent_given_at"] is not None
    photo.refresh_from_db()
    # Queued again and, the tasks running in-process here, enrolled.
    assert photo.status == StudentPhoto.Status.READY, photo.reason
    assert photo.embedding is not None


# --- Retention -------------------------------------------------------------------------------


def days_ago(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


@pytest.fixture
def school_year(teacher: User) -> dict[str, Student]:
    """Students with a photo each, last active at different times (retention: 365 days)."""
    course = Course.objects.create(code="HIST1", name="History")
    session = ClassSession.objects.create(
        course=course, starts_at=days_ago(10), ends_at=days_ago(10) + datetime.timedelta(hours=1)
    )
    students = {}
    for number, photo in [
        # Six different people: one person's photo for two students would wait for review.
        ("marked-inactive", "enroll/obama/obama.jpg"),
        ("gone-quiet", "enroll/biden/biden.jpg"),
        ("seen-recently", "classroom/enroll/S01/01.jpg"),
        ("new-photo", "classroom/enroll/S02/01.jpg"),
        ("changed-recently", "enroll/rose_leslie/img1.jpg"),
        ("inactive-recently", "enroll/kit_harington/john1.jpeg"),
    ]:
        student = Student.objects.create(student_number=number, consent_given_at=days_ago(800))
        enrolled(student, photo)
        students[number] = student
    Enrollment.objects.create(course=course, student=students["seen-recently"], start_date=datetime.date(2020, 1, 1))
    AttendanceRecord.objects.create(session=session, student=students["seen-recently"], status="present", source="face")
    Student.objects.filter(student_number__in=["marked-inactive", "inactive-recently"]).update(is_active=False)
    Student.objects.exclude(student_number__in=["changed-recently", "inactive-recently"]).update(
        updated_at=days_ago(400)
    )
    StudentPhoto.objects.exclude(student__student_number="new-photo").update(created_at=days_ago(400))
    AttendanceRecord.objects.update(updated_at=days_ago(10))
    return students


def test_purge_deletes_photos_and_embeddings_only_of_students_inactive_for_the_period(
    school_year: dict[str, Student], media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    out = io.StringIO()
    purged = {
        number: embedding_of(student.photos.get())
        for number, student in school_year.items()
        if number in ("marked-inactive", "gone-quiet")
    }
    kept_files = sorted(
        Path(photo.image.path) for photo in StudentPhoto.objects.exclude(student__student_number__in=purged)
    )

    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_inactive_photos", stdout=out)

    assert out.getvalue() == "Purged 2 photo(s) and their embeddings of 2 student(s) inactive for 365 days.\n"
    left = set(StudentPhoto.objects.values_list("student__student_number", flat=True))
    assert left == {"seen-recently", "new-photo", "changed-recently", "inactive-recently"}
    assert files_under(media_root) == kept_files
    assert not any(embedding_stored(embedding) for embedding in purged.values())
    assert Student.objects.count() == 6  # the students and their records stay; only biometric data goes


def test_purge_period_from_the_setting_or_the_command_line(
    school_year: dict[str, Student], settings: Any, django_capture_on_commit_callbacks: Callable
) -> None:
    settings.PHOTO_RETENTION_DAYS = 500
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_inactive_photos", stdout=out)
    assert out.getvalue() == "Purged 0 photo(s) and their embeddings of 0 student(s) inactive for 500 days.\n"

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_inactive_photos", "--days", "5", stdout=out)
    # Within 5 days nobody was active but the two changed today and the one with a new photo.
    assert out.getvalue() == "Purged 3 photo(s) and their embeddings of 3 student(s) inactive for 5 days.\n"
    left = set(StudentPhoto.objects.values_list("student__student_number", flat=True))
    assert left == {"new-photo", "changed-recently", "inactive-recently"}


# --- Export ------------------------------------------------------------------------------------


def export(number: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("export_student_data", number, stdout=out)
    return json.loads(out.getvalue())


def test_export_holds_the_records_and_photo_metadata_but_no_biometric_data(
    student: Student, course: Course, open_session: ClassSession, teacher: User, ada_photos: list[StudentPhoto]
) -> None:
    attendance_set_status(session=open_session, student=student, status="excused", changed_by=teacher, note="Ill")
    rejected, _ = photo_create(student=student, data=face_bytes("probe/two_people.jpg"))
    photo_enrol(photo=rejected)
    out = io.StringIO()

    call_command("export_student_data", "S001", stdout=out)

    text = out.getvalue()
    data = json.loads(text)
    assert data["student"]["student_number"] == "S001"
    assert (data["student"]["first_name"], data["student"]["last_name"]) == ("Ada", "Lovelace")
    assert data["student"]["consent_given_at"] == student.consent_given_at.isoformat()  # type: ignore[union-attr]
    assert [(p["id"], p["status"], p["has_embedding"]) for p in data["photos"]] == [
        (ada_photos[0].pk, "ready", True),
        (ada_photos[1].pk, "ready", True),
        (rejected.pk, "rejected", False),
    ]
    assert data["photos"][0]["width"] == 910
    assert data["photos"][0]["sha256"] == ada_photos[0].sha256
    assert data["photos"][2]["reason"] == "2 faces found: upload a photo of one person."
    assert data["enrollments"] == [
        {"course": "CS101", "course_name": "Computing", "start_date": "2020-01-01", "end_date": None}
    ]
    assert [(r["course"], r["status"], r["source"], r["note"]) for r in data["attendance"]] == [
        ("CS101", "excused", "manual", "Ill")
    ]
    assert [(c["old_status"], c["new_status"], c["changed_by"]) for c in data["attendance_changes"]] == [
        ("", "excused", "teacher")
    ]
    # No embedding, in any form, and no image bytes.
    assert all("embedding" not in photo for photo in data["photos"])
    for photo in ada_photos:
        assert_no_trace_of(embedding_of(photo), text)
        assert_no_trace_of(Path(photo.image.path).read_bytes(), text)
        assert Path(str(photo.image.name)).name not in text
    assert not FLOAT_RUN.search(text)
    assert max(len(value) for value in strings_in(data)) < 200


def test_export_of_an_unknown_student_number_is_a_clear_error(db: None) -> None:
    with pytest.raises(CommandError, match=r"^No student with number 'S404'\.$"):
        export("S404")


def strings_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return [value] if isinstance(value, str) else []


# --- Logs ------------------------------------------------------------------------------------

# Eight numbers in a row: how a vector (a list, a numpy array) looks once formatted.
FLOAT_RUN = re.compile(r"(?:[-+]?\d*\.\d+(?:e[-+]?\d+)?[\s,;\]\[]+){8,}", re.IGNORECASE)


def assert_no_trace_of(data: bytes, text: str) -> None:
    """Neither the bytes nor any 24 of them in base64, hex, or as Python would print them."""
    for start in range(0, min(len(data), 2048) - 24, 24):
        chunk = data[start : start + 24]
        assert base64.b64encode(chunk).decode()[:28] not in text
        assert chunk.hex() not in text.lower()
        assert repr(chunk)[2:-1] not in text
    assert base64.b64encode(data[:48]).decode() not in text


def test_enrolment_logs_nothing_of_the_photo_or_the_embedding_even_at_debug(
    student: Student, caplog: pytest.LogCaptureFixture, settings: Any, django_capture_on_commit_callbacks: Callable
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.DEBUG = True  # every SQL statement handed to the logger, parameters and all

    with django_capture_on_commit_callbacks(execute=True):
        photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama2.jpg"))
    photo.refresh_from_db()

    assert photo.status == StudentPhoto.Status.READY, photo.reason
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    assert_no_trace_of(embedding_of(photo), logged)
    assert_no_trace_of(face_bytes("enroll/obama/obama2.jpg"), logged)
    assert not FLOAT_RUN.search(logged)


@pytest.mark.django_db(transaction=True)
async def test_a_live_frame_logs_nothing_of_the_frame_the_faces_or_the_embeddings(
    open_session: ClassSession, student: Student, teacher: User, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    photo = await database_sync_to_async(enrolled)(student, "enroll/obama/obama.jpg")
    frame = photo_frame("enroll/obama/obama2.jpg")
    caplog.set_level(logging.DEBUG)
    settings.DEBUG = True  # every SQL statement handed to the logger, parameters and all

    async with joined(open_session.pk, teacher) as ws:
        answers, events = await send_frames(ws, [frame, frame])

    # Named once two matches of the face agree, and marked then.
    assert [[face["student_id"] for face in answer["faces"]] for answer in answers] == [[None], [student.pk]]
    assert [event["status"] for event in events] == ["present"]
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    assert_no_trace_of(embedding_of(photo), logged)
    assert_no_trace_of(frame, logged)
    assert not FLOAT_RUN.search(logged)
