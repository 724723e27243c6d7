"""Admin for students and their photos: upload one or many photos on a student's page.

The student list filters by course (enrolments not ended) and by whether a student has a ready
photo, which the course list links to; the photo list has a "Rejected photos" view of the photos
that need replacing, with their reasons.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from attendance.models import Course
from recognition.images import ImageRejected, inspect_image
from students.models import Student, StudentPhoto
from students.privacy import student_withdraw_consent
from students.services import photo_create, photo_requeue, student_record_consent, upload_bytes


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotoFilesField(forms.FileField):
    """Several photo files; each is checked like an API upload and cleaned to its bytes."""

    widget = MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})

    def clean(self, value: Any, initial: Any = None) -> list[bytes]:
        from django.conf import settings

        files = value if isinstance(value, list | tuple) else [value] if value else []
        errors, cleaned = [], []
        for upload in files:
            data = upload_bytes(upload)
            try:
                inspect_image(data, max_bytes=settings.PHOTO_MAX_BYTES, max_pixels=settings.PHOTO_MAX_PIXELS)
            except ImageRejected as exc:
                errors.append(f"{upload.name}: {exc}")
            else:
                cleaned.append(data)
        if errors:
            raise forms.ValidationError(errors)
        return cleaned


class StudentAdminForm(forms.ModelForm):
    new_photos = PhotoFilesField(
        required=False,
        label="Add photos",
        help_text="One or more photos of this student alone, face clearly visible (JPEG, PNG or WebP). "
        "Each is checked for exactly one clear face in the background.",
    )

    class Meta:
        model = Student
        fields = ["student_number", "first_name", "last_name", "email", "is_active", "consent_given_at"]


def thumbnail(photo: StudentPhoto) -> str:
    if not photo.pk:
        return ""
    url = reverse("students:photo-image", args=[photo.pk])
    return format_html(
        '<a href="{}" target="_blank"><img src="{}?size=thumb" alt="Photo {}" class="photo-thumb"></a>',
        url,
        url,
        photo.pk,
    )


class StudentPhotoInline(admin.TabularInline):
    model = StudentPhoto
    extra = 0
    can_delete = True
    fields = ("preview", "status", "reason", "face_probability", "created_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Photo")
    def preview(self, photo: StudentPhoto) -> str:
        return thumbnail(photo)


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
        # One filter() call: the course and the dates must hold for the same enrolment.
        today = timezone.localdate()
        return queryset.filter(
            Q(enrollments__course_id=int(value))
            & (Q(enrollments__end_date__isnull=True) | Q(enrollments__end_date__gte=today))
        )


class ReadyPhotoFilter(admin.SimpleListFilter):
    """Students without a ready photo cannot be recognised."""

    title = "ready photo"
    parameter_name = "ready_photo"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a ready photo"), ("no", "No ready photo")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Student]) -> QuerySet[Student]:
        ready = Exists(StudentPhoto.objects.filter(student=OuterRef("pk"), status=StudentPhoto.Status.READY))
        if self.value() == "yes":
            return queryset.filter(ready)
        if self.value() == "no":
            return queryset.exclude(ready)
        return queryset


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    form = StudentAdminForm
    inlines = [StudentPhotoInline]
    list_display = ["student_number", "last_name", "first_name", "email", "is_active", "has_consent", "ready_photos"]
    list_filter = ("is_active", ("consent_given_at", admin.EmptyFieldListFilter), ReadyPhotoFilter, EnrolledInFilter)
    search_fields = ["student_number", "first_name", "last_name", "email"]
    fieldsets = (
        (None, {"fields": ("student_number", "first_name", "last_name", "email", "is_active")}),
        ("Consent", {"fields": ("consent_given_at",)}),
        ("Photos", {"fields": ("new_photos",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Student]:
        return (
            super()
            .get_queryset(request)
            .annotate(ready_count=Count("photos", filter=Q(photos__status=StudentPhoto.Status.READY)))
        )

    @admin.display(boolean=True, description="Consent", ordering="consent_given_at")
    def has_consent(self, student: Student) -> bool:
        return student.consent_given_at is not None

    @admin.display(description="Ready photos", ordering="ready_count")
    def ready_photos(self, student: Student) -> int:
        return student.ready_count  # type: ignore[attr-defined]

    actions = ["record_consent", "withdraw_consent"]

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


class PhotoStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"
    REJECTED_OR_FAILED = "rejected_or_failed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*StudentPhoto.Status.choices, (self.REJECTED_OR_FAILED, "Rejected or failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StudentPhoto]) -> QuerySet[StudentPhoto]:
        value = self.value()
        if value == self.REJECTED_OR_FAILED:
            return queryset.filter(status__in=[StudentPhoto.Status.REJECTED, StudentPhoto.Status.FAILED])
        if value in StudentPhoto.Status.values:
            return queryset.filter(status=value)
        return queryset


@admin.register(StudentPhoto)
class StudentPhotoAdmin(admin.ModelAdmin):
    list_display = ["preview", "student_link", "status", "reason", "face_probability", "embedding_model", "created_at"]
    list_display_links = ["preview"]
    list_filter = [PhotoStatusFilter, "embedding_model", "created_at"]
    # Adds a "Rejected photos" button: the photos to replace, with the reason for each.
    change_list_template = "admin/attendance/studentphoto/change_list.html"
    search_fields = ["student__student_number", "student__first_name", "student__last_name", "reason"]
    list_select_related = ["student"]
    readonly_fields = [
        "preview_large",
        "student",
        "status",
        "reason",
        "face_box",
        "face_probability",
        "embedding_model",
        "width",
        "height",
        "sha256",
        "uploaded_by",
        "created_at",
        "processed_at",
    ]
    exclude = ["image"]
    actions = ["requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Photos are added on the student's page so they go through the same checks as the API.
        return False

    @admin.display(description="Photo")
    def preview(self, photo: StudentPhoto) -> str:
        return thumbnail(photo)

    @admin.display(description="Student", ordering="student")
    def student_link(self, photo: StudentPhoto) -> str:
        # The student's page is where a new photo is uploaded.
        url = reverse("admin:students_student_change", args=[photo.student_id])
        return format_html('<a href="{}">{}</a>', url, photo.student)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.GET.get("status") == PhotoStatusFilter.REJECTED_OR_FAILED:
            extra_context = {**(extra_context or {}), "title": "Rejected photos: upload a new photo of these students"}
        return super().changelist_view(request, extra_context)

    @admin.display(description="Photo")
    def preview_large(self, photo: StudentPhoto) -> str:
        url = reverse("students:photo-image", args=[photo.pk])
        return format_html('<img src="{}" alt="Photo {}" style="max-width: 480px; max-height: 480px">', url, photo.pk)

    @admin.action(description="Detect and embed the selected photos again")
    def requeue(self, request: HttpRequest, queryset: QuerySet[StudentPhoto]) -> None:
        for photo in queryset:
            photo_requeue(photo=photo)
        messages.info(request, f"{queryset.count()} photo(s) queued.")
