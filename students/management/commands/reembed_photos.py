"""Compute again the embeddings made by another model or crop than the one configured now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from recognition.engine import FaceModelUnavailable, get_engine
from students.services import photos_requeue_other_model


class Command(BaseCommand):
    help = (
        "Queue every ready photo whose embedding was made by another model or crop than the configured "
        "one (after an upgrade or a new FACE_EMBEDDER_WEIGHTS): until then those students are not recognised."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model_id = get_engine().model_id
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        count = photos_requeue_other_model(model_id=model_id)
        self.stdout.write(f"Queued {count} photo(s) to be embedded again with {model_id}.")
