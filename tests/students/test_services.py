"""Enrolment services on real photos with the real model: what is stored and why a photo is rejected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User

from config.web import ApplicationError
from recognition.engine import get_engine
from students.consent import student_record_consent
from students.models import Student, StudentPhoto
from students.services import (
    photo_create,
    photo_enrol,
    photo_requeue,
    student_get_or_create,
)
from tests.faces import face_bytes
from tests.recognition.samples import (
    encode,
    exif_rotated_jpeg,
    gradient,
    no_face_jpeg,
    open_face,
    small_face_jpeg,
    upscaled_jpeg,
)
from tests.students.builders import files_under

Enrol = Callable[[bytes], StudentPhoto]


def face_box(photo: StudentPhoto) -> list[float]:
    assert photo.face_box is not None, photo.reason
    return list(photo.face_box)


@pytest.fixture
def enrol(student: Student) -> Enrol:
    """Store bytes as a photo of the student and run the enrolment the background task runs."""

    def enrol(data: bytes) -> StudentPhoto:
        photo, created = photo_create(student=student, data=data)
        assert created
        return photo_enrol(photo=photo)

    return enrol


def test_photo_create_stores_a_pending_photo_under_a_random_name(
    student: Student, media_root: Path, django_capture_on_commit_callbacks: Callable
) -> None:
    data = face_bytes("enroll/obama/obama.jpg")
    admin = User.objects.create_superuser("admin", password="admin-pass-123")

    with django_capture_on_commit_callbacks() as queued:
        photo, created = photo_create(student=student, data=data, uploaded_by=admin)

    assert created
    assert len(queued) == 1  # the embedding task, queued once the row is committed
    photo.refresh_from_db()
    assert photo.status == StudentPhoto.Status.PENDING
    assert (photo.width, photo.height) == (910, 1137)
    assert photo.uploaded_by == admin
    [stored] = files_under(media_root)
    assert stored.read_bytes() == data
    assert stored.suffix == ".jpg"
    assert "obama" not in stored.name


def test_the_same_bytes_for_the_same_student_are_stored_once(student: Student, media_root: Path) -> None:
    data = face_bytes("enroll/obama/obama.jpg")

    first, created = photo_create(student=student, data=data)
    again, created_again = photo_create(student=student, data=data)

    assert created and not created_again
    assert again.pk == first.pk
    assert StudentPhoto.objects.count() == 1
    assert len(files_under(media_root)) == 1


def test_the_same_bytes_for_another_student_are_another_photo(student: Student) -> None:
    other = Student.objects.create(student_number="S002")
    data = face_bytes("enroll/obama/obama.jpg")

    photo_create(student=student, data=data)
    _, created = photo_create(student=other, data=data)

    assert created


def test_bad_bytes_are_refused_and_nothing_is_stored(student: Student, media_root: Path) -> None:
    with pytest.raises(ApplicationError, match=r"The file is not a JPEG, PNG or WebP image\."):
        photo_create(student=student, data=b"GIF89a not really")

    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []


def test_a_photo_with_one_clear_face_becomes_ready(enrol: Enrol) -> None:
    photo = enrol(face_bytes("enroll/obama/obama.jpg"))

    assert photo.status == StudentPhoto.Status.READY
    assert photo.reason == ""
    assert photo.processed_at is not None
    assert (photo.face_probability or 0) > 0.99
    assert photo.embedding_model == get_engine().model_id
    vector = photo.embedding_vector
    assert vector is not None
    assert vector.shape == (512,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    x1, y1, x2, y2 = face_box(photo)
    assert 0 <= x1 < x2 <= photo.width
    assert 0 <= y1 < y2 <= photo.height


def test_no_face(enrol: Enrol) -> None:
    photo = enrol(no_face_jpeg())

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason == "No face found: upload a photo in which the student's face is clearly visible."
    assert photo.embedding is None


def test_a_tiny_image_has_no_face(enrol: Enrol) -> None:
    photo = enrol(encode(gradient((12, 9)), "PNG"))

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason.startswith("No face found")


def test_more_than_one_face(enrol: Enrol) -> None:
    photo = enrol(face_bytes("probe/two_people.jpg"))

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason == "2 faces found: upload a photo of one person."
    assert photo.embedding is None


def test_face_too_small(enrol: Enrol) -> None:
    photo = enrol(small_face_jpeg())

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason.startswith("Face too small: ")
    size = int(photo.reason.removeprefix("Face too small: ").split(" ")[0])
    assert 20 <= size < 40
    assert photo.reason.endswith(" px, at least 40 px needed. Upload a closer or larger photo.")


def test_the_minimum_face_size_is_a_setting(enrol: Enrol, settings: object) -> None:
    settings.ENROLMENT_MIN_FACE_PX = 20  # type: ignore[attr-defined]

    assert enrol(small_face_jpeg()).status == StudentPhoto.Status.READY


def test_a_false_detection_in_the_background_does_not_reject_the_photo(
    enrol: Enrol, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-saved, obama.jpg shows a 55 px "face" on the desk behind him at probability 0.91 to
    MTCNN with facenet-pytorch's default thresholds (the engine's stricter ones no longer see it)."""
    monkeypatch.setattr(get_engine().detector, "thresholds", [0.6, 0.7, 0.7])
    data = encode(open_face("enroll/obama/obama.jpg"), "JPEG", quality=95)
    faces = get_engine().detect(np.asarray(open_face("enroll/obama/obama.jpg")))
    assert len(faces) == 2

    photo = enrol(data)

    assert photo.status == StudentPhoto.Status.READY, photo.reason
    assert face_box(photo)[2] - face_box(photo)[0] > 200  # his face, not the desk


