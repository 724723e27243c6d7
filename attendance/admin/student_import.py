"""The admin's "Import students from CSV" page: upload, preview, confirm (config/csv_import.py's
page, with students/student_import.py's preview and apply)."""

from __future__ import annotations

from typing import cast

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from config.csv_import import CsvFileForm, CsvImport, admin_page_context, csv_import_page
from students.student_import import StudentPreview, students_csv_apply, students_csv_preview


class StudentFileForm(CsvFileForm):
    help_text = (
        "A header line with number, first_name, last_name and email, then one student per line; "
        "UTF-8, at most 5,000 students and 1 MB."
    )


def student_import_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The page for a user who may add and change students."""

    def apply(preview: StudentPreview) -> str:
        created, changed = students_csv_apply(preview=preview)
        user_id = cast(int, request.user.pk)  # the admin's pages are for signed-in staff
        # One log entry per student, as if each had been saved on its page.
        LogEntry.objects.log_actions(user_id, created, ADDITION, "Created from a CSV file.")
        LogEntry.objects.log_actions(user_id, changed, CHANGE, "Changed from a CSV file.")
        return f"{len(created)} student(s) created, {len(changed)} changed."

    importer = CsvImport(
        salt="attendance.admin.student-import",
        scope="students",
        preview=lambda data: students_csv_preview(data=data),
        apply=apply,
        stale="Students were added or changed since the preview; check this preview.",
    )
    context = admin_page_context(
        model_admin,
        request,
        title="Import students from CSV",
        columns=("Student number", "First name", "Last name", "Email"),
        row_template="admin/attendance/student/import_students_row.html",
    )
    return csv_import_page(
        request,
        importer,
        form_class=StudentFileForm,
        template="admin/attendance/student/import_students.html",
        context=context,
        done_url=reverse("admin:students_student_changelist"),
    )
