from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from attendance import api
from attendance.security import ThrottledLoginView
from students import api as student_api
from students.urls import api_urlpatterns as student_api_urls

router = DefaultRouter()
router.register("courses", api.CourseViewSet, basename="course")
router.register("sessions", api.ClassSessionViewSet, basename="session")
router.register("records", api.AttendanceRecordViewSet, basename="record")
router.register("students", student_api.StudentViewSet, basename="student")
router.register("reports/sessions", api.SessionReportViewSet, basename="report-session")
router.register("reports/courses", api.CourseReportViewSet, basename="report-course")
router.register("reports/students", api.StudentReportViewSet, basename="report-student")


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", include("attendance.web_urls")),
    path("", include("attendance.report_urls")),
    path(
        "admin/login/",
        ThrottledLoginView.as_view(
            template_name="admin/login.html",
            authentication_form=AdminAuthenticationForm,
            extra_context={"site_header": admin.site.site_header, "site_title": admin.site.site_title},
        ),
    ),
    path("admin/", admin.site.urls),
    path("students/", include("students.urls")),
    path("api/", include((student_api_urls + router.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
