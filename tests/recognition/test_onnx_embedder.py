"""The ONNX Runtime embedder against torch, with the real FaceNet weights on real face crops.

The files are built once for this module (export ~2 s, int8 calibration on the 40 classroom
enrolment crops ~15 s). Agreement is checked on other crops: every face MTCNN finds in the 720p
classroom stills, where the back row is ~30 px wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from django.conf import settings

from recognition import onnx_embedder
from recognition.engine import FaceEngine, get_engine, standardised
from recognition.matching import Gallery, MatchRule, match_faces
from recognition.onnx_embedder import (
    EMBEDDING_DIM,
    OnnxEmbedder,
    build_embedder_files,
    cached_embedder_path,
)
from tests.faces import FACES

CLASSROOM = FACES / "classroom"
KEY = "test-key"
# Measured on all 341 faces of the ten stills (int8 version 2, the same on CPUs with and without
# VNNI): worst int8 cosine 0.9986, median 0.9994.
INT8_MIN_COSINE = 0.997
# A face is clear when torch's distance is this far from the threshold and from the runner-up:
# int8 moves distances by up to 0.017, so closer calls may go either way.
CLEAR_MARGIN = 0.05


@dataclass(frozen=True)
class Decisions:
    nearest: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray

    def accepted(self) -> np.ndarray:
        return self.distance < settings.FACE_MATCH_THRESHOLD


def decide(gallery: np.ndarray, probes: np.ndarray) -> Decisions:
    """Each probe's nearest gallery row (one student per row) and the runner-up's distance."""
    matches = match_faces(
        probes, Gallery.build(enumerate(gallery)), rule=MatchRule(threshold=settings.FACE_MATCH_THRESHOLD)
    )
    distance = np.array([match.distance for match in matches])
    return Decisions(
        nearest=np.array([match.nearest_student_id for match in matches]),
        distance=distance,
        runner_up=distance + np.array([match.margin for match in matches]),
    )


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return get_engine()


@pytest.fixture(scope="module")
def model(engine: FaceEngine) -> torch.nn.Module:
    return engine.embedder


def crops_of(engine: FaceEngine, path: Path, *, most_probable_only: bool) -> list[np.ndarray]:
    """The faces of a photo as the engine crops them, standardised: (3, 160, 160) float32 each."""
    bgr = cv2.imread(str(path))
    assert bgr is not None, f"{path} is not an image OpenCV can read"
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    faces = engine.detect(image)  # most probable first
    assert faces, f"no face found in {path}"
    return list(standardised(engine.crops(image, faces[:1] if most_probable_only else faces)))


@pytest.fixture(scope="module")
def enrolment_crops(engine: FaceEngine) -> np.ndarray:
    """One crop per classroom student (S01-S40): the gallery, and the int8 calibration set."""
    paths = sorted(CLASSROOM.glob("enroll/S*/01.jpg"))
    assert len(paths) == 40
    return np.stack([crops_of(engine, path, most_probable_only=True)[0] for path in paths])


@pytest.fixture(scope="module")
def still_crops(engine: FaceEngine) -> np.ndarray:
    """Every face found in the five 720p classroom stills (~170, from ~30 to ~100 px wide)."""
    paths = sorted(CLASSROOM.glob("stills/*-720p.jpg"))
    assert len(paths) == 5
    return np.stack([crop for path in paths for crop in crops_of(engine, path, most_probable_only=False)])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, model: torch.nn.Module, enrolment_crops: np.ndarray) -> Path:
    cache_dir = tmp_path_factory.mktemp("onnx-cache")
    build_embedder_files(model=model, cache_dir=cache_dir, key=KEY, calibration=enrolment_crops)
    return cache_dir


@pytest.fixture(scope="module")
def fp32(cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cached_embedder_path(cache_dir, KEY, int8=False), num_threads=2)


@pytest.fixture(scope="module")
def int8(cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder(cached_embedder_path(cache_dir, KEY, int8=True), num_threads=2)


@pytest.fixture(scope="module")
def torch_embeddings(
    engine: FaceEngine, enrolment_crops: np.ndarray, still_crops: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """torch fp32 embeddings of (enrolment crops, still crops): the reference."""
    return engine.embed_torch(enrolment_crops), engine.embed_torch(still_crops)


def test_the_exported_model_takes_faces_in_any_batch_size(fp32: OnnxEmbedder) -> None:
    (faces,) = fp32.session.get_inputs()
    (embeddings,) = fp32.session.get_outputs()

    assert (faces.name, faces.type) == ("faces", "tensor(float)")
    assert faces.shape[1:] == [3, 160, 160]
    assert isinstance(faces.shape[0], str)
    assert (embeddings.name, embeddings.shape[1]) == ("embeddings", EMBEDDING_DIM)


@pytest.mark.parametrize("embedder_name", ["fp32", "int8"])
def test_embeddings_are_unit_rows_whatever_the_batch(
    request: pytest.FixtureRequest, embedder_name: str, still_crops: np.ndarray
) -> None:
    embedder: OnnxEmbedder = request.getfixturevalue(embedder_name)

    batch = embedder.embed(still_crops[:7])
    one = embedder.embed(still_crops[3:4])

    assert batch.shape == (7, EMBEDDING_DIM)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(one[0], batch[3], atol=1e-5)


@pytest.mark.parametrize("embedder_name", ["fp32", "int8"])
def test_an_empty_batch_has_no_embeddings(request: pytest.FixtureRequest, embedder_name: str) -> None:
    embedder: OnnxEmbedder = request.getfixturevalue(embedder_name)

    embeddings = embedder.embed(np.zeros((0, 3, 160, 160), dtype=np.float32))

    assert embeddings.shape == (0, EMBEDDING_DIM)
    assert embeddings.dtype == np.float32


def test_crops_of_another_shape_are_refused(fp32: OnnxEmbedder) -> None:
    with pytest.raises(ValueError, match=r"faces must be \(N, 3, 160, 160\), not \(2, 160, 160, 3\)"):
        fp32.embed(np.zeros((2, 160, 160, 3), dtype=np.float32))


def test_fp32_gives_torchs_embeddings_and_decisions(
    fp32: OnnxEmbedder,
    enrolment_crops: np.ndarray,
    still_crops: np.ndarray,
    torch_embeddings: tuple[np.ndarray, np.ndarray],
) -> None:
    torch_gallery, torch_stills = torch_embeddings

    gallery, stills = fp32.embed(enrolment_crops), fp32.embed(still_crops)

    assert cosines(gallery, torch_gallery).min() >= 0.9999
    assert cosines(stills, torch_stills).min() >= 0.9999
    ours, theirs = decide(gallery, stills), decide(torch_gallery, torch_stills)
    np.testing.assert_array_equal(ours.nearest, theirs.nearest)
    np.testing.assert_array_equal(ours.accepted(), theirs.accepted())


def test_int8_embeddings_stay_close_to_torchs_on_faces_it_was_not_calibrated_on(
    int8: OnnxEmbedder, still_crops: np.ndarray, torch_embeddings: tuple[np.ndarray, np.ndarray]
) -> None:
    agreement = cosines(int8.embed(still_crops), torch_embeddings[1])

    assert len(agreement) >= 160
    assert agreement.min() >= INT8_MIN_COSINE, np.sort(agreement)[:5]
    assert np.median(agreement) >= 0.999


def test_int8_names_the_same_student_as_torch_for_every_clear_face(
    int8: OnnxEmbedder,
    enrolment_crops: np.ndarray,
    still_crops: np.ndarray,
    torch_embeddings: tuple[np.ndarray, np.ndarray],
) -> None:
    # Both sides enrol with their own embedder, as the app would after switching.
    ours = decide(int8.embed(enrolment_crops), int8.embed(still_crops))
    theirs = decide(*torch_embeddings)
    clear = (np.abs(theirs.distance - settings.FACE_MATCH_THRESHOLD) > CLEAR_MARGIN) & (
        theirs.runner_up - theirs.distance > CLEAR_MARGIN
    )

    assert clear.sum() >= 0.7 * len(clear)
    assert theirs.accepted()[clear].sum() >= 40, "too few recognised faces for the check to mean much"
    np.testing.assert_array_equal(ours.nearest[clear], theirs.nearest[clear])
    np.testing.assert_array_equal(ours.accepted()[clear], theirs.accepted()[clear])
    assert np.abs(ours.distance - theirs.distance).max() < CLEAR_MARGIN


def test_build_embedder_files_returns_the_int8_file_only_when_calibrated(
    cache_dir: Path, model: torch.nn.Module
) -> None:
    int8_path = cached_embedder_path(cache_dir, KEY, int8=True)
    fp32_path = cached_embedder_path(cache_dir, KEY, int8=False)

    assert (fp32_path.name, int8_path.name) == (f"{KEY}-fp32.onnx", f"{KEY}-int8-v2.onnx")
    assert sorted(path.name for path in cache_dir.iterdir()) == [fp32_path.name, int8_path.name]
    assert build_embedder_files(model=model, cache_dir=cache_dir, key=KEY, calibration=None) == fp32_path


def test_build_embedder_files_keeps_the_files_already_built(
    tmp_path: Path, model: torch.nn.Module, enrolment_crops: np.ndarray
) -> None:
    cache_dir = tmp_path / "nested" / "cache"
    cache_dir.mkdir(parents=True)
    for int8 in (False, True):
        cached_embedder_path(cache_dir, "done", int8=int8).write_bytes(b"built before")

    path = build_embedder_files(model=model, cache_dir=cache_dir, key="done", calibration=enrolment_crops)

    assert path == cached_embedder_path(cache_dir, "done", int8=True)
    assert {p.name: p.read_bytes() for p in cache_dir.iterdir()} == {
        "done-fp32.onnx": b"built before",
        "done-int8-v2.onnx": b"built before",
    }


def test_an_int8_file_of_an_older_quantisation_is_not_used(
    tmp_path: Path, model: torch.nn.Module, enrolment_crops: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Version 1 (8-bit weights) gave wrong embeddings on CPUs without VNNI; it had no suffix.
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cached_embedder_path(cache_dir, "k", int8=False).write_bytes(b"fp32")
    (cache_dir / "k-int8.onnx").write_bytes(b"version 1")

    def quantize(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
        int8_path.write_bytes(b"version 2")

    monkeypatch.setattr(onnx_embedder, "quantize_int8", quantize)

    path = build_embedder_files(model=model, cache_dir=cache_dir, key="k", calibration=enrolment_crops)

    assert path == cache_dir / "k-int8-v2.onnx"
    assert {p.name: p.read_bytes() for p in cache_dir.iterdir()} == {
        "k-fp32.onnx": b"fp32",
        "k-int8.onnx": b"version 1",
        "k-int8-v2.onnx": b"version 2",
    }


def test_build_embedder_files_creates_its_folder_and_only_the_fp32_file_without_calibration(
    tmp_path: Path, model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "new" / "cache"
    seen: list[tuple[bool, Path]] = []

    def export(model: torch.nn.Module, path: Path) -> None:
        # The final name must not exist before the file is whole: write to a neighbour first.
        seen.append((cached_embedder_path(cache_dir, "k", int8=False).exists(), path.parent))
        path.write_bytes(b"onnx")

    monkeypatch.setattr(onnx_embedder, "export_fp32", export)

    path = build_embedder_files(model=model, cache_dir=cache_dir, key="k", calibration=None)

    assert path == cache_dir / "k-fp32.onnx"
    assert seen == [(False, cache_dir)]
    assert [p.name for p in cache_dir.iterdir()] == ["k-fp32.onnx"]
    assert path.read_bytes() == b"onnx"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_build_leaves_no_file_behind(
    tmp_path: Path, model: torch.nn.Module, enrolment_crops: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    cached_embedder_path(cache_dir, "k", int8=False).write_bytes(b"built before")

    def quantize(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
        int8_path.write_bytes(b"half a mod")
        raise OSError("disk full")

    monkeypatch.setattr(onnx_embedder, "quantize_int8", quantize)

    with pytest.raises(OSError, match="disk full"):
        build_embedder_files(model=model, cache_dir=cache_dir, key="k", calibration=enrolment_crops)

    assert [path.name for path in cache_dir.iterdir()] == ["k-fp32.onnx"]


def test_quantising_needs_calibration_crops(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one calibration crop"):
        onnx_embedder.quantize_int8(
            cached_embedder_path(cache_dir, KEY, int8=False), tmp_path / "int8.onnx", np.zeros((0, 3, 160, 160))
        )
