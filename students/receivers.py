"""Photo files follow their rows: however a photo row is deleted (directly, with its student,
in bulk from the admin), its image file is removed once the deletion commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from students.models import StudentPhoto


@receiver(post_delete, sender=StudentPhoto, dispatch_uid="student_photo_file_delete")
def delete_photo_file(sender: type[StudentPhoto], instance: StudentPhoto, **kwargs: Any) -> None:
    if not instance.image.name:
        return
    storage, name = instance.image.storage, instance.image.name
    # Robust: the row is gone either way, and a file that cannot be removed (permissions, a full
    # disk) is logged rather than failing the request that deleted it.
    transaction.on_commit(lambda: storage.delete(name), robust=True)
