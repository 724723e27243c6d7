"""Admin for courses and enrolments. The course list shows each course's enrolled students and how
many of them have no recognisable photo and links to the OneRoster import and export
(attendance/admin/oneroster.py); a course's page links to its enrolment import."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from attendance.admin.enrolment_import import enrolment_import_view
from attendance.admin.oneroster import oneroster_urls
from attendance.models import Course, Enrollment
from config.admin import DateHierarchyAdmin
from students.models import StudentPhoto


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 1
    fields = ["student", "start_date", "end_date"]
    autocomplete_fields = ["student"]


def _count(queryset: QuerySet[Enrollment]) -> Coalesce:
    return Coalesce(Subquery(queryset.values("course").annotate(n=Count("pk")).values("n")), 0)


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "cards_only", "enrolled", "without_ready_photo"]
    list_filter = ["teachers", "cards_only"]
    search_fields = ["code", "name", "teachers__username", "teachers__last_name"]
    filter_horizontal = ["teachers"]
    inlines = [EnrollmentInline]
    change_form_template = "admin/attendance/course/change_form.html"
    change_list_template = "admin/attendance/course/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Course]:
        # Enrolled: an enrolment that has not ended (it may start later). Those students need a
        # recognisable photo to be recognised.
        enrolled = Enrollment.objects.not_ended(timezone.localdate()).filter(course=OuterRef("pk"))
        ready = StudentPhoto.objects.recognisable().filter(student=OuterRef("student_id"))
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
            *oneroster_urls(self),
            path(
                "<path:object_id>/import-enrolments/",
                self.admin_site.admin_view(self.import_enrolments_view),
                name="attendance_course_import_enrolments",
            ),
        ]
        return urls + super().get_urls()

    def import_enrolments_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload a CSV file, see what it would change, confirm to apply it."""
        course = self.get_object(request, unquote(object_id))
        if course is None:
            raise Http404("No such course.")
        if not self.has_change_permission(request, course):
            raise PermissionDenied
        return enrolment_import_view(self, request, course)


@admin.register(Enrollment)
class EnrollmentAdmin(DateHierarchyAdmin):
    list_display = ["student", "course", "start_date", "end_date"]
    list_filter = ["course", "start_date", ("end_date", admin.EmptyFieldListFilter)]
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "course__code"]
    list_select_related = ["student", "course"]
    autocomplete_fields = ["course", "student"]
    date_hierarchy = "start_date"
