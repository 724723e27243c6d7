"""Root URLs: the apps' pages, the admin, the REST API under /api/ (namespace "api") and its schema."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import config.admin  # noqa: F401  (registers Django's LogEntry in the admin before its URLs are built)
from attendance import urls as attendance_urls
from config.security import ThrottledLoginView
from students import urls as students_urls


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("", include(attendance_urls.urlpatterns)),
    path(
        "admin/login/",
        ThrottledLoginView.as_view(
            template_name="admin/login.html",
            authentication_form=AdminAuthenticationForm,
            extra_context={"site_header": admin.site.site_header, "site_title": admin.site.site_title},
        ),
    ),
    path("admin/", admin.site.urls),
    path("api/", include((students_urls.api_urlpatterns + attendance_urls.api_urlpatterns, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
