"""Root URLs: the apps' pages, the admin, the REST API under /api/ (namespace "api") and its schema."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import NotAuthenticated

import config.admin  # noqa: F401  (registers Django's LogEntry in the admin before its URLs are built)
from attendance import urls as attendance_urls
from config import tokens
from config.security import ThrottledLoginView
from students import urls as students_urls


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


class ApiDocsView(SpectacularSwaggerSplitView):
    """The API docs (config.web.SchemaAccess); a visitor not logged in is sent to the login page."""

    # DRF finalises any HttpResponseBase; its stubs say Response.
    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


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
    path("api/auth/login/", tokens.TokenLoginApi.as_view(), name="api-token-login"),
    path("api/auth/logout/", tokens.TokenLogoutApi.as_view(), name="api-token-logout"),
    path("api/auth/logoutall/", tokens.TokenLogoutAllApi.as_view(), name="api-token-logout-all"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
