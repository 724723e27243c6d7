from __future__ import annotations

from django.urls import path

from students import api, views

app_name = "students"

urlpatterns = [
    path("photos/<int:photo_id>/image/", views.photo_image, name="photo-image"),
]

api_urlpatterns = [
    path("students/<int:student_id>/photos/", api.StudentPhotoUploadApi.as_view(), name="api-student-photos"),
    path("photos/", api.PhotoListApi.as_view(), name="api-photo-list"),
    path("photos/<int:photo_id>/", api.PhotoDetailApi.as_view(), name="api-photo-detail"),
]
