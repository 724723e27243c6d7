"""Small builders the students tests share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Permission, User

from students.models import Student, StudentPhoto


def staff_with_model_permissions(username: str, *app_labels: str) -> User:
    """A staff user holding Django's add, change and delete permissions on the models of these apps
    (staff write through the API only with them)."""
    user = User.objects.create_user(username, password=f"{username}-pass-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=app_labels))
    return user


def files_under(root: Path) -> list[Path]:
    """Every file stored under a folder (MEDIA_ROOT): what is left on disk."""
    return sorted(path for path in root.rglob("*") if path.is_file())


def student_form(
    student: Student | None = None, *, photos: Sequence[StudentPhoto] = (), **fields: Any
) -> dict[str, Any]:
    """The POST data of the admin's student page as a browser sends it unchanged, plus `fields`."""
    data: dict[str, Any] = {
        "student_number": student.student_number if student else "S100",
        "first_name": student.first_name if student else "Grace",
        "last_name": student.last_name if student else "Hopper",
        "email": "",
        "is_active": "on",
        "consent_given_at_0": "2024-09-01",
        "consent_given_at_1": "08:00:00",
        "photos-TOTAL_FORMS": str(len(photos)),
        "photos-INITIAL_FORMS": str(len(photos)),
        "photos-MIN_NUM_FORMS": "0",
        "photos-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, photo in enumerate(photos):
        data[f"photos-{index}-id"] = str(photo.pk)
        data[f"photos-{index}-student"] = str(photo.student_id)
    return data | fields
