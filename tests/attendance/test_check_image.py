"""The "check an image" page: staff upload a real photo and see who the real model takes each face
for, against the five people of ../shared/faces/enroll/; nothing is stored.

Enrolment runs once for this module (a few seconds of inference) and is committed, so every test
sees the same students; each test still runs in its own transaction.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from attendance import check_image_views, image_check
from attendance.models import Course, Enrollment
from recognition.engine import FaceModelUnavailable
from students.models import Student
from tests.faces import FACES, face_bytes, faces_enrolled

URL = "/check-image/"
NAMES = {"obama": ("Barack", "Obama"), "biden": ("Joe", "Biden")}


@pytest.fixture(scope="module")
def enrolled(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """The five people enrolled (folder names as student numbers, two with names); {student number: id}."""
    with faces_enrolled(django_db_blocker, tmp_path_factory.mktemp("media")) as ids:
        for number, (first, last) in NAMES.items():
            Student.objects.filter(student_number=number).update(first_name=first, last_name=last)
        yield ids


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff", password="staff-pass-123", is_staff=True)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


def upload(client: Client, data: bytes, *, name: str = "photo.jpg", **fields: Any) -> Any:
    return client.post(URL, {"image": SimpleUploadedFile(name, data), **fields})


def decisions(response: Any) -> list[str]:
    """The decision badge of each face in the table, in order."""
    body = response.content.decode()
    return re.findall(r'<td data-label="Decision">\s*<span class="badge[^"]*">([^<:]+)', body)


def distances(response: Any, column: str = "Distance") -> list[float]:
    return [
        float(value)
        for value in re.findall(rf'<td data-label="{column}">(\d\.\d{{3}})</td>', response.content.decode())
    ]


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_staff_see_an_enrolled_students_name_distance_and_decision(
    staff_client: Client, enrolled: dict[str, int]
) -> None:
    response = upload(staff_client, face_bytes("probe/obama1.jpg"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 face found" in body
    assert decisions(response) == ["Recognised"]
    report = reverse("report-student", args=[enrolled["obama"]])
    assert f'<a href="{report}">Barack Obama</a> <span class="muted">obama</span>' in body
    [distance] = distances(response)
    [second] = distances(response, "Second-nearest")
    assert 0 < distance < 1.0 < second
    # The photo with its face boxed, inline.
    assert 'src="data:image/jpeg;base64,' in body
    assert body.count('<rect class="check-box recognised"') == 1
    assert "no-store" in response["Cache-Control"]


def test_a_strangers_face_is_not_recognised(staff_client: Client, enrolled: dict[str, int]) -> None:
    response = upload(staff_client, face_bytes("distractors/angelina_jolie.jpg"))

    assert response.status_code == 200
    assert decisions(response) == ["Not recognised"]
    assert "Recognised</span>" not in response.content.decode()


def test_both_people_of_a_photo_are_named(staff_client: Client, enrolled: dict[str, int]) -> None:
    response = upload(staff_client, face_bytes("probe/two_people.jpg"))

    body = response.content.decode()
    assert decisions(response) == ["Recognised", "Recognised"]
    assert "Barack Obama" in body and "Joe Biden" in body
    assert "Matched against 5 students with a recognisable photo." in body


def test_a_course_restricts_matching_to_its_students(staff_client: Client, enrolled: dict[str, int]) -> None:
    course = Course.objects.create(code="POL101", name="Politics")
    Enrollment.objects.create(course=course, student_id=enrolled["obama"], start_date="2020-01-01")

    response = upload(staff_client, face_bytes("probe/two_people.jpg"), course=course.pk)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Matched against 1 student with a recognisable photo in POL101." in body
    # Biden's face is still seen; with only Obama to compare to, it is nobody (or at most "maybe").
    assert sorted(decisions(response)) in (["Not recognised", "Recognised"], ["Recognised", "Uncertain"])
    assert "Joe Biden" not in body


def test_a_face_just_over_the_threshold_is_uncertain_as_on_the_live_page(
    staff_client: Client, enrolled: dict[str, int], settings: Any
) -> None:
    [distance] = distances(upload(staff_client, face_bytes("probe/obama1.jpg")))
    settings.FACE_MATCH_THRESHOLD = distance - 0.05
    settings.FACE_UNCERTAIN_BAND = 0.1

    response = upload(staff_client, face_bytes("probe/obama1.jpg"))

    assert decisions(response) == ["Uncertain"]
    assert "Uncertain: maybe Barack Obama" in response.content.decode()


def test_faces_the_live_page_ignores_say_so(staff_client: Client, enrolled: dict[str, int], settings: Any) -> None:
    settings.FACE_MIN_PROBABILITY = 1.01

    response = upload(staff_client, face_bytes("probe/obama1.jpg"))

    assert decisions(response) == ["Not clear enough"]
    assert "the live page ignores it" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a photo at all", "The file is not a JPEG, PNG or WebP image."),
        (b"", "The submitted file is empty."),
        (face_bytes("probe/obama1.jpg")[:2000], "The image is damaged or truncated"),
    ],
)
def test_a_bad_file_is_a_400_with_the_form_and_its_error(
    staff_client: Client, db: None, data: bytes, message: str
) -> None:
    response = upload(staff_client, data)

    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert '<input type="file" name="image"' in body
    assert "face found" not in body


def test_no_file_is_a_400(staff_client: Client, db: None) -> None:
    response = staff_client.post(URL, {})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_a_file_over_the_photo_limit_is_a_400(staff_client: Client, db: None, settings: Any) -> None:
    settings.PHOTO_MAX_BYTES = 20 * 1024

    response = upload(staff_client, face_bytes("probe/two_people.jpg"))

    assert response.status_code == 400
    assert "The file is larger than the limit of 20 KB." in response.content.decode()


def test_an_unknown_course_is_a_400(staff_client: Client, db: None) -> None:
    response = upload(staff_client, face_bytes("probe/obama1.jpg"), course="999999")

    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()


def test_nothing_is_stored_not_even_a_temporary_file(
    staff_client: Client,
    enrolled: dict[str, int],
    settings: Any,
    media_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A PNG larger than FILE_UPLOAD_MAX_MEMORY_SIZE: Django's default handlers would spill it to a file.
    photo = Image.open(FACES / "probe/obama1.jpg").convert("RGB")
    buffer = io.BytesIO()
    photo.resize((photo.width * 3, photo.height * 3)).save(buffer, format="PNG")
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE < len(buffer.getvalue()) < settings.PHOTO_MAX_BYTES
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    # A temporary upload file is deleted when the request ends: look while the view is at work.
    during: list[list[Path]] = []

    def checking(**kwargs: Any) -> image_check.ImageCheck:
        during.append(list((tmp_path / "uploads").iterdir()))
        return image_check.image_check(**kwargs)

    monkeypatch.setattr(check_image_views, "image_check", checking)
    before = row_counts()

    response = upload(staff_client, buffer.getvalue(), name="big.png")

    assert response.status_code == 200
    assert decisions(response) == ["Recognised"]
    assert during == [[]]
    assert list((tmp_path / "uploads").iterdir()) == []
    assert list(media_root.iterdir()) == []
    assert row_counts() == before


def test_the_face_model_unavailable_is_a_clear_message(
    staff_client: Client, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable() -> None:
        raise FaceModelUnavailable("FACE_EMBEDDER_WEIGHTS is not set.")

    monkeypatch.setattr(image_check, "get_engine", unavailable)

    response = upload(staff_client, face_bytes("probe/obama1.jpg"))

    assert response.status_code == 503
    assert "Face recognition is not available on the server; ask an administrator." in response.content.decode()


def test_the_empty_form_for_staff_and_the_nav_link(staff_client: Client, db: None) -> None:
    response = staff_client.get(URL)

    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_image">' in body and '<label for="id_course">' in body
    assert f'<a href="{URL}">Check an image</a>' in body
    assert "no-store" in response["Cache-Control"]


def test_teachers_get_403_and_no_nav_link(client: Client, teacher: User) -> None:
    client.force_login(teacher)

    assert client.get(URL).status_code == 403
    assert upload(client, face_bytes("probe/obama1.jpg")).status_code == 403
    assert "Check an image" not in client.get("/").content.decode()


def test_anonymous_users_are_sent_to_log_in(client: Client, db: None) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={URL}"
