"""The commands that keep the embeddings in step with the model: reembed_photos, build_face_embedder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django.fixtures import Settings

from recognition.engine import get_engine, onnx_cache_key
from recognition.onnx_embedder import cached_embedder_path
from students.models import Student, StudentPhoto
from students.services import photo_create, photo_enrol
from tests.faces import FACES

CLASSROOM_ENROL = FACES / "classroom" / "enroll"


def enrolled(number: str, *, consent: bool = True) -> StudentPhoto:
    student = Student.objects.create(student_number=number, consent_given_at=timezone.now() if consent else None)
    photo, _ = photo_create(student=student, data=(CLASSROOM_ENROL / number / "01.jpg").read_bytes())
    return photo_enrol(photo=photo)


def test_reembed_photos_computes_again_only_the_photos_of_another_model(transactional_db: None) -> None:
    current, old = enrolled("S01"), enrolled("S02")
    StudentPhoto.objects.filter(pk=old.pk).update(embedding_model="inception_resnet_v1:sha256:914a14370b68c31f")
    output = io.StringIO()

    call_command("reembed_photos", stdout=output)

    model_id = get_engine().model_id
    assert output.getvalue() == f"Queued 1 photo(s) to be embedded again with {model_id}.\n"
    photos = {photo.pk: photo for photo in StudentPhoto.objects.all()}
    assert (photos[old.pk].status, photos[old.pk].embedding_model) == (StudentPhoto.Status.READY, model_id)
    assert photos[current.pk].updated_at == current.updated_at, "a photo of this model is left alone"


def test_build_face_embedder_calibrates_on_the_consenting_students_ready_photos(
    db: None, settings: Settings, tmp_path: Path
) -> None:
    settings.FACE_MODEL_CACHE_DIR = tmp_path / "models"
    ready = [enrolled(f"S{n:02}") for n in range(1, 12)]
    refused = enrolled("S12", consent=False)
    assert {photo.status for photo in ready} == {StudentPhoto.Status.READY}
    assert refused.status == StudentPhoto.Status.REJECTED
    output = io.StringIO()

    call_command("build_face_embedder", stdout=output)

    int8 = cached_embedder_path(tmp_path / "models", onnx_cache_key(get_engine()), int8=True)
    assert int8.is_file()
    assert output.getvalue().splitlines()[0] == "Calibrating on 11 faces…"
    assert output.getvalue().splitlines()[-1] == f"Built {int8}"


def test_build_face_embedder_needs_ten_ready_photos(db: None, settings: Settings, tmp_path: Path) -> None:
    settings.FACE_MODEL_CACHE_DIR = tmp_path / "models"
    for n in range(1, 10):
        enrolled(f"S{n:02}")

    with pytest.raises(CommandError, match=r"^9 ready photos to calibrate on; enrol at least 10 students first\.$"):
        call_command("build_face_embedder", stdout=io.StringIO())
    assert not (tmp_path / "models").exists()
