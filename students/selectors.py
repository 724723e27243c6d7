"""Reads about students and photos, including the face gallery recognition matches against."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Max

from recognition.matching import Gallery
from students.models import StudentPhoto


def gallery_for(*, model_id: str, student_ids: Iterable[int] | None = None) -> Gallery:
    """Embeddings of the recognisable photos made by `model_id`, of these students if given."""
    photos = StudentPhoto.objects.recognisable(model_id=model_id)
    if student_ids is not None:
        photos = photos.filter(student_id__in=list(student_ids))
    rows = photos.values_list("student_id", "embedding")
    return Gallery.build((student_id, StudentPhoto.decode_embedding(blob)) for student_id, blob in rows)


def gallery_fingerprint(*, model_id: str, student_ids: Iterable[int]) -> tuple[object, ...]:
    """Changes whenever `gallery_for` would build another gallery for these students: the same
    photos are counted (a photo ready, deleted or re-embedded; a student deactivated, consent
    withdrawn) and the students themselves are part of it (one enrolled or removed)."""
    ids = sorted(student_ids)
    photos = StudentPhoto.objects.recognisable(model_id=model_id).filter(student_id__in=ids)
    summary = photos.aggregate(count=Count("pk"), latest=Max("updated_at"), students=Count("student", distinct=True))
    return (tuple(ids), summary["count"], summary["latest"], summary["students"])
