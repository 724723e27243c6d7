"""Security headers and login throttling that Django 5.2 does not provide by itself."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.forms import BaseForm
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


def client_address(request: HttpRequest) -> str:
    """The address a request came from: REMOTE_ADDR, unless that is one of TRUSTED_PROXIES; then the
    right-most address in X-Forwarded-For that is not. Each trusted proxy appends the address it saw,
    so anything further left is the client's own text."""
    remote = request.META.get("REMOTE_ADDR", "")
    if not _is_trusted_proxy(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else remote


def _is_trusted_proxy(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A server listening on IPv6 sees IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.TRUSTED_PROXIES)


class LoginThrottle:
    """Counts log-in attempts for a username from an address, each before its password is checked.

    Three counters, each refusing attempts over its limit until it expires, LOGIN_LOCKOUT_SECONDS
    after its first attempt: the username and address pair (LOGIN_MAX_FAILURES), so an attacker elsewhere cannot
    lock a user out; the username from anywhere (LOGIN_MAX_FAILURES_PER_USERNAME), against a guess
    spread over many addresses; and the address for any username (LOGIN_MAX_FAILURES_PER_ADDRESS).
    An attempt takes its place in every counter atomically (cache.incr) and gives it back when it is
    refused or succeeds, so parallel attempts can never check more passwords than the limit.
    """

    def __init__(self, *, username: str, address: str) -> None:
        self._counters = [
            (_counter_key("pair", f"{username}\n{address}"), settings.LOGIN_MAX_FAILURES),
            (_counter_key("address", address), settings.LOGIN_MAX_FAILURES_PER_ADDRESS),
            (_counter_key("username", username), settings.LOGIN_MAX_FAILURES_PER_USERNAME),
        ]
        self._taken: list[str] = []

    def take(self) -> bool:
        """Count this attempt; False, with nothing counted, when it would pass a limit."""
        # In this order, attempts refused for the pair never touch the username's counter.
        for key, limit in self._counters:
            self._taken.append(key)
            if _count(key) > limit:
                self.give_back()
                return False
        return True

    def give_back(self) -> None:
        for key in self._taken:
            # A counter that expired meanwhile has nothing to give back.
            with contextlib.suppress(ValueError):
                cache.decr(key)
        self._taken = []


def _counter_key(kind: str, value: str) -> str:
    # Hashed: usernames and forwarded addresses are the client's text, of any length.
    return f"login-attempts:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _count(key: str) -> int:
    if cache.add(key, 1, settings.LOGIN_LOCKOUT_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # it expired since add() found it: this attempt starts a new window
        return _count(key)


def _attempted_username(form: BaseForm) -> str:
    """The username as the form looks it up (stripped, NFKC), case-folded: "Alice" is guessed along."""
    return str(form.fields["username"].to_python(form["username"].data)).casefold()


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class ThrottledLoginView(auth_views.LoginView):
    """Django's login view, refusing attempts for a while after repeated failures (LoginThrottle)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.get_form()
        throttle = LoginThrottle(username=_attempted_username(form), address=client_address(request))
        if not throttle.take():
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            return HttpResponse(
                f"Too many failed log-in attempts. Try again in {minutes} minutes.",
                status=429,
                content_type="text/plain",
                headers={"Retry-After": str(settings.LOGIN_LOCKOUT_SECONDS)},
            )
        if form.is_valid():
            throttle.give_back()  # a successful log-in is no failure
            return self.form_valid(form)
        return self.form_invalid(form)
