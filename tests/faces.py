"""The real photos in ../shared/faces and their expected results (manifest.json)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import override_settings

from students.models import Student

SHARED = Path(__file__).resolve().parents[2] / "shared"
FACES = SHARED / "faces"
WEIGHTS = SHARED / "models" / "facenet-casia-webface.pt"


@cache
def manifest() -> dict[str, Any]:
    return json.loads((FACES / "manifest.json").read_text())


def face_bytes(relative: str) -> bytes:
    return (FACES / relative).read_bytes()


@contextmanager
def faces_enrolled(django_db_blocker: Any, media_root: Path) -> Iterator[dict[str, int]]:
    """The five people of faces/enroll/ enrolled with `enrol_folder` (folder names as student
    numbers) and committed, for a module's tests to share; {student number: id}. Deleted at the end."""
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media_root):
        call_command(
            "enrol_folder", str(FACES / "enroll"), "--consent-given", stdout=io.StringIO(), stderr=io.StringIO()
        )
        yield dict(Student.objects.values_list("student_number", "pk"))
        Student.objects.all().delete()
