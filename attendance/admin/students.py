"""Admin for students: upload one or many photos on a student's page, record or withdraw consent,
print or revoke check-in cards, create and change many from a CSV file (the list's "Import
students from CSV").

The student list filters by course (enrolments not ended) and by whether a student has a
recognisable photo, which the course list links to.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from attendance.admin.student_import import student_import_view
from attendance.alerts import guardian_emails_parse
from attendance.card_views import cards_response
from attendance.models import Course, Enrollment
from students.admin import PhotoFilesField, ReadyPhotoFilter, StudentPhotoInline
from students.card_pdf import DEFAULT_TITLE
from students.cards import student_revoke_cards
from students.consent import student_record_consent, student_withdraw_consent
from students.models import Student, StudentPhoto
from students.services import photo_create


def _count(photos: QuerySet[StudentPhoto]) -> Coalesce:
    return Coalesce(Subquery(photos.values("student").annotate(n=Count("pk")).values("n")), 0)


class StudentAdminForm(forms.ModelForm):
    new_photos = PhotoFilesField(
        required=False,
        label="Add photos",
        help_text="One or more photos of this student alone, face clearly visible (JPEG, PNG or WebP). "
        "Each is checked for exactly one clear face in the background.",
    )

    class Meta:
        model = Student
        fields = [
            "student_number",
            "first_name",
            "last_name",
            "email",
            "is_active",
            "consent_given_at",
            "guardian_emails",
            "alerts_to_student",
            "alerts_to_guardians",
        ]

    def clean_guardian_emails(self) -> str:
        """One valid address a line; each bad line is named. Stored without blank lines or spaces."""
        guardians = guardian_emails_parse(self.cleaned_data["guardian_emails"])
        if guardians.errors:
            raise forms.ValidationError(guardians.errors)
        return "\n".join(guardians.valid)


class EnrolledInFilter(admin.SimpleListFilter):
    """Students with an enrolment in the course that has not ended (it may start later)."""

    title = "enrolled in"
    parameter_name = "enrolled_in"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), code) for pk, code in Course.objects.values_list("pk", "code")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Student]) -> QuerySet[Student]:
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        enrolments = Enrollment.objects.not_ended(timezone.localdate()).filter(course_id=int(value))
        return queryset.filter(pk__in=enrolments.values("student_id"))


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    form = StudentAdminForm
    change_list_template = "admin/attendance/student/change_list.html"
    inlines = [StudentPhotoInline]
    list_display = ["student_number", "last_name", "first_name", "email", "is_active", "has_consent", "ready_photos"]
    list_filter = ("is_active", ("consent_given_at", admin.EmptyFieldListFilter), ReadyPhotoFilter, EnrolledInFilter)
    search_fields = ["student_number", "first_name", "last_name", "email"]
    fieldsets = (
        (None, {"fields": ("student_number", "first_name", "last_name", "email", "is_active")}),
        ("Consent", {"fields": ("consent_given_at",)}),
        ("Check-in card", {"fields": ("card_version", "check_in_card")}),
        ("Attendance alerts", {"fields": ("alerts_to_student", "guardian_emails", "alerts_to_guardians")}),
        ("Photos", {"fields": ("new_photos",)}),
    )

    readonly_fields = ["card_version", "check_in_card"]

    def get_urls(self) -> list[URLPattern]:
        urls = [path("import/", self.admin_site.admin_view(self.import_students_view), name="students_student_import")]
        return urls + super().get_urls()

    def import_students_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV file of students, see what it would change, confirm to apply it."""
        if not (self.has_add_permission(request) and self.has_change_permission(request)):
            raise PermissionDenied
        return student_import_view(self, request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Student]:
        return (
            super()
            .get_queryset(request)
            .annotate(ready_count=_count(StudentPhoto.objects.recognisable().filter(student=OuterRef("pk"))))
        )

    @admin.display(boolean=True, description="Consent", ordering="consent_given_at")
    def has_consent(self, student: Student) -> bool:
        return student.consent_given_at is not None

    @admin.display(description="Ready photos", ordering="ready_count")
    def ready_photos(self, student: Student) -> int:
        return student.ready_count  # type: ignore[attr-defined]

    @admin.display(description="Card")
    def check_in_card(self, student: Student) -> str:
        if student.pk is None:
            return "Printed once the student is saved."
        return format_html('<a href="{}">Print check-in card</a>', reverse("student-card", args=[student.pk]))

    actions = ["record_consent", "withdraw_consent", "print_cards", "revoke_cards"]

    def save_model(self, request: HttpRequest, obj: Student, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "consent_given_at" not in form.changed_data:
            return
        # Consent edited by hand goes through the same services as the actions.
        if obj.consent_given_at is None:
            student_withdraw_consent(student=obj)
        else:
            student_record_consent(student=obj)

    @admin.action(description="Record consent to face recognition (and check their photos again)")
    def record_consent(self, request: HttpRequest, queryset: QuerySet[Student]) -> None:
        for student in queryset:
            student_record_consent(student=student)
        messages.info(request, f"Consent recorded for {queryset.count()} student(s).")

    @admin.action(description="Withdraw consent: delete their photos and embeddings")
    def withdraw_consent(self, request: HttpRequest, queryset: QuerySet[Student]) -> None:
        deleted = sum(student_withdraw_consent(student=student) for student in queryset)
        messages.info(request, f"Consent withdrawn for {queryset.count()} student(s); {deleted} photo(s) deleted.")

    @admin.action(description="Print check-in cards")
    def print_cards(self, request: HttpRequest, queryset: QuerySet[Student]) -> HttpResponse | None:
        # An inactive student's card would be refused.
        students = list(queryset.filter(is_active=True))
        if not students:
            messages.error(request, "None of the selected students is active: no cards to print.")
            return None
        return cards_response(students, title=DEFAULT_TITLE, filename="check-in-cards")

    @admin.action(description="Revoke check-in cards: every card printed so far stops working", permissions=["change"])
    def revoke_cards(self, request: HttpRequest, queryset: QuerySet[Student]) -> None:
        for student in queryset:
            student_revoke_cards(student=student)
            self.log_change(request, student, "Revoked the check-in cards.")
        messages.info(request, f"Check-in cards revoked for {queryset.count()} student(s); print new ones.")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        created = 0
        for data in form.cleaned_data.get("new_photos") or []:
            _, was_created = photo_create(student=form.instance, data=data, uploaded_by=cast(User, request.user))
            created += was_created
        if created:
            messages.info(request, f"{created} photo(s) uploaded; each is checked for a face in the background.")

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().render_change_form(request, context, *args, **kwargs)
        # A form sent back with errors is a bad request, so that scripts and tests can tell.
        if request.method == "POST" and context["adminform"].form.errors and isinstance(response, TemplateResponse):
            response.status_code = 400
        return response
