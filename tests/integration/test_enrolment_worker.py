"""Enrolment through real processes: the REST API on daphne queues the photo in Redis, a Celery
worker embeds it with the real FaceNet model, and the result lands in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import requests
from django.contrib.auth.models import User
from django.utils import timezone
from knox.models import AuthToken

from students.models import Student, StudentPhoto
from tests.faces import FACES
from tests.integration.processes import RunningProcess

pytestmark = pytest.mark.integration


def upload_and_wait(
    api: requests.Session, base_url: str, student: Student, relative: str
) -> tuple[dict[str, Any], float]:
    """Upload a photo from ../shared/faces; its final JSON and the seconds from upload to a result."""
    path = FACES / relative
    started = time.monotonic()
    response = api.post(
        f"{base_url}/api/students/{student.pk}/photos/",
        files={"image": (path.name, path.read_bytes(), "image/jpeg")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    photo = response.json()
    deadline = started + 300
    while photo["status"] == StudentPhoto.Status.PENDING and time.monotonic() < deadline:
        time.sleep(0.1)
        response = api.get(f"{base_url}/api/photos/{photo['id']}/", timeout=10)
        assert response.status_code == 200, response.text
        photo = response.json()
    return photo, time.monotonic() - started


def test_uploaded_photos_are_embedded_or_rejected_by_the_worker(
    transactional_db: None,
    asgi_server: Callable[..., str],
    celery_worker: RunningProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base_url = asgi_server()
    admin = User.objects.create_user("enrolment-admin", password="admin-pass-123", is_staff=True, is_superuser=True)
    _, token = AuthToken.objects.create(user=admin)
    student = Student.objects.create(
        student_number="S100", first_name="Barack", last_name="Obama", consent_given_at=timezone.now()
    )
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"

    timings = []
    for relative in ["enroll/obama/obama.jpg", "enroll/obama/obama2.jpg"]:
        photo, seconds = upload_and_wait(api, base_url, student, relative)
        assert photo["status"] == "ready", photo
        assert photo["reason"] == ""
        row = StudentPhoto.objects.get(pk=photo["id"])
        assert row.embedding is not None
        assert len(bytes(row.embedding)) == 512 * 4
        vector = np.frombuffer(bytes(row.embedding), dtype=np.float32)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)
        assert row.embedding_model
        timings.append((relative, seconds))

    photo, seconds = upload_and_wait(api, base_url, student, "probe/two_people.jpg")
    assert photo["status"] == "rejected", photo
    assert photo["reason"] == "2 faces found: upload a photo of one person."
    assert StudentPhoto.objects.get(pk=photo["id"]).embedding is None
    timings.append(("probe/two_people.jpg", seconds))

    with capsys.disabled():
        print("\nUpload to result through daphne, Redis and the Celery worker:")
        for (relative, seconds), note in zip(timings, [" (includes loading the model)", "", ""], strict=True):
            print(f"  {relative}: {seconds:.2f} s{note}")
