"""Admin for student photos, and the photo pieces of the student's page (attendance/admin/students.py).

The photo list has a "Rejected photos" view of the photos that need replacing, with their reasons.
A rejected photo's file is deleted after PHOTO_REJECTED_FILE_HOURS; the admin then says so instead
of showing it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from recognition.images import ImageRejected
from students.images import photo_inspect
from students.models import Student, StudentPhoto
from students.services import photo_approve, photo_requeue, upload_bytes


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotoFilesField(forms.FileField):
    """Several photo files; each is checked like an API upload and cleaned to its bytes."""

    widget = MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})

    def clean(self, value: Any, initial: Any = None) -> list[bytes]:

        files = value if isinstance(value, list | tuple) else [value] if value else []
        errors, cleaned = [], []
        for upload in files:
            data = upload_bytes(upload)
            try:
                photo_inspect(data)
            except ImageRejected as exc:
                errors.append(f"{upload.name}: {exc}")
            else:
                cleaned.append(data)
        if errors:
            raise forms.ValidationError(errors)
        return cleaned


def file_deleted() -> str:
    """What the admin shows instead of a photo whose file was deleted."""
    return format_html(
        '<span class="photo-deleted">File deleted after {} hours; upload a new photo.</span>',
        settings.PHOTO_REJECTED_FILE_HOURS,
    )


def thumbnail(photo: StudentPhoto, *, link: bool = True) -> str:
    """The photo's thumbnail, a link to the whole photo unless `link` is False: where the admin
    makes the thumbnail the link to the photo's page, a link inside would leave that link empty."""
    if not photo.pk:
        return ""
    if not photo.image.name:
        return file_deleted()
    url = reverse("photo-image", args=[photo.pk])
    image = format_html('<img src="{}?size=thumb" alt="Photo {}" class="photo-thumb">', url, photo.pk)
    return format_html('<a href="{}" target="_blank">{}</a>', url, image) if link else image


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


class ReadyPhotoFilter(admin.SimpleListFilter):
    """Students without a recognisable photo cannot be recognised."""

    title = "ready photo"
    parameter_name = "ready_photo"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a ready photo"), ("no", "No ready photo")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Student]) -> QuerySet[Student]:
        ready = Exists(StudentPhoto.objects.recognisable().filter(student=OuterRef("pk")))
        if self.value() == "yes":
            return queryset.filter(ready)
        if self.value() == "no":
            return queryset.exclude(ready)
        return queryset


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
    list_display = ["preview", "student_link", "status", "reason", "face_probability", "created_at"]
    # A student's photos side by side.
    ordering = ["student__last_name", "student__first_name", "student__student_number", "-created_at"]
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
    actions = ["approve", "requeue"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Photos are added on the student's page so they go through the same checks as the API.
        return False

    @admin.display(description="Photo")
    def preview(self, photo: StudentPhoto) -> str:
        # The column is the link to the photo's page (list_display_links).
        return thumbnail(photo, link=False)

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
        if not photo.image.name:
            return file_deleted()
        url = reverse("photo-image", args=[photo.pk])
        image = format_html('<img src="{}" alt="Photo {}">', url, photo.pk)
        if not photo.face_box or not photo.width or not photo.height:
            return format_html('<div class="photo-large">{}</div>', image)
        # The face enrolment found, boxed: in percent of the upright photo, as the browser shows it.
        x1, y1, x2, y2 = photo.face_box
        box = {
            "left": 100 * x1 / photo.width,
            "top": 100 * y1 / photo.height,
            "width": 100 * (x2 - x1) / photo.width,
            "height": 100 * (y2 - y1) / photo.height,
        }
        style = "; ".join(f"{name}: {value:.2f}%" for name, value in box.items())
        return format_html(
            '<div class="photo-large">{}<span class="face-box" style="{}" title="The face found"></span></div>',
            image,
            style,
        )

    @admin.action(description="Approve the selected photos needing review: they show their student")
    def approve(self, request: HttpRequest, queryset: QuerySet[StudentPhoto]) -> None:
        approved = 0
        for photo in queryset:
            if photo_approve(photo=photo):
                approved += 1
                self.log_change(request, photo, "Approved after review.")
        skipped = len(queryset) - approved
        messages.info(
            request, f"{approved} photo(s) approved" + (f"; {skipped} did not need review." if skipped else ".")
        )

    @admin.action(description="Detect and embed the selected photos again")
    def requeue(self, request: HttpRequest, queryset: QuerySet[StudentPhoto]) -> None:
        for photo in queryset:
            photo_requeue(photo=photo)
        messages.info(request, f"{queryset.count()} photo(s) queued.")
