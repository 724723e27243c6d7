"""Decompression bombs and a real 50-megapixel photo are refused from their header, before their
pixels are decoded: by recognition.images, by the upload API and by the websocket.

"Before decoding" is checked, not assumed: every Pillow `load` (the call that decodes pixels) is
replaced by one that records the call and fails.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFile
from rest_framework.test import APIClient

from attendance.models import ClassSession
from recognition.images import ImageRejected, decode_image, inspect_image
from recognition.live import decode_frame
from students.models import Student, StudentPhoto
from tests.attendance.test_consumers import joined, send_frame
from tests.fuzz.strategies import face_sample, jpeg_declaring, png_declaring, webp_declaring
from tests.students.builders import files_under

FIFTY_MEGAPIXELS = (8660, 5774)  # 50,002,840 pixels


@cache
def fifty_megapixel_jpeg() -> bytes:
    """A real 50-megapixel JPEG (a face, enlarged), made once; low quality, so it is small on disk
    (about 850 KB: under the websocket's 1 MB too, so there the pixel count refuses it, not the size)."""
    buffer = io.BytesIO()
    face_sample().resize(FIFTY_MEGAPIXELS, Image.Resampling.NEAREST).save(buffer, format="JPEG", quality=10)
    return buffer.getvalue()


@dataclass(frozen=True)
class Bomb:
    id: str
    data: bytes
    size: tuple[int, int]  # as its header declares it


# How each is made, and the size it declares.
BOMBS: dict[str, tuple[Callable[[], bytes], tuple[int, int]]] = {
    # 10 gigapixels in a few hundred bytes: past Pillow's own limit, refused as Pillow opens it.
    "png-100000x100000": (lambda: png_declaring(100_000, 100_000), (100_000, 100_000)),
    # 144 megapixels: under Pillow's limit (it only warns), over ours.
    "png-12000x12000": (lambda: png_declaring(12_000, 12_000), (12_000, 12_000)),
    "jpeg-65535x65535": (lambda: jpeg_declaring(65_535, 65_535), (65_535, 65_535)),
    # 100 megapixels in a WebP frame header (at most 16383 x 16383).
    "webp-10000x10000": (lambda: webp_declaring(10_000, 10_000), (10_000, 10_000)),
    "jpeg-real-50-megapixels": (fifty_megapixel_jpeg, FIFTY_MEGAPIXELS),
}


@pytest.fixture(params=list(BOMBS))
def bomb(request: pytest.FixtureRequest) -> Bomb:
    # Made before the guard against decoding (`decoded`): making them decodes the sample photo.
    make, size = BOMBS[request.param]
    return Bomb(request.param, make(), size)


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every Pillow `load` fail; the list fills with the images it was called for."""
    calls: list[str] = []

    def refuse(image: Image.Image, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{image.format} {image.size[0]}x{image.size[1]}")
        raise AssertionError(f"Pillow was asked to decode a {image.format} of {image.size[0]}x{image.size[1]}")

    Image.init()  # every plugin registered, so every class that decodes is replaced
    for cls in {Image.Image, ImageFile.ImageFile, *(factory for factory, _ in Image.OPEN.values())}:
        if "load" in vars(cls):
            monkeypatch.setattr(cls, "load", refuse)
    return calls


@pytest.fixture
def decoded(bomb: Bomb, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """No pixels may be decoded during the test (once the bomb is made)."""
    calls = forbid_decoding(monkeypatch)
    yield calls
    assert calls == [], f"pixels decoded: {calls}"


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_the_guard_notices_decoding(monkeypatch: pytest.MonkeyPatch, format: str) -> None:
    """The proof works: an acceptable image is decoded, and the guard sees it."""
    buffer = io.BytesIO()
    face_sample().save(buffer, format=format)
    calls = forbid_decoding(monkeypatch)

    with pytest.raises(AssertionError, match="Pillow was asked to decode"):
        inspect_image(buffer.getvalue(), max_bytes=10**7, max_pixels=10**7)

    assert calls == [f"{format} 64x48"]


def pixel_limit_message(bomb: Bomb, limit: str) -> str:
    """What the refusal says: the image's size against the limit, or, past Pillow's own limit, that it
    declares far more pixels than the limit."""
    width, height = bomb.size
    return (
        rf"^(The image is {width}x{height} \([0-9.]+ megapixels\); the limit is {re.escape(limit)}\."
        rf"|The image declares far more pixels than the limit of {re.escape(limit)}\.)$"
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_bomb_is_small_on_disk_and_declares_its_size(bomb: Bomb) -> None:
    assert len(bomb.data) < min(django_settings.PHOTO_MAX_BYTES, django_settings.FRAME_MAX_BYTES)
    if bomb.size[0] * bomb.size[1] < 2 * (Image.MAX_IMAGE_PIXELS or 0):  # Pillow opens it, and says its size
        with Image.open(io.BytesIO(bomb.data)) as image:
            assert image.size == bomb.size


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_recognition_images_refuses_it_unread(bomb: Bomb, decoded: list[str]) -> None:
    limits = {"max_bytes": django_settings.PHOTO_MAX_BYTES, "max_pixels": django_settings.PHOTO_MAX_PIXELS}
    for check in (inspect_image, decode_image):
        with pytest.raises(ImageRejected) as refused:
            check(bomb.data, **limits)
        assert re.match(pixel_limit_message(bomb, "40.0 megapixels"), str(refused.value)), str(refused.value)

    with pytest.raises(ImageRejected) as refused:
        decode_frame(bomb.data)
    assert re.match(pixel_limit_message(bomb, "2.1 megapixels"), str(refused.value)), str(refused.value)


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_upload_api_refuses_it_unread(bomb: Bomb, decoded: list[str], student: Student, media_root: Path) -> None:
    client = APIClient()
    client.force_authenticate(User.objects.create_user("admin", is_staff=True, is_superuser=True))

    response = client.post(
        f"/api/students/{student.pk}/photos/",
        {"image": SimpleUploadedFile("photo.jpg", bomb.data, "image/jpeg")},
        format="multipart",
    )

    assert response.status_code == 400
    assert re.match(pixel_limit_message(bomb, "40.0 megapixels"), response.json()["detail"]), response.json()
    assert not StudentPhoto.objects.exists()
    assert files_under(media_root) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
async def test_the_websocket_refuses_it_unread(
    bomb: Bomb, decoded: list[str], open_session: ClassSession, teacher: User
) -> None:
    async with joined(open_session.pk, teacher) as ws:
        answer, _ = await send_frame(ws, bomb.data)

    assert answer["type"] == "error"
    assert re.match(pixel_limit_message(bomb, "2.1 megapixels"), answer["message"]), answer
