"""Admin for courses, enrolments, class sessions, attendance records and the audit trail.

Courses get an "Import enrolments from CSV" page (upload, preview, confirm) over
`attendance/enrolment_import.py`; the list shows each course's enrolled students and how many
of them have no ready photo. Corrections of records go through `attendance_set_status`, so they
land in the audit trail like any other; the audit trail and Django's own log of admin actions
are read-only for everybody.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.auth.models import User
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from attendance.enrolment_import import MAX_BYTES, EnrolmentPreview, enrolment_csv_apply, enrolment_csv_preview
from attendance.errors import ApplicationError
from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from attendance.selectors import session_students
from attendance.services import attendance_set_status, session_close, session_open
from students.models import StudentPhoto

# --- Courses and enrolments ------------------------------------------------------------------


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 1
    fields = ["student", "start_date", "end_date"]
    autocomplete_fields = ["student"]


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


# The preview page carries the checked file to the confirm button, signed so that what is
# applied is exactly what was previewed; it needs no storage on the server.
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


def _not_ended(today: datetime.date) -> Q:
    return Q(end_date__isnull=True) | Q(end_date__gte=today)


def _count(queryset: QuerySet[Enrollment]) -> Coalesce:
    return Coalesce(Subquery(queryset.values("course").annotate(n=Count("pk")).values("n")), 0)


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "enrolled", "without_ready_photo"]
    list_filter = ["teachers"]
    search_fields = ["code", "name", "teachers__username", "teachers__last_name"]
    filter_horizontal = ["teachers"]
    inlines = [EnrollmentInline]
    change_form_template = "admin/attendance/course/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Course]:
        # Enrolled: an enrolment that has not ended (it may start later). Those students need a
        # ready photo to be recognised.
        enrolled = Enrollment.objects.filter(_not_ended(timezone.localdate()), course=OuterRef("pk"))
        ready = StudentPhoto.objects.filter(student=OuterRef("student_id"), status=StudentPhoto.Status.READY)
        return (
            super()
            .get_queryset(request)
            .annotate(enrolled_count=_count(enrolled), without_photo_count=_count(enrolled.exclude(Exists(ready))))
        )

    @admin.display(description="Enrolled students", ordering="enrolled_count")
    def enrolled(self, course: Course) -> str:
        url = reverse("admin:students_student_changelist") + f"?enrolled_in={course.pk}"
        return format_html('<a href="{}">{}</a>', url, course.enrolled_count)  # type: ignore[attr-defined]

    @admin.display(description="Without a ready photo", ordering="without_photo_count")
    def without_ready_photo(self, course: Course) -> str:
        url = reverse("admin:students_student_changelist") + f"?enrolled_in={course.pk}&ready_photo=no"
        return format_html('<a href="{}">{}</a>', url, course.without_photo_count)  # type: ignore[attr-defined]

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<path:object_id>/import-enrolments/",
                self.admin_site.admin_view(self.import_enrolments_view),
                name="attendance_course_import_enrolments",
            )
        ]
        return urls + super().get_urls()

    def import_enrolments_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload a CSV file, see what it would change, confirm to apply it."""
        course = self.get_object(request, unquote(object_id))
        if course is None:
            raise Http404("No such course.")
        if not self.has_change_permission(request, course):
            raise PermissionDenied
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
                        self.log_change(request, course, f"Imported enrolments from a CSV file: {summary}.")
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
            **self.admin_site.each_context(request),
            "title": f"Import enrolments into {course.code}",
            "opts": self.opts,
            "original": course,
            "has_view_permission": True,
            "form": form,
            "preview": preview,
            "signed": _sign_import(course=course, data=data, preview=preview) if preview and can_apply else "",
        }
        return TemplateResponse(request, "admin/attendance/course/import_enrolments.html", context, status=status)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["student", "course", "start_date", "end_date"]
    list_filter = ["course", "start_date", ("end_date", admin.EmptyFieldListFilter)]
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "course__code"]
    list_select_related = ["student", "course"]
    autocomplete_fields = ["course", "student"]
    date_hierarchy = "start_date"


