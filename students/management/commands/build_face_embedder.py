"""Build the ONNX Runtime embedder (fp32 export and int8 quantisation) for the configured weights."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recognition.engine import Face, FaceModelUnavailable, get_engine, onnx_cache_key, standardised
from recognition.images import ImageRejected
from recognition.onnx_embedder import build_embedder_files
from students.images import photo_decode
from students.models import StudentPhoto

CALIBRATION_MIN_FACES = 10


class Command(BaseCommand):
    help = (
        "Export the face embedder to ONNX and quantise it to int8, calibrated on the faces of the ready "
        "enrolment photos (of consenting students only), into FACE_MODEL_CACHE_DIR. Servers and workers use "
        "it from their next start when FACE_EMBEDDER_BACKEND=onnx. Nothing is written to the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--faces", type=int, default=200, help="Calibrate on at most this many faces (200).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["faces"] < CALIBRATION_MIN_FACES:
            raise CommandError(f"--faces must be at least {CALIBRATION_MIN_FACES}.")
        try:
            engine = get_engine()
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        crops = []
        # The face each photo was enrolled from, where enrolment found it: no detection needed.
        for photo in StudentPhoto.objects.recognisable().exclude(face_box=None).order_by("pk")[: options["faces"]]:
            try:
                with photo.image.open("rb") as handle:
                    image = photo_decode(handle.read())
            except (OSError, ImageRejected) as exc:
                self.stderr.write(f"Skipped photo {photo.pk}: {exc}")
                continue
            x1, y1, x2, y2 = cast(list[float], photo.face_box)
            crops.append(engine.crops(image, [Face(box=(x1, y1, x2, y2), probability=1.0)])[0])
        if len(crops) < CALIBRATION_MIN_FACES:
            raise CommandError(
                f"{len(crops)} ready photos to calibrate on; enrol at least {CALIBRATION_MIN_FACES} students first."
            )
        self.stdout.write(f"Calibrating on {len(crops)} faces…")
        path = build_embedder_files(
            model=engine.embedder,
            cache_dir=settings.FACE_MODEL_CACHE_DIR,
            key=onnx_cache_key(engine),
            calibration=standardised(np.stack(crops)),
        )
        self.stdout.write(self.style.SUCCESS(f"Built {path}"))