def test_exif_orientation_is_honoured(enrol: Enrol) -> None:
    """A phone photo stored sideways with an EXIF Orientation tag enrols the face as shown upright."""
    upright = np.asarray(open_face("enroll/obama/obama.jpg"))
    [expected, *_] = get_engine().detect(upright)  # most probable first

    photo = enrol(exif_rotated_jpeg("enroll/obama/obama.jpg"))

    assert photo.status == StudentPhoto.Status.READY, photo.reason
    assert (photo.width, photo.height) == (910, 1137)  # upright, like the box
    assert np.abs(np.subtract(face_box(photo), expected.box)).max() < 10


def test_a_large_photo_is_detected_downscaled_but_the_box_is_in_its_own_pixels(enrol: Enrol) -> None:
    small = open_face("edge/obama_small.jpg")  # 320x240
    [small_face] = get_engine().detect(np.asarray(small))

    photo = enrol(upscaled_jpeg("edge/obama_small.jpg", 10))

    assert photo.status == StudentPhoto.Status.READY, photo.reason
    assert (photo.width, photo.height) == (3200, 2400)
    expected = np.multiply(small_face.box, 10)
    assert np.abs(np.subtract(face_box(photo), expected)).max() < 0.05 * (expected[2] - expected[0])


def test_an_rgba_png_enrols(enrol: Enrol) -> None:
    photo = enrol(face_bytes("edge/32bit.png"))

    assert photo.status == StudentPhoto.Status.READY
    assert str(photo.image.name).endswith(".png")


def test_a_webp_photo_enrols(enrol: Enrol) -> None:
    photo = enrol(encode(open_face("enroll/biden/biden2.jpg"), "WEBP", quality=90))

    assert photo.status == StudentPhoto.Status.READY
    assert str(photo.image.name).endswith(".webp")


def test_enrol_is_idempotent(enrol: Enrol) -> None:
    photo = enrol(face_bytes("enroll/obama/obama.jpg"))
    finished = (photo.status, photo.processed_at, bytes(photo.embedding or b""))

    again = photo_enrol(photo=photo)

    assert (again.status, again.processed_at, bytes(again.embedding or b"")) == finished


def test_a_missing_file_fails_with_a_reason(student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    Path(photo.image.path).unlink()

    photo = photo_enrol(photo=photo)

    assert photo.status == StudentPhoto.Status.FAILED
    assert photo.reason == "The image file is missing; upload it again."


def test_a_stored_file_that_is_no_longer_an_image_is_rejected(student: Student) -> None:
    photo, _ = photo_create(student=student, data=face_bytes("enroll/obama/obama.jpg"))
    Path(photo.image.path).write_bytes(b"overwritten")

    photo = photo_enrol(photo=photo)

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason == "The file is not a JPEG, PNG or WebP image."


def test_requeue_computes_the_embedding_again(
    enrol: Enrol, django_capture_on_commit_callbacks: Callable, settings: object
) -> None:
    settings.ENROLMENT_MIN_FACE_PX = 2000  # type: ignore[attr-defined]
    photo = enrol(face_bytes("enroll/obama/obama.jpg"))
    assert photo.status == StudentPhoto.Status.REJECTED
    settings.ENROLMENT_MIN_FACE_PX = 40  # type: ignore[attr-defined]

    with django_capture_on_commit_callbacks(execute=True):
        photo = photo_requeue(photo=photo)
    photo.refresh_from_db()

    assert photo.status == StudentPhoto.Status.READY
    assert photo.reason == ""


def test_student_get_or_create_never_overwrites_names(db: None) -> None:
    student, created = student_get_or_create(student_number="S009", first_name="Ada", last_name="Lovelace")
    same, created_again = student_get_or_create(student_number="S009", first_name="Other", last_name="Name")

    assert created and not created_again
    assert same.pk == student.pk
    assert (same.first_name, same.last_name) == ("Ada", "Lovelace")


def test_consent_is_recorded_once(db: None) -> None:
    student = Student.objects.create(student_number="S010")

    first = student_record_consent(student=student).consent_given_at
    second = student_record_consent(student=student).consent_given_at

    assert first is not None
    assert second == first
    student.refresh_from_db()
    assert student.consent_given_at == first


def test_a_gradient_has_no_face_at_any_size(enrol: Enrol) -> None:
    """Large images without faces are rejected the same way (no crash on the downscaled copy)."""
    photo = enrol(encode(gradient((2600, 1800)), "JPEG"))

    assert photo.status == StudentPhoto.Status.REJECTED
    assert photo.reason.startswith("No face found")
    assert (photo.width, photo.height) == (2600, 1800)
