"""Security headers and login throttling that Django 5.2 does not provide by itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters


def _policy(style_src: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {style_src}",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = _policy("'self'")
# Django's admin and the Swagger UI set style attributes inline; scripts stay strict there too.
CONTENT_SECURITY_POLICY_RELAXED_STYLES = _policy("'self' 'unsafe-inline'")
RELAXED_STYLE_PREFIXES = ("/admin/", "/api/")


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy (no inline scripts or styles, no other origins) and
    a Permissions-Policy that lets only our own pages use the camera."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        relaxed = request.path.startswith(RELAXED_STYLE_PREFIXES)
        policy = CONTENT_SECURITY_POLICY_RELAXED_STYLES if relaxed else CONTENT_SECURITY_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _client_ip(request: HttpRequest) -> str:
    # Behind the reverse proxy of docker-compose, REMOTE_ADDR is the proxy's address; daphne's
    # --proxy-headers puts the client's address there instead.
    return request.META.get("REMOTE_ADDR", "unknown")


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ThrottledLoginView(auth_views.LoginView):
    """Django's login view, refusing further attempts for a while after repeated failures
    for the same username or from the same address."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        keys = self._keys(request)
        if any(cache.get(key, 0) >= settings.LOGIN_MAX_FAILURES for key in keys):
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            return HttpResponse(
                f"Too many failed log-in attempts. Try again in {minutes} minutes.",
                status=429,
                content_type="text/plain",
            )
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form came back with errors: a failed attempt
            for key in keys:
                cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
                cache.incr(key)
        return response

    def _keys(self, request: HttpRequest) -> list[str]:
        username = str(request.POST.get("username", ""))[:150].lower()
        return [f"login-failures:user:{username}", f"login-failures:ip:{_client_ip(request)}"]
