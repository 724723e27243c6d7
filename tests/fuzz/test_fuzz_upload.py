"""Fuzzed bytes at the photo upload: every answer is a stored, valid photo or a 400 with a reason.

Runs on the `db` fixture: the test's transaction never commits, so the embedding task queued on
commit never runs and no case waits for the face model. Each case runs in a savepoint that is
rolled back, and the files it stored are removed, so every case starts from nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import given, note, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from recognition.images import ImageRejected, inspect_image
from students.models import Student, StudentPhoto
from tests.fuzz.plugin import Budget, Tally, outcome_of
from tests.fuzz.strategies import Fuzzed, fuzzed_images, samples
from tests.students.builders import files_under

pytestmark = [
    pytest.mark.django_db,
    # Expected on the way to a refusal: Pillow warns of a header declaring 89-179 megapixels (it
    # refuses more by itself, the app anything over its limit), and of damaged EXIF tags.
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin"),
]

FILENAMES = [
    "photo.jpg",
    "photo.png",
    "photo.webp",
    "photo",
    "photo.gif",
    ".jpg",
    "ünïcödé 📷.jpeg",
    "../../etc/passwd",
    "x" * 250 + ".jpg",
]
CONTENT_TYPES = ["image/jpeg", "image/png", "application/octet-stream", "text/plain"]


@pytest.fixture
def staff_client(db: None) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("admin", is_staff=True, is_superuser=True))
    return client


def message_of(body: object) -> str:
    """The reason a 400 gives: `detail`, or the `image` field's first message."""
    assert isinstance(body, dict), body
    if "detail" in body:
        message = body["detail"]
    else:
        assert list(body) == ["image"], body
        message = body["image"][0]
    assert isinstance(message, str), body
    return message


def check_stored(student: Student, data: bytes, answer: dict[str, object], media_root: Path) -> None:
    """An accepted upload is one pending photo whose file is the upload, and the upload is a valid image."""
    photo = StudentPhoto.objects.get(student=student)
    assert answer["id"] == photo.pk
    assert answer["status"] == photo.status == StudentPhoto.Status.PENDING
    info = inspect_image(data, max_bytes=django_settings.PHOTO_MAX_BYTES, max_pixels=django_settings.PHOTO_MAX_PIXELS)
    assert (photo.width, photo.height) == (info.width, info.height)
    assert files_under(media_root) == [Path(photo.image.path)]
    assert Path(photo.image.path).read_bytes() == data


def test_fuzzed_uploads_are_stored_whole_or_refused_with_a_reason(
    staff_client: APIClient,
    student: Student,
    media_root: Path,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    url = f"/api/students/{student.pk}/photos/"

    @fuzz_settings(fuzz_budget.upload)
    @given(fuzzed=fuzzed_images(), filename=st.sampled_from(FILENAMES), content_type=st.sampled_from(CONTENT_TYPES))
    def upload(fuzzed: Fuzzed, filename: str, content_type: str) -> None:
        note(repr(fuzzed))
        try:
            with transaction.atomic():
                response = staff_client.post(
                    url, {"image": SimpleUploadedFile(filename, fuzzed.data, content_type)}, format="multipart"
                )
                answer = response.json()
                if response.status_code in (200, 202):
                    check_stored(student, fuzzed.data, answer, media_root)
                    outcome = f"{response.status_code}: stored, pending"
                else:
                    assert response.status_code == 400, (response.status_code, answer)
                    message = message_of(answer)
                    assert message.strip() and message[0].isupper() and message.endswith("."), message
                    assert not StudentPhoto.objects.exists()
                    assert files_under(media_root) == []
                    outcome = f"400: {outcome_of(message)}"
                    # The API and recognition.images agree: refused bytes are refused by the validator too
                    # (or never reached it: an empty file is refused by the serializer).
                    if fuzzed.data:
                        with pytest.raises(ImageRejected):
                            inspect_image(
                                fuzzed.data,
                                max_bytes=django_settings.PHOTO_MAX_BYTES,
                                max_pixels=django_settings.PHOTO_MAX_PIXELS,
                            )
                target.record(injected=fuzzed.faults, outcome=outcome)
                transaction.set_rollback(True)
        finally:
            for path in media_root.iterdir():
                shutil.rmtree(path)

    with fuzz_tally.target("photo upload (POST /api/students/{id}/photos/)") as target:
        upload()


def test_a_png_with_damaged_pixels_is_refused_as_damaged(staff_client: APIClient, student: Student) -> None:
    """Found by the fuzzer: a PNG reads its EXIF data only after its pixels, and damaged pixels were
    refused as "The image's EXIF data could not be read"."""
    png = samples()["png"]

    response = staff_client.post(
        f"/api/students/{student.pk}/photos/",
        {"image": SimpleUploadedFile("photo.png", png[: len(png) // 2], "image/png")},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "The image is damaged or truncated (image file is truncated)."}
