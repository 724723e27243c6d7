"""Reads about students and photos, including the face gallery recognition matches against."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, QuerySet

from recognition.matching import Gallery
from students.models import StudentPhoto


def recognisable_photos() -> QuerySet[StudentPhoto]:
    """Ready photos of active students; with REQUIRE_CONSENT only of students whose consent is
    recorded: nobody else is ever recognised, even if embeddings of theirs are left from before
    (consent cleared by hand, the setting off then)."""
    photos = StudentPhoto.objects.filter(status=StudentPhoto.Status.READY, student__is_active=True)
    if settings.REQUIRE_CONSENT:
        photos = photos.filter(student__consent_given_at__isnull=False)
    return photos


def gallery_for(*, model_id: str, student_ids: Iterable[int] | None = None) -> Gallery:
    """Embeddings of recognisable photos made by `model_id` (other models' vectors don't compare)."""
    photos = recognisable_photos().filter(embedding_model=model_id)
    if student_ids is not None:
        photos = photos.filter(student_id__in=list(student_ids))
    rows = photos.values_list("student_id", "embedding")
    return Gallery.build((student_id, np.frombuffer(bytes(blob or b""), dtype=np.float32)) for student_id, blob in rows)


def gallery_fingerprint(*, student_ids: Iterable[int]) -> tuple[object, ...]:
    """Changes whenever the ready photos of these students change (to know when to rebuild)."""
    ids = sorted(student_ids)
    photos = StudentPhoto.objects.filter(student_id__in=ids, status=StudentPhoto.Status.READY)
    summary = photos.aggregate(
        count=Count("pk"), latest=Max("updated_at"), consented=Count("student__consent_given_at")
    )
    return (tuple(ids), summary["count"], summary["latest"], summary["consented"])
