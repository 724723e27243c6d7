"""The admin's "Import enrolments from CSV" page of a course: upload, preview, confirm.

The preview page carries the checked file to the confirm button, signed so that what is applied
is exactly what was previewed; it needs no storage on the server.
"""

from __future__ import annotations

import hashlib
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from attendance.enrolment_import import MAX_BYTES, EnrolmentPreview, enrolment_csv_apply, enrolment_csv_preview
from attendance.models import Course
from config.web import ApplicationError


class EnrolmentFileForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="A header line with student_number and optionally start_date and end_date (YYYY-MM-DD), "
        "then one student per line; UTF-8, at most 5,000 students and 1 MB.",
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        upload.seek(0)
        # One byte past the limit is enough for the preview to say the file is too large.
        return cast(bytes, upload.read(MAX_BYTES + 1))


IMPORT_SALT = "attendance.admin.enrolment-import"
IMPORT_MAX_AGE = 3600


def _preview_digest(preview: EnrolmentPreview) -> str:
    changes = [(line.student_id, line.start_date, line.end_date) for line in preview.to_add + preview.to_update]
    return hashlib.sha256(repr(changes).encode()).hexdigest()


def _sign_import(*, course: Course, data: bytes, preview: EnrolmentPreview) -> str:
    # A preview without errors means the bytes are UTF-8 text.
    payload = {"course": course.pk, "csv": data.decode("utf-8"), "digest": _preview_digest(preview)}
    return signing.dumps(payload, salt=IMPORT_SALT, compress=True)


def _unsign_import(*, course: Course, signed: str) -> tuple[bytes, str] | None:
    try:
        payload = signing.loads(signed, salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("course") != course.pk:
        return None
    return str(payload["csv"]).encode("utf-8"), str(payload["digest"])


def enrolment_import_view(model_admin: admin.ModelAdmin, request: HttpRequest, course: Course) -> HttpResponse:
    """The page for a course the user may change."""
    form = EnrolmentFileForm()
    preview, data, status = None, b"", 200
    if request.method == "POST" and "signed" in request.POST:
        unsigned = _unsign_import(course=course, signed=request.POST["signed"])
        if unsigned is None:
            messages.error(request, "This preview has expired or was altered; upload the file again.")
            status = 400
        else:
            data, digest = unsigned
            preview = enrolment_csv_preview(course=course, data=data)
            if preview.errors or _preview_digest(preview) != digest:
                messages.warning(
                    request,
                    "The students or the course's enrolments changed since the preview; check this preview.",
                )
                status = 409
            else:
                try:
                    changed = enrolment_csv_apply(course=course, preview=preview)
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                    status = 400
                else:
                    summary = f"{len(preview.to_add)} added, {len(preview.to_update)} with new dates"
                    model_admin.log_change(request, course, f"Imported enrolments from a CSV file: {summary}.")
                    messages.success(request, f"{changed} enrolment(s) saved: {summary}.")
                    return HttpResponseRedirect(reverse("admin:attendance_course_change", args=[course.pk]))
    elif request.method == "POST":
        form = EnrolmentFileForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data["file"]
            preview = enrolment_csv_preview(course=course, data=data)
            status = 400 if preview.errors else 200
        else:
            status = 400
    can_apply = preview is not None and not preview.errors and bool(preview.to_add or preview.to_update)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Import enrolments into {course.code}",
        "opts": model_admin.opts,
        "original": course,
        "has_view_permission": True,
        "form": form,
        "preview": preview,
        "signed": _sign_import(course=course, data=data, preview=preview) if preview and can_apply else "",
    }
    return TemplateResponse(request, "admin/attendance/course/import_enrolments.html", context, status=status)
