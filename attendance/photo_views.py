"""Student photos are served only through this view, to users allowed to see the student (a teacher:
the students of the courses they teach)."""

from __future__ import annotations

import io

from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from PIL import Image, ImageOps

from attendance.selectors import students_for
from students.models import StudentPhoto

THUMBNAIL_SIZE = (160, 160)
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@require_GET
def photo_image(request: HttpRequest, photo_id: int) -> HttpResponseBase:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    photo = get_object_or_404(StudentPhoto, pk=photo_id)
    if not students_for(user=request.user).filter(pk=photo.student_id).exists():
        raise Http404("No such photo.")
    if not photo.image.name:
        raise Http404("The photo's file was deleted: a rejected photo is kept only for a while.")
    try:
        handle = photo.image.open("rb")
    except FileNotFoundError:
        raise Http404("The photo file is missing.") from None
    if request.GET.get("size") == "thumb":
        with handle, Image.open(handle) as image:
            image.draft("RGB", THUMBNAIL_SIZE)
            thumb = ImageOps.exif_transpose(image) or image
            thumb = thumb.convert("RGB")
            thumb.thumbnail(THUMBNAIL_SIZE)
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG", quality=80)
        response: HttpResponseBase = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    else:
        suffix = "." + (photo.image.name or "").rsplit(".", 1)[-1].lower()
        response = FileResponse(handle, content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"))
    # Biometric data: never kept by shared caches or the browser's disk cache.
    response["Cache-Control"] = "private, no-store"
    return response
