from __future__ import annotations

from django.test import Client


def test_login_page_renders(client: Client, db: None) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert b"Log in" in response.content
