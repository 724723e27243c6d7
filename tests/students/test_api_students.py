"""The students API (staff manage students, a teacher reads their courses' students) and the photo list.

Who may call what is in tests/test_permissions.py; here is what the answers hold and do.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student, StudentPhoto
from students.services import photo_create
from tests.students.builders import files_under, staff_with_model_permissions

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: None) -> User:
    return staff_with_model_permissions("staff", "students")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def png_bytes(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def send_json(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def numbers(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["student_number"] for item in response.json()["results"]]


@pytest.fixture
def school(teacher: User, other_teacher: User, course: Course, student: Student) -> dict[str, Any]:
    """CS101 (teacher): Ada S001 and Charles S003 (inactive). MA201 (other teacher): Ada and Emmy S002."""
    charles = Student.objects.create(student_number="S003", first_name="Charles", last_name="Babbage", is_active=False)
    Enrollment.objects.create(course=course, student=charles, start_date=datetime.date(2020, 1, 1))
    emmy = Student.objects.create(student_number="S002", first_name="Emmy", last_name="Noether")
    ma201 = Course.objects.create(code="MA201", name="Mathematics")
    ma201.teachers.add(other_teacher)
    for enrolled in (student, emmy):
        Enrollment.objects.create(course=ma201, student=enrolled, start_date=datetime.date(2020, 1, 1))
    return {"cs101": course, "ma201": ma201, "ada": student, "charles": charles, "emmy": emmy}


# --- Staff manage students ------------------------------------------------------------------


def test_staff_create_a_student(staff: User) -> None:
    response = send_json(
        logged_in(staff),
        "post",
        "/api/students/",
        {"student_number": "S100", "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.org"},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["full_name"] == "Grace Hopper"
    assert body["is_active"] is True
    assert body["consent_given_at"] is None
    student = Student.objects.get(pk=body["id"])
    assert (student.student_number, student.email) == ("S100", "grace@example.org")


def test_a_taken_student_number_is_400(staff: User, student: Student) -> None:
    response = send_json(logged_in(staff), "post", "/api/students/", {"student_number": "S001"})

    assert response.status_code == 400
    assert response.json() == {"student_number": ["student with this student number already exists."]}
    assert Student.objects.count() == 1


def test_staff_change_a_student(staff: User, student: Student) -> None:
    client = logged_in(staff)

    patched = send_json(client, "patch", f"/api/students/{student.pk}/", {"is_active": False})
    put = send_json(
        client,
        "put",
        f"/api/students/{student.pk}/",
        {"student_number": "S001", "first_name": "Augusta", "last_name": "King", "consent_given_at": None},
    )

    assert patched.status_code == put.status_code == 200
    student.refresh_from_db()
    # Consent is read-only here: it changes through /consent/ (tests/students/test_privacy.py).
    assert (student.first_name, student.last_name, student.is_active) == ("Augusta", "King", False)
    assert student.consent_given_at is not None
    assert put.json()["full_name"] == "Augusta King"


def test_deleting_a_student_removes_their_photos_records_and_files(
    staff: User,
    open_session: ClassSession,
    student: Student,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    photo_create(student=student, data=png_bytes("red"))
    photo_create(student=student, data=png_bytes("blue"))
    AttendanceRecord.objects.create(session=open_session, student=student, status="present", source="manual")
    assert len(files_under(media_root)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in(staff).delete(f"/api/students/{student.pk}/")

    assert response.status_code == 204
    assert not Student.objects.filter(pk=student.pk).exists()
    assert not StudentPhoto.objects.exists()
    assert not AttendanceRecord.objects.exists()
    assert files_under(media_root) == []


# --- Teachers read the students of their courses -------------------------------------------


def test_a_teacher_lists_only_the_students_of_their_courses(teacher: User, school: dict[str, Any]) -> None:
    assert numbers(logged_in(teacher).get("/api/students/")) == ["S003", "S001"]


def test_another_students_detail_is_404_for_a_teacher(teacher: User, school: dict[str, Any]) -> None:
    client = logged_in(teacher)

    assert client.get(f"/api/students/{school['ada'].pk}/").json()["full_name"] == "Ada Lovelace"
    assert client.get(f"/api/students/{school['emmy'].pk}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/students/", {"student_number": "S100"}),
        ("put", "/api/students/{ada}/", {"student_number": "S001", "first_name": "Augusta"}),
        ("patch", "/api/students/{ada}/", {"first_name": "Augusta"}),
        ("delete", "/api/students/{ada}/", {}),
    ],
)
def test_teachers_cannot_change_students_even_their_own(
    teacher: User, school: dict[str, Any], method: str, path: str, body: dict[str, Any]
) -> None:
    before = list(Student.objects.order_by("pk").values())

    response = send_json(logged_in(teacher), method, path.format(ada=school["ada"].pk), body)

    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert list(Student.objects.order_by("pk").values()) == before


# --- Filters --------------------------------------------------------------------------------


def test_students_filter_by_course(staff: User, teacher: User, school: dict[str, Any]) -> None:
    cs101, ma201 = school["cs101"].pk, school["ma201"].pk

    assert numbers(logged_in(staff).get(f"/api/students/?course={cs101}")) == ["S003", "S001"]
    assert numbers(logged_in(staff).get(f"/api/students/?course={ma201}")) == ["S001", "S002"]
    # Ada is in MA201 as well, but the teacher of CS101 must not learn who takes MA201.
    assert numbers(logged_in(teacher).get(f"/api/students/?course={ma201}")) == []


def test_students_filter_by_active(staff: User, school: dict[str, Any]) -> None:
    assert numbers(logged_in(staff).get("/api/students/?active=false")) == ["S003"]
    assert numbers(logged_in(staff).get("/api/students/?active=true")) == ["S001", "S002"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [("S002", ["S002"]), ("noeth", ["S002"]), ("Ada", ["S001"]), ("S00", ["S003", "S001", "S002"]), ("zz", [])],
)
def test_students_search_by_number_and_name(
    staff: User, school: dict[str, Any], search: str, expected: list[str]
) -> None:
    assert numbers(logged_in(staff).get(f"/api/students/?search={search}")) == expected


def test_students_order_by_number(staff: User, school: dict[str, Any]) -> None:
    assert numbers(logged_in(staff).get("/api/students/?ordering=-student_number")) == ["S003", "S002", "S001"]


# --- The photo list (staff only) ------------------------------------------------------------


@pytest.fixture
def photos(school: dict[str, Any]) -> dict[str, StudentPhoto]:
    ada_red, _ = photo_create(student=school["ada"], data=png_bytes("red"))
    ada_blue, _ = photo_create(student=school["ada"], data=png_bytes("blue"))
    emmy, _ = photo_create(student=school["emmy"], data=png_bytes("green"))
    StudentPhoto.objects.filter(pk=ada_blue.pk).update(status=StudentPhoto.Status.READY)
    return {"ada_red": ada_red, "ada_blue": ada_blue, "emmy": emmy}


def photo_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def test_staff_list_photos_newest_first(staff: User, photos: dict[str, StudentPhoto]) -> None:
    response = logged_in(staff).get("/api/photos/")

    assert photo_ids(response) == [photos["emmy"].pk, photos["ada_blue"].pk, photos["ada_red"].pk]
    first = response.json()["results"][0]
    assert first["student"] == photos["emmy"].student_id
    assert first["status"] == "pending"
    assert "embedding" not in first


def test_photos_filter_by_student_and_status(
    staff: User, school: dict[str, Any], photos: dict[str, StudentPhoto]
) -> None:
    client = logged_in(staff)
    ada = school["ada"].pk

    assert photo_ids(client.get(f"/api/photos/?student={ada}")) == [photos["ada_blue"].pk, photos["ada_red"].pk]
    assert photo_ids(client.get("/api/photos/?status=ready")) == [photos["ada_blue"].pk]
    assert photo_ids(client.get(f"/api/photos/?student={ada}&status=pending")) == [photos["ada_red"].pk]
    assert client.get("/api/photos/?status=blurry").status_code == 400


def test_teachers_cannot_list_photos(teacher: User, photos: dict[str, StudentPhoto]) -> None:
    response = logged_in(teacher).get("/api/photos/")

    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
