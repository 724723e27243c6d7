"""Finding 9, hardening: API tokens are stored hashed and expire or are revoked; the schema and its
docs are for logged-in users (unless API_SCHEMA_PUBLIC); a staff user writes through the API only
with Django's model permissions for the write."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from pytest_django.fixtures import Settings

from attendance.models import ClassSession, Course
from students.models import Student, StudentPhoto
from tests.faces import face_bytes

pytestmark = pytest.mark.django_db


def logged_in(user: User, *, csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf_checks)
    client.force_login(user)
    return client


def issue_token(user: User) -> dict[str, Any]:
    """A token issued the documented way: a logged-in browser session POSTs with its CSRF token."""
    client = logged_in(user, csrf_checks=True)
    client.get("/api/auth/login/", headers={"Accept": "text/html"})  # the browsable API's form sets the CSRF cookie
    response = client.post("/api/auth/login/", headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert response.status_code == 200, response.content
    return response.json()


def with_token(token: str) -> Client:
    return Client(headers={"Authorization": f"Token {token}"})


# --- Tokens ---------------------------------------------------------------------------------


def test_a_logged_in_user_gets_a_token_that_works_and_expires(teacher: User, course: Course) -> None:
    before = timezone.now()
    issued = issue_token(teacher)

    expiry = datetime.datetime.fromisoformat(issued["expiry"])
    assert before + datetime.timedelta(hours=24 * 7) <= expiry <= timezone.now() + datetime.timedelta(hours=24 * 7)
    response = with_token(issued["token"]).get("/api/courses/")
    assert response.status_code == 200
    assert [item["code"] for item in response.json()["results"]] == ["CS101"]


def test_the_database_holds_no_usable_token(teacher: User) -> None:
    token = issue_token(teacher)["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert not any(token in value for value in stored)
    # Neither the digest nor the stored key prefix is accepted as the token.
    row = AuthToken.objects.get()
    for candidate in (row.digest, row.token_key):
        response = with_token(candidate).get("/api/courses/")
        assert response.status_code == 401
    assert with_token(token).get("/api/courses/").status_code == 200


def test_an_expired_token_is_refused(teacher: User) -> None:
    token = issue_token(teacher)["token"]
    AuthToken.objects.update(expiry=timezone.now() - datetime.timedelta(seconds=1))

    response = with_token(token).get("/api/courses/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_the_token_ttl_is_a_setting(settings: Settings, teacher: User) -> None:
    settings.REST_KNOX = {"TOKEN_TTL": datetime.timedelta(hours=1)}

    expiry = datetime.datetime.fromisoformat(issue_token(teacher)["expiry"])

    assert expiry <= timezone.now() + datetime.timedelta(hours=1)


def test_a_revoked_token_is_refused(teacher: User) -> None:
    token = issue_token(teacher)["token"]
    kept = issue_token(teacher)["token"]

    assert with_token(token).post("/api/auth/logout/").status_code == 204

    assert with_token(token).get("/api/courses/").status_code == 401
    assert with_token(kept).get("/api/courses/").status_code == 200
    assert with_token(kept).post("/api/auth/logoutall/").status_code == 204
    assert with_token(kept).get("/api/courses/").status_code == 401
    assert not AuthToken.objects.exists()


def test_a_token_cannot_get_another_token(teacher: User) -> None:
    # Else a token could renew itself forever, and never expire.
    token = issue_token(teacher)["token"]

    response = with_token(token).post("/api/auth/login/")

    assert response.status_code == 403
    assert AuthToken.objects.count() == 1


def test_a_password_cannot_get_a_token(teacher: User) -> None:
    # Basic authentication would test passwords without the log-in throttling.
    response = Client().post("/api/auth/login/", headers={"Authorization": "Basic dGVhY2hlcjp0ZWFjaGVyLXBhc3MtMTIz"})

    assert response.status_code == 403
    assert not AuthToken.objects.exists()


def test_a_session_needs_its_csrf_token_to_get_a_token(teacher: User) -> None:
    response = logged_in(teacher, csrf_checks=True).post("/api/auth/login/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not AuthToken.objects.exists()


def test_a_deactivated_users_token_is_refused(teacher: User) -> None:
    token = issue_token(teacher)["token"]
    User.objects.filter(pk=teacher.pk).update(is_active=False)

    assert with_token(token).get("/api/courses/").status_code == 401


# --- Schema and docs ---------------------------------------------------------------------------


def test_the_schema_and_docs_are_for_logged_in_users(teacher: User) -> None:
    anonymous = Client()

    assert anonymous.get("/api/schema/").status_code == 401
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"] == "/login/?next=/api/docs/"
    assert anonymous.get("/api/docs/?script=").status_code == 302

    assert logged_in(teacher).get("/api/schema/").status_code == 200
    assert logged_in(teacher).get("/api/docs/").status_code == 200
    assert with_token(issue_token(teacher)["token"]).get("/api/schema/").status_code == 200


def test_the_schema_and_docs_can_be_public(settings: Settings) -> None:
    settings.API_SCHEMA_PUBLIC = True

    assert Client().get("/api/schema/").status_code == 200
    assert Client().get("/api/docs/").status_code == 200


# --- Staff writes need model permissions ------------------------------------------------------------


@pytest.fixture
def clerk(db: None) -> User:
    """A staff user with no model permission."""
    return User.objects.create_user("clerk", password="clerk-pass-123", is_staff=True)


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def post_json(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def test_staff_without_the_permission_cannot_create_a_course_with_it_they_can(clerk: User) -> None:
    body = {"code": "PH301", "name": "Physics"}

    refused = post_json(logged_in(clerk), "/api/courses/", body)

    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have permission to perform this action."}
    assert not Course.objects.exists()
    grant(clerk, "add_course")
    assert post_json(logged_in(clerk), "/api/courses/", body).status_code == 201
    assert Course.objects.filter(code="PH301").exists()


def test_staff_without_the_permission_cannot_delete_a_student_with_it_they_can(clerk: User, student: Student) -> None:
    assert logged_in(clerk).delete(f"/api/students/{student.pk}/").status_code == 403
    grant(clerk, "change_student")
    assert logged_in(clerk).delete(f"/api/students/{student.pk}/").status_code == 403
    assert Student.objects.filter(pk=student.pk).exists()

    grant(clerk, "delete_student")
    assert logged_in(clerk).delete(f"/api/students/{student.pk}/").status_code == 204
    assert not Student.objects.filter(pk=student.pk).exists()


def test_an_action_on_an_object_needs_the_change_permission(clerk: User, course: Course) -> None:
    now = timezone.now()
    session = ClassSession.objects.create(
        course=course, starts_at=now + datetime.timedelta(hours=1), ends_at=now + datetime.timedelta(hours=2)
    )
    grant(clerk, "add_classsession")
    assert logged_in(clerk).post(f"/api/sessions/{session.pk}/open/").status_code == 403

    grant(clerk, "change_classsession")
    assert logged_in(clerk).post(f"/api/sessions/{session.pk}/open/").status_code == 200


def test_staff_upload_photos_only_with_the_permission_to_add_them(clerk: User, student: Student) -> None:
    def upload() -> Any:
        image = SimpleUploadedFile("photo.jpg", face_bytes("enroll/obama/obama.jpg"))
        return logged_in(clerk).post(f"/api/students/{student.pk}/photos/", {"image": image})

    assert upload().status_code == 403
    assert not StudentPhoto.objects.exists()
    grant(clerk, "add_studentphoto")
    assert upload().status_code == 202


def test_staff_without_permissions_still_read_and_superusers_write(clerk: User, course: Course) -> None:
    response = logged_in(clerk).get("/api/courses/")
    assert [item["code"] for item in response.json()["results"]] == ["CS101"]
    assert logged_in(clerk).get("/api/photos/").status_code == 200

    admin = User.objects.create_user("root", is_staff=True, is_superuser=True)
    assert (
        logged_in(admin)
        .patch(f"/api/courses/{course.pk}/", json.dumps({"name": "Renamed"}), content_type="application/json")
        .json()["name"]
        == "Renamed"
    )


def test_a_teacher_keeps_their_course_rights_without_model_permissions(teacher: User, course: Course) -> None:
    body = {"course": course.pk, "starts_at": "2030-03-04T09:00:00Z", "ends_at": "2030-03-04T10:30:00Z"}

    assert post_json(logged_in(teacher), "/api/sessions/", body).status_code == 201
