"""Admin for class sessions, attendance records and their audit trails.

Opening, closing and moving sessions and correcting records go through the services, so the lock
holds here too and changes land in the audit trails like any other; the audit trails are read-only
for everybody.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, SessionChange
from attendance.selectors import session_students
from attendance.services import attendance_set_status, session_close, session_open, session_update
from config.admin import DateHierarchyAdmin, ReadOnlyAdmin
from config.web import ApplicationError

SESSION_CHANGE_FIELDS = ("created_at", "changed_by", "old_starts_at", "old_ends_at", "new_starts_at", "new_ends_at")


class SessionChangeInline(admin.TabularInline):
    model = SessionChange
    fields = readonly_fields = SESSION_CHANGE_FIELDS
    extra = 0
    can_delete = False
    verbose_name_plural = "Changes of times"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ClassSession)
class ClassSessionAdmin(DateHierarchyAdmin):
    list_display = ["course", "starts_at", "ends_at", "late_after_minutes", "state"]
    list_filter = ["state", "course"]
    date_hierarchy = "starts_at"
    search_fields = ["course__code", "course__name"]
    list_select_related = ["course"]
    # Opening and closing go through the services: closing marks the students never seen absent.
    readonly_fields = ["state"]
    actions = ["open_sessions", "close_sessions"]
    inlines = [SessionChangeInline]

    def get_readonly_fields(self, request: HttpRequest, obj: ClassSession | None = None) -> list[str]:
        # A session stays in its course: its records and their lock belong to the course's students.
        return ["state", "course"] if obj is not None else ["state"]

    def save_model(self, request: HttpRequest, obj: ClassSession, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the service, so that a change of times is in the audit trail.
        session_update(
            session=obj,
            changed_by=cast(User, request.user),
            starts_at=obj.starts_at,
            ends_at=obj.ends_at,
            late_after_minutes=obj.late_after_minutes,
        )

    @admin.action(description="Open the selected sessions")
    def open_sessions(self, request: HttpRequest, queryset: QuerySet[ClassSession]) -> None:
        opened = 0
        for session in queryset:
            try:
                session_open(session=session)
            except ApplicationError as exc:
                messages.error(request, f"{session}: {exc.message}")
            else:
                opened += 1
        messages.info(request, f"{opened} session(s) opened.")

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
class AttendanceRecordAdmin(DateHierarchyAdmin):
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


@admin.register(SessionChange)
class SessionChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "session", *SESSION_CHANGE_FIELDS[1:]]
    list_filter = [
        ("session__course", admin.RelatedOnlyFieldListFilter),
        ("changed_by", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["session__course__code", "session__course__name", "changed_by__username"]
    list_select_related = ["session__course", "changed_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at"]  # not editable, so shown only when named
