from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from recognition.images import ImageInfo, ImageRejected, decode_image, inspect_image
from tests.faces import face_bytes
from tests.recognition.samples import (
    LIMITS,
    BadUpload,
    bad_uploads,
    encode,
    exif_rotated_jpeg,
    gradient,
    open_face,
    png_bomb,
)


def limits_for(case: BadUpload) -> dict[str, int]:
    overrides = {"PHOTO_MAX_BYTES": "max_bytes", "PHOTO_MAX_PIXELS": "max_pixels"}
    return LIMITS | {overrides[name]: value for name, value in case.settings.items()}


@pytest.mark.parametrize(
    ("format", "expected"), [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP")], ids=["jpeg", "png", "webp"]
)
def test_accepted_formats(format: str, expected: str) -> None:
    data = encode(gradient((64, 48)), format)

    assert inspect_image(data, **LIMITS) == ImageInfo(format=expected, width=64, height=48)
    pixels = decode_image(data, **LIMITS)
    assert pixels.shape == (48, 64, 3)
    assert pixels.dtype == np.uint8


def test_a_multi_picture_jpeg_from_a_phone_is_a_jpeg() -> None:
    """Phones write JPEGs with a multi-picture extension, which Pillow calls MPO."""
    photo, depth_map = gradient((64, 48)), Image.new("RGB", (64, 48))
    data = encode(photo, "MPO", save_all=True, append_images=[depth_map])

    assert inspect_image(data, **LIMITS) == ImageInfo(format="JPEG", width=64, height=48)
    assert decode_image(data, **LIMITS).shape == (48, 64, 3)


@pytest.mark.parametrize("case", bad_uploads(), ids=lambda case: case.id)
def test_bad_bytes_are_refused_with_a_reason(case: BadUpload) -> None:
    for check in (inspect_image, decode_image):
        with pytest.raises(ImageRejected) as refused:
            check(case.data, **limits_for(case))
        assert case.message in str(refused.value)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(ImageRejected, match=r"The file is empty\."):
        inspect_image(b"", **LIMITS)


def test_the_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    # 25 megapixels declared in under 2 KB: refused by its header, its rows never read.
    data = png_bomb(width=5000, height=5000)
    assert len(data) < 2000
    expected = "The image is 5000x5000 (25.0 megapixels); the limit is 1.0 megapixels."
    with pytest.raises(ImageRejected, match=re.escape(expected)):
        decode_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)


def test_a_file_at_the_size_limit_is_accepted_and_one_byte_more_is_not() -> None:
    data = encode(gradient((64, 48)), "PNG")

    assert inspect_image(data, max_bytes=len(data), max_pixels=LIMITS["max_pixels"]).format == "PNG"
    with pytest.raises(ImageRejected, match="The file is larger than the limit of"):
        inspect_image(data, max_bytes=len(data) - 1, max_pixels=LIMITS["max_pixels"])


def test_exif_orientation_is_applied() -> None:
    upright = np.asarray(open_face("enroll/obama/obama.jpg"))
    data = exif_rotated_jpeg("enroll/obama/obama.jpg")
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (upright.shape[0], upright.shape[1])  # the pixels lie on their side

    decoded = decode_image(data, **LIMITS)

    assert decoded.shape == upright.shape
    # The same picture, up to JPEG re-encoding.
    assert np.abs(decoded.astype(int) - upright.astype(int)).mean() < 6
    assert inspect_image(data, **LIMITS) == ImageInfo(format="JPEG", width=upright.shape[1], height=upright.shape[0])


def test_rgba_png_becomes_rgb_with_transparency_on_white() -> None:
    image = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    image.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent

    pixels = decode_image(encode(image, "PNG"), **LIMITS)

    assert pixels.shape == (2, 4, 3)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[1, 3].tolist() == [255, 0, 0]


def test_the_32_bit_png_of_the_shared_faces_decodes_to_rgb() -> None:
    data = face_bytes("edge/32bit.png")

    pixels = decode_image(data, **LIMITS)

    assert pixels.shape == (1200, 626, 3)
    assert inspect_image(data, **LIMITS) == ImageInfo(format="PNG", width=626, height=1200)


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "CMYK"])
def test_other_colour_modes_become_8_bit_rgb(mode: str) -> None:
    format = "JPEG" if mode == "CMYK" else "PNG"
    data = encode(gradient((32, 16)).convert(mode), format)

    pixels = decode_image(data, **LIMITS)

    assert pixels.shape == (16, 32, 3)
    assert pixels.dtype == np.uint8
