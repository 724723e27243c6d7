"""Photo files follow their rows: however a photo row is deleted (directly, with its student,
in bulk from the admin), its image file is removed once the deletion commits."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from students.models import StudentPhoto
from students.services import photo_file_delete_on_commit


@receiver(post_delete, sender=StudentPhoto, dispatch_uid="student_photo_file_delete")
def delete_photo_file(sender: type[StudentPhoto], instance: StudentPhoto, **kwargs: Any) -> None:
    photo_file_delete_on_commit(instance.image)
