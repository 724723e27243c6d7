"""Admin for class sessions, attendance records and their audit trail.

Opening and closing sessions and correcting records go through the services, so corrections land
in the audit trail like any other; the audit trail is read-only for everybody.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession
from attendance.selectors import session_students
from attendance.services import attendance_set_status, session_close, session_open
from config.admin import ReadOnlyAdmin


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
