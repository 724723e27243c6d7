"""Websockets only from pages of this site: the same origin rule as Django's CSRF check.

A browser sends the page's origin with every websocket handshake, and cookies whatever the page,
so a page of another site could otherwise open a teacher's live attendance socket. The Origin must
be exactly the site's own origin as served (scheme, host and port, the host one of ALLOWED_HOSTS,
the scheme as Django sees it, SECURE_PROXY_SSL_HEADER included), or one of CSRF_TRUSTED_ORIGINS
(wildcard subdomains as there). Channels' AllowedHostsOriginValidator compares host names only.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain


def own_origin(scope: dict[str, Any]) -> str | None:
    """This site's origin as the handshake reached it, or None if its Host is not allowed."""
    # The handshake as an HTTP request, so host and scheme come from Django's own rules.
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    http_scope = {**scope, "type": "http", "method": "GET", "scheme": scheme}
    request = ASGIRequest(http_scope, io.BytesIO())
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return None


def trusted_origin(origin: str) -> bool:
    """Whether `origin` is one of CSRF_TRUSTED_ORIGINS, as Django's CSRF check reads them."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, urlsplit(trusted).netloc.lstrip("*"))
        for trusted in settings.CSRF_TRUSTED_ORIGINS
        if "*" in trusted and urlsplit(trusted).scheme == parsed.scheme
    )


def origin_allowed(scope: dict[str, Any]) -> bool:
    origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
    if len(origins) != 1:
        return False
    origin = origins[0].decode("latin-1")
    return origin == own_origin(scope) or trusted_origin(origin)


class OriginRefused(AsyncWebsocketConsumer):
    """Accepts, then closes with `close_code`: a browser sees a handshake refusal only as 1006."""

    close_code = 4403

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=self.close_code)


class SameOriginValidator:
    """ASGI middleware: a websocket from another origin is closed with `close_code`, and never
    reaches `application`."""

    def __init__(self, application: Any, *, close_code: int) -> None:
        self.application = application
        self.refused = OriginRefused.as_asgi(close_code=close_code)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await self.refused(scope, receive, send)
