"""The students app's API resources: enrolment photos (staff only)."""

from __future__ import annotations

from django.urls import path

from students import api

api_urlpatterns = [
    path("students/<int:student_id>/photos/", api.StudentPhotoUploadApi.as_view(), name="api-student-photos"),
    path("photos/", api.PhotoListApi.as_view(), name="api-photo-list"),
    path("photos/<int:photo_id>/", api.PhotoDetailApi.as_view(), name="api-photo-detail"),
]
