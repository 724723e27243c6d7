"""The OpenAPI schema generates cleanly and its docs page works without the internet."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import yaml
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS

API_PATHS = {
    "/api/courses/",
    "/api/courses/{id}/",
    "/api/sessions/",
    "/api/sessions/{id}/",
    "/api/sessions/{id}/open/",
    "/api/sessions/{id}/close/",
    "/api/records/",
    "/api/records/{id}/",
    "/api/students/",
    "/api/students/{id}/",
    "/api/students/{id}/consent/",
    "/api/students/{student_id}/photos/",
    "/api/photos/",
    "/api/photos/{photo_id}/",
    "/api/reports/sessions/{id}/",
    "/api/reports/courses/{id}/",
    "/api/reports/students/{id}/",
    "/api/auth/login/",
    "/api/auth/logout/",
    "/api/auth/logoutall/",
}
URL = re.compile(r"""(?:https?:)?//[^\s"'<>()\\]+""")
ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]+)\"""")


def test_the_schema_validates_without_warnings(tmp_path: Path) -> None:
    # Warnings are counted process-wide: start from none, so only this generation counts.
    GENERATOR_STATS.reset()
    output = tmp_path / "schema.yaml"

    # Raises on any warning or error, and on a schema that is not valid OpenAPI.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output))

    schema = yaml.safe_load(output.read_text())
    assert set(schema["paths"]) == API_PATHS
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "knoxApiToken"}


def other_origins(text: str) -> list[str]:
    """Absolute URLs (and protocol-relative ones) in the text that point at another host."""
    return [url for url in URL.findall(text) if urlsplit(url).hostname not in (None, "testserver")]


def test_docs_render_for_a_logged_in_user_from_this_server_only(client: Client, teacher: User) -> None:
    client.force_login(teacher)

    page = client.get("/api/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="swagger-ui"' in html
    assert other_origins(html) == []
    assets = ASSET.findall(html)
    assert any("swagger-ui-bundle.js" in asset for asset in assets)
    # Every script, style and icon comes from this server, and it serves them.
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        response = client.get(urljoin("/api/docs/", asset))
        assert response.status_code == 200, asset
        response.getvalue()  # read a streamed static file to its end, which closes it
    initializer = client.get(next(asset for asset in assets if asset.startswith("/api/docs/")))
    script = initializer.content.decode()
    assert 'url: "/api/schema/"' in script
    assert other_origins(script) == []


def test_docs_do_not_ask_the_online_validator(client: Client, teacher: User) -> None:
    client.force_login(teacher)

    script = client.get("/api/docs/?script=").content.decode()

    assert '"validatorUrl": null' in script


def test_the_schema_is_served(client: Client, teacher: User) -> None:
    client.force_login(teacher)

    response = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})

    assert response.status_code == 200
    assert set(response.json()["paths"]) == API_PATHS
