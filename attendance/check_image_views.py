"""The "check an image" page: staff upload a photo and see who recognition takes each face for.

Nothing is stored: the upload is held in memory only (never in a temporary file) and the page
answers with the photo inline.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import numpy as np
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from PIL import Image

from attendance.image_check import ImageCheck, image_check
from attendance.models import Course
from recognition.engine import FaceModelUnavailable
from recognition.images import ImageRejected
from students.images import photo_decode
from students.services import upload_bytes

logger = logging.getLogger(__name__)

IMAGE_FIELD = "image"
# The photo is shown re-encoded at most this wide or high: enough to see the faces, far less than the upload.
PREVIEW_MAX_SIDE = 1600
MODEL_UNAVAILABLE = "Face recognition is not available on the server; ask an administrator."


class PhotoMemoryUploadHandler(FileUploadHandler):
    """Keeps the image field's first file in memory, never on disk, and only up to one byte past
    PHOTO_MAX_BYTES (enough for the photo check to refuse a larger file); anything else is dropped."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.kept = False
        self.keep = False
        self.file = io.BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.keep = self.field_name == IMAGE_FIELD and not self.kept
        self.file = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        room = settings.PHOTO_MAX_BYTES + 1 - self.file.tell()
        if self.keep and room > 0:
            self.file.write(raw_data[:room])

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if not self.keep:
            return None
        self.kept = True
        self.file.seek(0)
        return InMemoryUploadedFile(
            file=self.file,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class CheckImageForm(forms.Form):
    image = forms.FileField(
        label="Photo (JPEG, PNG or WebP)",
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )
    course = forms.ModelChoiceField(
        label="Match against",
        queryset=Course.objects.all(),
        required=False,
        empty_label="All students with a photo",
    )

    def clean_image(self) -> np.ndarray:
        try:
            return photo_decode(upload_bytes(self.cleaned_data[IMAGE_FIELD]))
        except ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from None


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def check_image(request: HttpRequest) -> HttpResponse:
    # Before anything reads the body (the CSRF check does): the upload must never reach a temporary file.
    request.upload_handlers = [PhotoMemoryUploadHandler(request)]
    return _check_image(request)


@csrf_protect
@login_required
def _check_image(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may check images.")
    form = CheckImageForm(request.POST, request.FILES) if request.method == "POST" else CheckImageForm()
    context: dict[str, Any] = {"form": form}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            image = form.cleaned_data[IMAGE_FIELD]
            try:
                result = image_check(image=image, course=form.cleaned_data["course"])
            except FaceModelUnavailable as exc:
                logger.error("Face model unavailable: %s", exc)
                form.add_error(None, MODEL_UNAVAILABLE)
                status = 503
            else:
                status = 200
                context |= _result_context(image, result, course=form.cleaned_data["course"])
    return render(request, "attendance/check_image.html", context, status=status)


def _result_context(image: np.ndarray, result: ImageCheck, *, course: Course | None) -> dict[str, Any]:
    height, width = image.shape[:2]
    # Numbers sized to the photo, in its own pixels, so they read the same at any photo size.
    label_size = max(12, round(max(width, height) / 30))
    rows = []
    for number, checked in enumerate(result.faces, start=1):
        x1, y1, x2, y2 = checked.face.box
        match = checked.match
        nearest = (
            result.students.get(match.nearest_student_id) if match and match.nearest_student_id is not None else None
        )
        rows.append(
            {
                "number": number,
                "box": {"x": round(x1), "y": round(y1), "width": round(x2 - x1), "height": round(y2 - y1)},
                # Above the box, or just inside it at the photo's top edge.
                "label_y": max(round(y1), label_size),
                "face": checked.face,
                "verdict": checked.verdict,
                "nearest": nearest,
                "maybe": None if checked.student_id is None else result.students.get(checked.student_id),
                "distance": match.distance if match else None,
                "second_distance": checked.second_distance,
                "small": checked.face.width < settings.FACE_SMALL_FACE_PX,
            }
        )
    return {
        "rows": rows,
        "course": course,
        "gallery_size": result.gallery_size,
        "preview": _preview_data_url(image),
        "width": width,
        "height": height,
        "label_size": label_size,
        "min_probability": settings.FACE_MIN_PROBABILITY,
        "live_min_face_px": settings.FACE_LIVE_MIN_FACE_PX,
        "small_face_px": settings.FACE_SMALL_FACE_PX,
    }


def _preview_data_url(image: np.ndarray) -> str:
    preview = Image.fromarray(image)
    preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    buffer = io.BytesIO()
    preview.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
