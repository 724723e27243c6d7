"""Checking and decoding untrusted image bytes (uploads and webcam frames).

Size, format and pixel count are checked from the header before any pixel is decoded, so a
decompression bomb costs nothing. Every failure is an `ImageRejected` with a message a person
can act on.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
# Pillow names a JPEG with a multi-picture extension (common from phone cameras) "MPO";
# it is a JPEG, and its first picture is the photo.
FORMAT_NAMES = {**ALLOWED_FORMATS, "MPO": "JPEG"}
ORIENTATION_TAG = 0x0112
SIDEWAYS_ORIENTATIONS = {5, 6, 7, 8}


class ImageRejected(ValueError):
    """Bytes that are not an acceptable image; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def _file_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def _pixel_count(pixels: int) -> str:
    if pixels >= 100_000:
        return f"{pixels / 1e6:.1f} megapixels"
    return f"{pixels:,} pixels"


def _open(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > max_bytes:
        # Uploads are read only one byte past the limit, so the file's own size is not known here.
        raise ImageRejected(f"The file is larger than the limit of {_file_size(max_bytes)}.")
    try:
        image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        raise ImageRejected("The file is not a JPEG, PNG or WebP image.") from None
    except Image.DecompressionBombError:
        raise ImageRejected(
            f"The image declares far more pixels than the limit of {_pixel_count(max_pixels)}."
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"The image could not be read ({exc}).") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} ({_pixel_count(width * height)}); the limit is {_pixel_count(max_pixels)}."
        )
    return image


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an image fully (header and every pixel) without keeping the pixels.

    The size is the upright one, as the photo is shown and as `decode_image` returns it.
    """
    image = _open(data, max_bytes=max_bytes, max_pixels=max_pixels)
    # Pixels before EXIF: a PNG reads its EXIF only after its pixels, and damaged pixels must be
    # reported as such, not as unreadable EXIF data.
    _load(image)
    width, height = image.size
    if _orientation(image) in SIDEWAYS_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(format=FORMAT_NAMES[image.format or ""], width=width, height=height)


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Decode to an RGB uint8 array (height, width, 3), upright as EXIF orientation says."""
    image = _open(data, max_bytes=max_bytes, max_pixels=max_pixels)
    _load(image)
    try:
        image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"The image could not be read ({exc}).") from None
    if image.mode != "RGB":
        # RGBA, palette, greyscale and 16-bit images all become 8-bit RGB; transparency
        # is composed on white, as a person would see it.
        if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ORIENTATION_TAG) or 1)
    except (OSError, ValueError, SyntaxError, TypeError) as exc:
        raise ImageRejected(f"The image's EXIF data could not be read ({exc}).") from None


def _load(image: Image.Image) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(f"The image is damaged or truncated ({exc}).") from None


def face_crop(image: np.ndarray, box: tuple[float, float, float, float], *, margin: float = 0.6) -> np.ndarray:
    """A copy of the face in `box` of an RGB image with `margin` (of the face's size) around it:
    what a photo of the student from a live page holds, never the whole frame."""
    x1, y1, x2, y2 = box
    pad_x, pad_y = (x2 - x1) * margin, (y2 - y1) * margin
    rows, columns = image.shape[:2]
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(columns, int(x2 + pad_x + 1)), min(rows, int(y2 + pad_y + 1))
    return image[top:bottom, left:right].copy()


def jpeg_bytes(image: np.ndarray, *, quality: int = 92) -> bytes:
    """An RGB image as a JPEG file's bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
