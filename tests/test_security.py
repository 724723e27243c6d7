"""Security headers and log-in throttling."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()


def test_pages_carry_a_strict_content_security_policy(client: Client, db: None) -> None:
    response = client.get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Permissions-Policy"].startswith("camera=(self)")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_login_is_throttled_after_repeated_failures(client: Client, teacher: User, settings: object) -> None:
    for _ in range(5):
        response = client.post("/login/", {"username": "teacher", "password": "wrong"})
        assert response.status_code == 200
        assert "didn't match" in response.content.decode()
    response = client.post("/login/", {"username": "teacher", "password": "teacher-pass-123"})
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()


def test_successful_login_is_not_counted(client: Client, teacher: User) -> None:
    for _ in range(6):
        response = client.post("/login/", {"username": "teacher", "password": "teacher-pass-123"})
        assert response.status_code == 302
        client.logout()


def test_admin_login_is_throttled_too(client: Client, admin_user: User) -> None:
    for _ in range(5):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "admin", "password": "password"})
    assert response.status_code == 429
