"""Admin for attendance alerts and the log of every alert email (read-only: the run writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from attendance.models import AlertEmail, AttendanceAlert
from config.admin import ReadOnlyAdmin


class AlertEmailInline(admin.TabularInline):
    model = AlertEmail
    fields = readonly_fields = ("sent_at", "kind", "recipient", "subject", "error")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AttendanceAlert)
class AttendanceAlertAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "course", "student", "reason", "last_sent_at", "ended_at"]
    list_filter = [
        ("course", admin.RelatedOnlyFieldListFilter),
        "reason",
        ("ended_at", admin.EmptyFieldListFilter),
        "started_at",
    ]
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "course__code"]
    list_select_related = ["course", "student"]
    date_hierarchy = "started_at"
    readonly_fields = ["started_at"]  # not editable, so shown only when named
    inlines = [AlertEmailInline]


@admin.register(AlertEmail)
class AlertEmailAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "kind", "recipient", "alert", "subject", "error"]
    list_filter = [
        ("alert__course", admin.RelatedOnlyFieldListFilter),
        "kind",
        ("error", admin.EmptyFieldListFilter),
        "sent_at",
    ]
    search_fields = ["recipient", "subject", "alert__student__student_number", "alert__student__last_name"]
    list_select_related = ["alert__course", "alert__student"]
    date_hierarchy = "sent_at"
    readonly_fields = ["sent_at"]  # not editable, so shown only when named
