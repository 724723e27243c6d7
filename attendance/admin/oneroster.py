"""The course list's OneRoster pages: "Import OneRoster bundle" (upload, preview, confirm: config/
csv_import.py's page with attendance/oneroster.py's preview and apply) and "Export attendance for
OneRoster" (a CSV download of attendance/oneroster_export.py's lines)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from attendance.exports import csv_response
from attendance.oneroster import (
    MAX_UPLOAD_BYTES,
    BundleError,
    RosterPreview,
    bundle_encode,
    bundle_read,
    roster_apply,
    roster_preview,
)
from attendance.oneroster_export import MAX_DAYS, attendance_table, export_range
from config.csv_import import CsvFileForm, CsvImport, admin_page_context, csv_import_page
from config.web import ApplicationError
from students.admin import MultipleFileInput

IMPORT_PERMISSIONS = (
    "attendance.add_course",
    "attendance.change_course",
    "students.add_student",
    "students.change_student",
)
EXPORT_PERMISSIONS = ("attendance.view_course", "attendance.view_attendancerecord")


class BundleField(forms.FileField):
    """A .zip of the bundle or its CSV files, cleaned to the bundle (`bundle_encode`'s bytes)."""

    widget = MultipleFileInput(attrs={"accept": ".zip,.csv,application/zip,text/csv"})

    def clean(self, value: Any, initial: Any = None) -> bytes:
        uploads = value if isinstance(value, list | tuple) else [value] if value else []
        if not uploads:
            raise forms.ValidationError("Choose the bundle's .zip file, or its CSV files.")
        if sum(upload.size or 0 for upload in uploads) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        files = []
        for upload in uploads:
            upload.seek(0)
            files.append((str(upload.name), upload.read(MAX_UPLOAD_BYTES + 1)))
        try:
            return bundle_encode(bundle_read(files))
        except BundleError as exc:
            raise forms.ValidationError(exc.message) from None


class BundleForm(CsvFileForm):
    help_text = (
        "The bundle's .zip file, or its CSV files chosen together: users.csv, classes.csv, enrollments.csv, "
        "and courses.csv, academicSessions.csv and manifest.csv if the bundle has them. Other files are "
        "ignored; each file at most 5,000 lines and 1 MB, the upload at most 4 MB."
    )

    file = BundleField(label="OneRoster bundle")

    def clean_file(self) -> bytes:
        return bytes(self.cleaned_data["file"])


def oneroster_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The pages' URLs, for the course admin's `get_urls` (before its own)."""
    site = model_admin.admin_site
    return [
        path(
            "oneroster/import/",
            site.admin_view(lambda request: oneroster_import_view(model_admin, request)),
            name="attendance_course_oneroster_import",
        ),
        path(
            "oneroster/export/",
            site.admin_view(lambda request: oneroster_export_view(model_admin, request)),
            name="attendance_course_oneroster_export",
        ),
    ]


def oneroster_import_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """For staff who may add and change courses and students."""
    if not request.user.has_perms(IMPORT_PERMISSIONS):
        raise PermissionDenied

    def apply(preview: RosterPreview) -> str:
        written = roster_apply(preview=preview)
        return (
            f"Roster imported: {written['students']} student(s), {written['teachers']} teacher(s), "
            f"{written['courses']} course(s), {written['enrolments']} enrolment(s) and "
            f"{written['teaching']} teacher(s) of courses created or changed."
        )

    importer = CsvImport(
        salt="attendance.admin.oneroster-import",
        scope="oneroster",
        preview=lambda data: roster_preview(data=data),
        apply=apply,
        stale="Students, courses or teachers changed since the preview; check this preview.",
    )
    return csv_import_page(
        request,
        importer,
        form_class=BundleForm,
        template="admin/attendance/course/oneroster_import.html",
        context=admin_page_context(model_admin, request, title="Import OneRoster bundle"),
        done_url=reverse("admin:attendance_course_changelist"),
    )


def oneroster_export_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponseBase:
    """For staff who may view courses and attendance records: the form, or with from and to the CSV."""
    if not request.user.has_perms(EXPORT_PERMISSIONS):
        raise PermissionDenied
    context = admin_page_context(model_admin, request, title="Export attendance for OneRoster")
    first, last = request.GET.get("from", ""), request.GET.get("to", "")
    context.update({"first": first, "last": last, "max_days": MAX_DAYS, "error": ""})
    if "from" not in request.GET and "to" not in request.GET:
        return TemplateResponse(request, "admin/attendance/course/oneroster_export.html", context)
    try:
        start, end = export_range(first=first, last=last)
    except ApplicationError as exc:
        context["error"] = exc.message
        return TemplateResponse(request, "admin/attendance/course/oneroster_export.html", context, status=400)
    return csv_response(
        request, table=attendance_table(first=start, last=end), filename=f"attendance-oneroster-{start}-{end}"
    )
