"""Reading an uploaded or stored student photo, with the photo limits (PHOTO_MAX_BYTES, PHOTO_MAX_PIXELS)."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from recognition.images import ImageInfo, decode_image, inspect_image


def photo_inspect(data: bytes) -> ImageInfo:
    """The photo's format and size, checked without decoding it (raises ImageRejected)."""
    return inspect_image(data, max_bytes=settings.PHOTO_MAX_BYTES, max_pixels=settings.PHOTO_MAX_PIXELS)


def photo_decode(data: bytes) -> np.ndarray:
    """The photo as an RGB array, upright (raises ImageRejected)."""
    return decode_image(data, max_bytes=settings.PHOTO_MAX_BYTES, max_pixels=settings.PHOTO_MAX_PIXELS)
