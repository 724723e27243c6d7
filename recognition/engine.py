"""Face detection (MTCNN) and embedding (InceptionResnetV1), one of each per process.

The models load on first use, never at import: importing Django apps, migrating or running tests
that need no model must not pay for torch. `get_engine()` returns the process's engine.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

CROP_SIZE = 160
EMBEDDING_DIM = 512


class FaceModelUnavailable(RuntimeError):
    """The face models could not be loaded; the message says which setting to fix."""


@dataclass(frozen=True)
class Face:
    """A detected face: box [x1, y1, x2, y2] in the pixels of the image given to `detect`."""

    box: tuple[float, float, float, float]
    probability: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FaceEngine:
    def __init__(self, *, weights_path: str, weights_sha256: str, num_threads: int, detection_max_side: int):
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(num_threads)
        self.detection_max_side = detection_max_side
        self.detector = MTCNN(keep_all=True, post_process=True, device="cpu").eval()
        self.embedder, self.model_id = _load_embedder(weights_path, weights_sha256)

    def detect(self, image: np.ndarray, *, min_face_px: int | None = None) -> list[Face]:
        """All faces MTCNN finds in an RGB image, most probable first.

        Images with a side longer than FACE_DETECTION_MAX_SIDE are detected on a downscaled copy, and
        so is every image when `min_face_px` says no face narrower than that is wanted: MTCNN's
        smallest face is then scaled to that width, which saves most of the detection time.
        Boxes are always in the pixels of `image`.
        """
        import torch

        height, width = image.shape[:2]
        scale = min(1.0, self.detection_max_side / max(height, width))
        if min_face_px:
            scale = min(scale, self.detector.min_face_size / min_face_px)
        small = image
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if min(small.shape[:2]) < self.detector.min_face_size:
            # No face fits, and MTCNN raises on an image smaller than the smallest face it looks for.
            return []
        with torch.inference_mode():
            boxes, probabilities = self.detector.detect(small)
        if boxes is None:
            return []
        faces = [
            Face(box=tuple(float(v) / scale for v in box), probability=float(p))
            for box, p in zip(boxes, probabilities, strict=True)
        ]
        return sorted(faces, key=lambda face: face.probability, reverse=True)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Unit-length 512-d embeddings (float32, one row per face) in one batch."""
        import torch

        if not faces:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        crops = torch.stack([_crop(image, face.box) for face in faces])
        with torch.inference_mode():
            embeddings = self.embedder((crops - 127.5) / 128.0)
        return embeddings.numpy().astype(np.float32, copy=False)


def _crop(image: np.ndarray, box: tuple[float, float, float, float]) -> torch.Tensor:
    """The face as a CROP_SIZE square, (3, h, w) float, as facenet-pytorch crops it (margin 0)."""
    import torch

    height, width = image.shape[:2]
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(box[2]), width), min(int(box[3]), height)
    face = image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
    face = cv2.resize(face, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(face).permute(2, 0, 1).float()


def _load_embedder(weights_path: str, expected_sha256: str) -> tuple[Any, str]:
    import torch
    from facenet_pytorch import InceptionResnetV1

    if not weights_path:
        try:
            model = InceptionResnetV1(pretrained="vggface2", classify=False)
        except Exception as exc:
            raise FaceModelUnavailable(
                "FACE_EMBEDDER_WEIGHTS is not set and facenet-pytorch could not download its "
                f"'vggface2' weights ({exc.__class__.__name__}: {exc}). Set FACE_EMBEDDER_WEIGHTS "
                "to the path of an InceptionResnetV1 state_dict file."
            ) from exc
        return model.eval(), "inception_resnet_v1:vggface2"

    path = Path(weights_path)
    if not path.is_file():
        raise FaceModelUnavailable(f"FACE_EMBEDDER_WEIGHTS={weights_path}: no such file.")
    digest = file_sha256(path)
    if expected_sha256 and digest != expected_sha256:
        raise FaceModelUnavailable(
            f"FACE_EMBEDDER_WEIGHTS={weights_path} has sha256 {digest}, "
            f"but FACE_EMBEDDER_WEIGHTS_SHA256 expects {expected_sha256}."
        )
    model = InceptionResnetV1(classify=False)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        raise FaceModelUnavailable(
            f"FACE_EMBEDDER_WEIGHTS={weights_path} is not an InceptionResnetV1 state_dict "
            f"({exc.__class__.__name__}: {exc})."
        ) from exc
    logger.info("Loaded face embedder weights %s (sha256 %s)", path, digest)
    return model.eval(), f"inception_resnet_v1:sha256:{digest[:16]}"


_engine: FaceEngine | None = None
_engine_lock = threading.Lock()
# A failed load is remembered for a while: without it every live frame would retry a download
# that just failed (seconds each) instead of answering with the error at once.
_failure: tuple[float, FaceModelUnavailable] | None = None
RETRY_FAILED_LOAD_AFTER_SECONDS = 60.0


def get_engine() -> FaceEngine:
    """The process's engine, loaded on first call (thread-safe)."""
    global _engine, _failure
    if _engine is not None:
        return _engine
    with _engine_lock:
        if _engine is None:
            if _failure is not None and time.monotonic() - _failure[0] < RETRY_FAILED_LOAD_AFTER_SECONDS:
                raise _failure[1]
            try:
                _engine = FaceEngine(
                    weights_path=settings.FACE_EMBEDDER_WEIGHTS,
                    weights_sha256=settings.FACE_EMBEDDER_WEIGHTS_SHA256,
                    num_threads=settings.TORCH_NUM_THREADS,
                    detection_max_side=settings.FACE_DETECTION_MAX_SIDE,
                )
            except FaceModelUnavailable as exc:
                _failure = (time.monotonic(), exc)
                raise
            _failure = None
    return _engine
