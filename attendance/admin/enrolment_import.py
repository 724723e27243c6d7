"""The admin's "Import enrolments from CSV" page of a course: upload, preview, confirm
(config/csv_import.py's page, with the enrolment import's preview and apply)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from attendance.enrolment_import import EnrolmentPreview, enrolment_csv_apply, enrolment_csv_preview
from attendance.models import Course
from config.csv_import import CsvFileForm, CsvImport, admin_page_context, csv_import_page


class EnrolmentFileForm(CsvFileForm):
    help_text = (
        "A header line with student_number and optionally start_date and end_date (YYYY-MM-DD), "
        "then one student per line; UTF-8, at most 5,000 students and 1 MB."
    )


def enrolment_import_view(model_admin: admin.ModelAdmin, request: HttpRequest, course: Course) -> HttpResponse:
    """The page for a course the user may change."""

    def apply(preview: EnrolmentPreview) -> str:
        changed = enrolment_csv_apply(course=course, preview=preview)
        summary = f"{len(preview.to_add)} added, {len(preview.to_update)} with new dates"
        model_admin.log_change(request, course, f"Imported enrolments from a CSV file: {summary}.")
        return f"{changed} enrolment(s) saved: {summary}."

    importer = CsvImport(
        salt="attendance.admin.enrolment-import",
        scope=course.pk,
        preview=lambda data: enrolment_csv_preview(course=course, data=data),
        apply=apply,
        stale="The students or the course's enrolments changed since the preview; check this preview.",
    )
    context = admin_page_context(
        model_admin,
        request,
        title=f"Import enrolments into {course.code}",
        original=course,
        columns=("Student number", "Name", "Start", "End"),
        row_template="admin/attendance/course/import_enrolments_row.html",
    )
    return csv_import_page(
        request,
        importer,
        form_class=EnrolmentFileForm,
        template="admin/attendance/course/import_enrolments.html",
        context=context,
        done_url=reverse("admin:attendance_course_change", args=[course.pk]),
    )
