"""Images made for tests: real faces changed in one way each, and every kind of bad upload.

The uploads that must be refused are listed once in `bad_uploads()`, so the API, the admin and
`recognition.images` are all tested against the same files and the same messages.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from PIL import Image

from tests.faces import FACES

ORIENTATION = 0x0112  # The EXIF tag.
# The default PHOTO_MAX_BYTES and PHOTO_MAX_PIXELS, for calling recognition.images directly.
LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def open_face(relative: str) -> Image.Image:
    """A photo from ../shared/faces, decoded, as RGB."""
    with Image.open(FACES / relative) as image:
        return image.convert("RGB")


def gradient(size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A smooth colour gradient: an image with no face in it."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    pixels = np.stack([x, y, 255 - x], axis=2).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def no_face_jpeg() -> bytes:
    return encode(gradient(), "JPEG", quality=90)


def small_face_jpeg() -> bytes:
    """edge/obama_small.jpg at a quarter of its size: 80x60, the face about 27 px wide, still detected."""
    image = open_face("edge/obama_small.jpg")
    return encode(image.resize((image.width // 4, image.height // 4), Image.Resampling.LANCZOS), "JPEG", quality=95)


def exif_rotated_jpeg(relative: str) -> bytes:
    """The photo's pixels turned a quarter left, with EXIF Orientation 6 ("turn right to view")."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    sideways = open_face(relative).transpose(Image.Transpose.ROTATE_90)
    return encode(sideways, "JPEG", quality=95, exif=exif.tobytes())


def upscaled_jpeg(relative: str, factor: int) -> bytes:
    image = open_face(relative)
    return encode(image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC), "JPEG")


@cache
def plain_jpeg() -> bytes:
    """A valid JPEG with no EXIF (so its entropy-coded data starts right after the SOS header)."""
    return encode(open_face("enroll/obama/obama.jpg").resize((455, 568)), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = plain_jpeg()
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A valid JPEG header followed by random bytes where the compressed pixels should be."""
    data = plain_jpeg()
    sos = data.index(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    garbage = random.Random(7).randbytes(len(data) - header_end)  # noqa: S311 (repeatable, not secret)
    return data[:header_end] + garbage


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header declares width x height pixels, a few hundred bytes on disk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)  # the first rows only
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


NOT_ACCEPTED = "The file is not a JPEG, PNG or WebP image."
DAMAGED = "The image is damaged or truncated"


@dataclass(frozen=True)
class BadUpload:
    """An upload that must be refused with `message`, under `settings` (overrides)."""

    id: str
    filename: str
    data: bytes
    message: str
    settings: dict[str, int] = field(default_factory=dict)


def bad_uploads() -> list[BadUpload]:
    picture = gradient((200, 200))
    photo = plain_jpeg()
    return [
        BadUpload("text", "notes.jpg", b"Name, number\nAda, S001\n", NOT_ACCEPTED),
        BadUpload("gif", "photo.gif", encode(picture, "GIF"), NOT_ACCEPTED),
        BadUpload("bmp", "photo.bmp", encode(picture, "BMP"), NOT_ACCEPTED),
        BadUpload("tiff", "photo.tiff", encode(picture, "TIFF"), NOT_ACCEPTED),
        BadUpload("truncated-jpeg", "photo.jpg", truncated_jpeg(), DAMAGED),
        BadUpload("corrupt-jpeg", "photo.jpg", corrupt_jpeg(), DAMAGED),
        BadUpload(
            "decompression-bomb",
            "photo.png",
            png_bomb(),
            "The image declares far more pixels than the limit of 40.0 megapixels.",
        ),
        BadUpload(
            "over-pixel-limit",
            "photo.png",
            encode(picture, "PNG"),
            "The image is 200x200 (40,000 pixels); the limit is 10,000 pixels.",
            settings={"PHOTO_MAX_PIXELS": 10_000},
        ),
        BadUpload(
            "over-size-limit",
            "photo.jpg",
            photo,
            "The file is larger than the limit of 20 KB.",
            settings={"PHOTO_MAX_BYTES": 20 * 1024},
        ),
    ]
