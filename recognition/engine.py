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
from typing import Any, Protocol

import cv2
import numpy as np
from django.conf import settings

from recognition.onnx_embedder import OnnxEmbedder, build_embedder_files, cached_embedder_path

logger = logging.getLogger(__name__)

CROP_SIZE = 160
EMBEDDING_DIM = 512
# The margin of the crop, in pixels of the CROP_SIZE crop (facenet-pytorch's `margin`): the face's
# box is widened by CROP_MARGIN / (CROP_SIZE - CROP_MARGIN) of its size before resizing, as in
# FaceNet's own evaluation crops. Measured on the classroom stills (docs/classroom.md): against a
# crop of the bare box it names twice as many 30 px faces, with no more wrong names.
CROP_MARGIN = 32
# Part of the model id stored with every embedding: embeddings of another crop do not match.
CROP_VERSION = "crop-m32"
# MTCNN's own numbers for its last stage (ONet): the 48 px input and the pixel scaling.
ONET_SIZE = 48


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


class FaceModels(Protocol):
    """What live recognition needs of the face models: `FaceEngine`, or anything that wraps it
    (the benchmark's timer)."""

    def detect(
        self, image: np.ndarray, *, min_face_px: int | None = None, max_side: int | None = None
    ) -> list[Face]: ...

    def refine(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[Face]: ...

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray: ...


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FaceEngine:
    def __init__(
        self,
        *,
        weights_path: str,
        weights_sha256: str,
        num_threads: int,
        detection_max_side: int,
        backend: str = "torch",
        cache_dir: Path | None = None,
    ):
        """`backend`: "torch" embeds with the eager model (the reference); "onnx" with ONNX Runtime,
        from the int8 file `build_face_embedder` made in `cache_dir` if there is one, else from an
        fp32 export made there at first use. Both give the same embeddings (tests check it), so the
        model id, stored with every embedding, is the same."""
        import torch
        from facenet_pytorch import MTCNN

        torch.set_num_threads(num_threads)
        self.detection_max_side = detection_max_side
        # Thresholds of MTCNN's three stages (facenet-pytorch's default is 0.6, 0.7, 0.7): the
        # stricter first two stages let far fewer candidates through to the costly last stage
        # (a 1280x720 classroom frame: ~0.7 s instead of ~1 s) and found the same 34 faces on
        # every classroom still.
        self.detector = MTCNN(keep_all=True, post_process=True, device="cpu", thresholds=[0.7, 0.8, 0.8]).eval()
        self.embedder, self.model_id = _load_embedder(weights_path, weights_sha256)
        self.onnx_embedder: OnnxEmbedder | None = None
        if backend == "onnx":
            if cache_dir is None:
                raise FaceModelUnavailable("The ONNX embedder needs a cache folder (DATA_DIR).")
            self.onnx_embedder = OnnxEmbedder(onnx_embedder_path(self, cache_dir), num_threads=num_threads)

    def detect(self, image: np.ndarray, *, min_face_px: int | None = None, max_side: int | None = None) -> list[Face]:
        """All faces MTCNN finds in an RGB image, most probable first.

        Images with a side longer than `max_side` (default FACE_DETECTION_MAX_SIDE) are detected on a
        downscaled copy, and so is every image when `min_face_px` says no face narrower than that is
        wanted: MTCNN's smallest face is then scaled to that width, which saves most of the
        detection time. Boxes are always in the pixels of `image`.
        """
        import torch

        height, width = image.shape[:2]
        scale = min(1.0, (max_side or self.detection_max_side) / max(height, width))
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

    def refine(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[Face]:
        """Each box looked at again by MTCNN's last stage alone: the face's new box and probability.

        The cheap way to follow faces that were found by a full `detect`: one ONet batch of 48 px
        crops instead of the whole image pyramid. A face that left its box comes back with a low
        probability.
        """
        import torch

        if not boxes:
            return []
        squares = [_square(box) for box in boxes]
        crops = np.stack([_resized(image, square, ONET_SIZE, margin=0.0) for square in squares])
        batch = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() - 127.5) * 0.0078125
        with torch.inference_mode():
            regression, _landmarks, scores = (out.numpy() for out in self.detector.onet(batch))
        faces = []
        for (x1, y1, x2, y2), offsets, score in zip(squares, regression, scores, strict=True):
            side_x, side_y = x2 - x1, y2 - y1
            dx1, dy1, dx2, dy2 = (float(v) for v in offsets)
            box = (x1 + dx1 * side_x, y1 + dy1 * side_y, x2 + dx2 * side_x, y2 + dy2 * side_y)
            faces.append(Face(box=box, probability=float(score[1])))
        return faces

    def crops(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """The faces as the embedder sees them: (N, CROP_SIZE, CROP_SIZE, 3) uint8 RGB."""
        margin = CROP_MARGIN / (CROP_SIZE - CROP_MARGIN) / 2
        if not faces:
            return np.zeros((0, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
        return np.stack([_resized(image, face.box, CROP_SIZE, margin=margin) for face in faces])

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Unit-length 512-d embeddings (float32, one row per face) in one batch."""
        return self.embed_crops(self.crops(image, faces))

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Unit-length embeddings of crops made by `crops`."""
        if not len(crops):
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        batch = standardised(crops)
        if self.onnx_embedder is not None:
            return self.onnx_embedder.embed(batch)
        return self.embed_torch(batch)

    def embed_torch(self, batch: np.ndarray) -> np.ndarray:
        """The reference: the eager torch model on standardised (N, 3, 160, 160) crops."""
        import torch

        with torch.inference_mode():
            embeddings = self.embedder(torch.from_numpy(batch))
        return embeddings.numpy().astype(np.float32, copy=False)


def standardised(crops: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) uint8 crops as the embedder's input: (N, 3, 160, 160), (pixel - 127.5) / 128."""
    return np.ascontiguousarray(((crops.astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2))


def onnx_cache_key(engine: FaceEngine) -> str:
    """Names the ONNX files of this model and crop: a new weights file or crop gets new files."""
    return engine.model_id.replace(":", "-")


def onnx_embedder_path(engine: FaceEngine, cache_dir: Path) -> Path:
    """The int8 file if `build_face_embedder` made one, else the fp32 export (made now if missing)."""
    int8 = cached_embedder_path(cache_dir, onnx_cache_key(engine), int8=True)
    if int8.exists():
        return int8
    logger.warning("No int8 embedder in %s: using the fp32 ONNX export (run build_face_embedder).", cache_dir)
    try:
        return build_embedder_files(
            model=engine.embedder, cache_dir=cache_dir, key=onnx_cache_key(engine), calibration=None
        )
    except OSError as exc:
        raise FaceModelUnavailable(f"The ONNX embedder could not be written to {cache_dir}: {exc}") from exc


def _square(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The square around a box's centre with its longer side (what MTCNN's stages look at)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _resized(image: np.ndarray, box: tuple[float, float, float, float], size: int, *, margin: float) -> np.ndarray:
    """The box widened by `margin` of its size on each side, as a `size` square (uint8 RGB).

    Parts of the box outside the image are black, as MTCNN pads them, so a face at the edge keeps
    its proportions.
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1, x2, y2 = round(x1 - mx), round(y1 - my), round(x2 + mx), round(y2 + my)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    region = np.zeros((y2 - y1, x2 - x1, 3), dtype=np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if sx2 > sx1 and sy2 > sy1:
        region[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


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
        return model.eval(), f"inception_resnet_v1:vggface2:{CROP_VERSION}"

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
    return model.eval(), f"inception_resnet_v1:sha256:{digest[:16]}:{CROP_VERSION}"


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
                    backend=settings.FACE_EMBEDDER_BACKEND,
                    cache_dir=settings.FACE_MODEL_CACHE_DIR,
                )
            except FaceModelUnavailable as exc:
                _failure = (time.monotonic(), exc)
                raise
            _failure = None
    return _engine
