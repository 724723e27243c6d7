"""How well FACE_MATCH_THRESHOLD separates the school's own enrolled students."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.calibration import calibrate
from students.models import StudentPhoto

THRESHOLDS = [0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2]


class Command(BaseCommand):
    help = (
        "Compare every pair of ready photos: photos of the same student should be closer than the "
        "threshold, photos of different students farther. Prints false accepts and rejects per threshold."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = list(StudentPhoto.objects.recognisable().values_list("student_id", "embedding", "embedding_model"))
        models = {model for _, _, model in rows}
        if len(models) > 1:
            raise CommandError(f"Photos were embedded by several models ({', '.join(sorted(models))}); re-embed first.")
        if len({student for student, _, _ in rows}) < 2:
            raise CommandError("At least two students with ready photos are needed.")
        labels = [student for student, _, _ in rows]
        embeddings = np.stack([StudentPhoto.decode_embedding(blob) for _, blob, _ in rows])
        result = calibrate(labels, embeddings, THRESHOLDS)
        self.stdout.write(
            f"{len(rows)} photos of {len(set(labels))} students: {len(result.same_person)} same-student pairs, "
            f"{len(result.different_people)} different-student pairs."
        )
        if result.farthest_same is not None:
            self.stdout.write(f"Farthest same-student pair: {result.farthest_same:.3f}")
        self.stdout.write(f"Closest different-student pair: {result.closest_different:.3f}")
        self.stdout.write(f"Current FACE_MATCH_THRESHOLD: {settings.FACE_MATCH_THRESHOLD}")
        self.stdout.write("threshold  false accepts  false rejects")
        for row in result.rows:
            marker = "  <- current" if abs(row.threshold - settings.FACE_MATCH_THRESHOLD) < 1e-9 else ""
            self.stdout.write(f"{row.threshold:9.2f}  {row.false_accepts:13d}  {row.false_rejects:13d}{marker}")
