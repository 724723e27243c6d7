"""Project-wide admin: a read-only base, and Django's own log of admin actions made viewable.

Imported by config/urls.py before the admin's URLs are built (config is not an app, so the admin
does not discover this module by itself).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest


class BoundedDateChangeList(ChangeList):
    """Django's change list, with a date-hierarchy date it cannot build (year 9999 gives year 10000
    as the end of its range; a year of 12 digits overflows) answered as any other bad filter: the
    list again, with "?e=1", instead of a server error."""

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class DateHierarchyAdmin(admin.ModelAdmin):
    """The base of every admin with a `date_hierarchy` (tests/test_admin_inputs.py checks that)."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BoundedDateChangeList


class ReadOnlyAdmin(DateHierarchyAdmin):
    """Viewable by staff allowed to view it; nobody, not even a superuser, adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