# --- Sessions and records --------------------------------------------------------------------


@admin.register(ClassSession)
class ClassSessionAdmin(admin.ModelAdmin):
    list_display = ["course", "starts_at", "ends_at", "late_after_minutes", "state"]
    list_filter = ["state", "course"]
    date_hierarchy = "starts_at"
    search_fields = ["course__code", "course__name"]
    list_select_related = ["course"]
    # Opening and closing go through the services: closing marks the students never seen absent.
    readonly_fields = ["state"]
    actions = ["open_sessions", "close_sessions"]

    @admin.action(description="Open the selected sessions")
    def open_sessions(self, request: HttpRequest, queryset: QuerySet[ClassSession]) -> None:
        for session in queryset:
            session_open(session=session)
        messages.info(request, f"{len(queryset)} session(s) opened.")

    @admin.action(description="Close the selected sessions (students never seen become absent)")
    def close_sessions(self, request: HttpRequest, queryset: QuerySet[ClassSession]) -> None:
        for session in queryset:
            session_close(session=session)
        messages.info(request, f"{len(queryset)} session(s) closed.")


class AttendanceRecordForm(forms.ModelForm):
    class Meta:
        model = AttendanceRecord
        fields = ["status", "note"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        record = self.instance
        if not session_students(session=record.session).filter(pk=record.student_id).exists():
            raise forms.ValidationError(
                "This student no longer counts in this session (their enrolment dates changed); "
                "correct the enrolment first."
            )
        return cleaned


@admin.register(AttendanceRecord)
class AttendanceRecordAdmin(admin.ModelAdmin):
    form = AttendanceRecordForm
    list_display = ["session", "student", "status", "source", "first_seen_at", "best_distance", "changed_by"]
    list_filter = ["status", "source", "session__course", ("changed_by", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "session__course__code"]
    list_select_related = ["session__course", "student", "changed_by"]
    date_hierarchy = "session__starts_at"
    readonly_fields = [
        "session",
        "student",
        "source",
        "first_seen_at",
        "last_seen_at",
        "best_distance",
        "changed_by",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Records come from the sessions: recognition, the session page, closing the session.
        return False

    def save_model(self, request: HttpRequest, obj: AttendanceRecord, form: Any, change: bool) -> None:
        # Through the service, so that the correction is in the audit trail and on live pages.
        if form.has_changed():
            attendance_set_status(
                session=obj.session,
                student=obj.student,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
                changed_by=cast(User, request.user),
            )


# --- Read-only audit -----------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff allowed to view it; nobody, not even a superuser, adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AttendanceChange)
class AttendanceChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "session", "student", "old_status", "new_status", "source", "changed_by", "note"]
    list_filter = [
        ("session__course", admin.RelatedOnlyFieldListFilter),
        "source",
        ("changed_by", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "note"]
    list_select_related = ["session__course", "student", "changed_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]  # not editable, so shown only when named


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """What was added, changed and deleted in this admin, and by whom (Django's own log)."""

    list_display = ["action_time", "user", "action", "content_type", "object_repr", "change"]
    list_filter = [
        "action_flag",
        ("content_type", admin.RelatedOnlyFieldListFilter),
        ("user", admin.RelatedOnlyFieldListFilter),
        "action_time",
    ]
    search_fields = ["object_repr", "change_message", "user__username"]
    list_select_related = ["user", "content_type"]
    date_hierarchy = "action_time"
    readonly_fields = ["action_time"]

    @admin.display(description="Action", ordering="action_flag")
    def action(self, entry: LogEntry) -> str:
        return {ADDITION: "Added", CHANGE: "Changed", DELETION: "Deleted"}.get(entry.action_flag, "")

    @admin.display(description="Change")
    def change(self, entry: LogEntry) -> str:
        return entry.get_change_message()
