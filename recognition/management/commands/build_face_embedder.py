"""Build the ONNX Runtime embedder (fp32 export and int8 quantisation) for the configured weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recognition.benchmark import IMAGE_SUFFIXES
from recognition.engine import FaceEngine, FaceModelUnavailable, onnx_cache_key, standardised
from recognition.images import ImageRejected, decode_image
from recognition.onnx_embedder import build_embedder_files

CALIBRATION_FACES_AT_MOST = 200


class Command(BaseCommand):
    help = (
        "Export the face embedder to ONNX and quantise it to int8, calibrated on the faces of enrolment "
        "photos (the largest face of each), into FACE_MODEL_CACHE_DIR. Servers and workers use it from "
        "their next start when FACE_EMBEDDER_BACKEND=onnx."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--photos",
            type=Path,
            default=Path(settings.MEDIA_ROOT),
            help="Folder searched (with sub-folders) for photos of faces to calibrate on (MEDIA_ROOT: the "
            "enrolment photos).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["photos"]
        photos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise CommandError(f"{folder} holds no JPEG, PNG or WebP photos to calibrate on.")
        try:
            engine = FaceEngine(
                weights_path=settings.FACE_EMBEDDER_WEIGHTS,
                weights_sha256=settings.FACE_EMBEDDER_WEIGHTS_SHA256,
                num_threads=settings.TORCH_NUM_THREADS,
                detection_max_side=settings.FACE_DETECTION_MAX_SIDE,
            )
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        crops = []
        for path in photos[:CALIBRATION_FACES_AT_MOST]:
            try:
                image = decode_image(
                    path.read_bytes(), max_bytes=settings.PHOTO_MAX_BYTES, max_pixels=settings.PHOTO_MAX_PIXELS
                )
            except (OSError, ImageRejected) as exc:
                self.stderr.write(f"skipped {path}: {exc}")
                continue
            faces = [face for face in engine.detect(image) if face.probability >= settings.ENROLMENT_MIN_PROBABILITY]
            if faces:
                crops.append(engine.crops(image, [max(faces, key=lambda face: face.width)])[0])
        if len(crops) < 10:
            raise CommandError(f"Only {len(crops)} faces found in {folder}; calibrating needs at least 10.")
        self.stdout.write(f"Calibrating on {len(crops)} faces…")
        path = build_embedder_files(
            model=engine.embedder,
            cache_dir=settings.FACE_MODEL_CACHE_DIR,
            key=onnx_cache_key(engine),
            calibration=standardised(np.stack(crops)),
        )
        self.stdout.write(self.style.SUCCESS(f"Built {path}"))
