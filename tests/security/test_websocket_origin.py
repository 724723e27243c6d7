"""Issue 9, finding 6: only pages of this very origin (scheme, host and port) may open the live socket."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from pytest_django.fixtures import Settings

from attendance.consumers import CLOSE_FORBIDDEN
from attendance.models import ClassSession
from tests.attendance.test_consumers import TIMEOUT, connected, refused_with

pytestmark = pytest.mark.django_db(transaction=True)


async def first_answer(ws: WebsocketCommunicator) -> str | int:
    """Connect; the type of the first message, or the code the page is closed with first."""
    accepted, _ = await ws.connect(timeout=TIMEOUT)
    assert accepted
    first = await ws.receive_output(timeout=TIMEOUT)
    if first["type"] == "websocket.close":
        return int(first["code"])
    return str(json.loads(first["text"])["type"])


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"http://testserver.evil.example",
        b"http://testserver:9999",
        b"https://testserver",
        b"ws://testserver",
        b"null",
        None,
    ],
    ids=["another site", "a look-alike host", "another port", "another scheme", "ws scheme", "null", "no origin"],
)
async def test_a_page_of_another_origin_is_closed_with_4403(
    open_session: ClassSession, teacher: User, origin: bytes | None
) -> None:
    async with connected(open_session.pk, teacher, headers=[(b"origin", origin)] if origin else []) as ws:
        code = await refused_with(ws)
        nothing_else = await ws.receive_nothing(timeout=0.2)

    assert code == CLOSE_FORBIDDEN
    assert nothing_else


@pytest.mark.parametrize(
    ("host", "headers", "allowed"),
    [
        (b"testserver:8000", [(b"origin", b"http://testserver:8000")], True),
        (b"testserver:8000", [(b"origin", b"http://testserver")], False),
        (b"testserver:8000", [(b"origin", b"http://testserver:9999")], False),
        (b"testserver:8000", [(b"origin", b"https://testserver:8000")], False),
        # Behind a TLS proxy: the scheme as Django sees it (SECURE_PROXY_SSL_HEADER).
        (b"testserver", [(b"origin", b"https://testserver"), (b"x-forwarded-proto", b"https")], True),
        (b"testserver", [(b"origin", b"http://testserver"), (b"x-forwarded-proto", b"https")], False),
        # A Host outside ALLOWED_HOSTS is never this site.
        (b"evil.example", [(b"origin", b"http://evil.example")], False),
        (b"testserver", [(b"origin", b"http://testserver"), (b"origin", b"http://evil.example")], False),
    ],
    ids=[
        "the exact origin",
        "the default port for port 8000",
        "another port",
        "https for http",
        "https through the proxy",
        "http through an https proxy",
        "a host not allowed",
        "two origins",
    ],
)
async def test_only_the_sites_own_scheme_host_and_port_are_accepted(
    open_session: ClassSession, teacher: User, host: bytes, headers: list[tuple[bytes, bytes]], allowed: bool
) -> None:
    async with connected(open_session.pk, teacher, headers=headers, host=host) as ws:
        answer = await first_answer(ws)

    assert answer == ("roster" if allowed else CLOSE_FORBIDDEN)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (b"https://attendance.example.org", True),
        (b"https://room1.school.example", True),
        (b"https://attendance.example.org:8443", False),
        (b"http://room1.school.example", False),
        (b"https://school.example.evil", False),
    ],
)
async def test_csrf_trusted_origins_are_accepted_as_django_reads_them(
    open_session: ClassSession, teacher: User, settings: Settings, origin: bytes, allowed: bool
) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://attendance.example.org", "https://*.school.example"]
    async with connected(open_session.pk, teacher, headers=[(b"origin", origin)]) as ws:
        answer = await first_answer(ws)

    assert answer == ("roster" if allowed else CLOSE_FORBIDDEN)
