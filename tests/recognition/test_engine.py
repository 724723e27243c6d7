"""The face engine with the real FaceNet weights on the real photos of ../shared/faces."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from recognition.engine import EMBEDDING_DIM, Face, FaceEngine, FaceModelUnavailable, get_engine
from recognition.images import decode_image
from tests.faces import WEIGHTS, face_bytes
from tests.recognition.samples import LIMITS, encode, gradient, open_face

PROJECT = Path(__file__).resolve().parents[2]
PEOPLE = {
    "obama": ["enroll/obama/obama.jpg", "enroll/obama/obama2.jpg"],
    "biden": ["enroll/biden/biden.jpg", "enroll/biden/biden2.jpg"],
    "rose_leslie": ["enroll/rose_leslie/img1.jpg", "enroll/rose_leslie/img2.jpg"],
}


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return get_engine()


def decode(relative: str) -> np.ndarray:
    return decode_image(face_bytes(relative), **LIMITS)


def one_face_embedding(engine: FaceEngine, relative: str) -> np.ndarray:
    image = decode(relative)
    faces = engine.detect(image)
    assert faces, f"no face found in {relative}"
    return engine.embed(image, faces[:1])[0]


def assert_boxes_close(box: tuple[float, ...], expected: tuple[float, ...], *, tolerance: float) -> None:
    assert np.abs(np.subtract(box, expected)).max() < tolerance, f"{box} is not {expected}"


def test_get_engine_returns_one_engine_per_process(engine: FaceEngine) -> None:
    assert get_engine() is engine
    assert engine.model_id.startswith("inception_resnet_v1:sha256:914a14370b68c31f")


def test_embeddings_are_unit_length_512_float32(engine: FaceEngine) -> None:
    image = decode("probe/two_people.jpg")
    faces = engine.detect(image)

    embeddings = engine.embed(image, faces)

    assert embeddings.shape == (2, EMBEDDING_DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_no_faces_no_embeddings(engine: FaceEngine) -> None:
    embeddings = engine.embed(decode("enroll/obama/obama.jpg"), [])

    assert embeddings.shape == (0, EMBEDDING_DIM)


def test_the_same_person_is_closer_than_different_people(engine: FaceEngine) -> None:
    embeddings = {person: [one_face_embedding(engine, path) for path in paths] for person, paths in PEOPLE.items()}

    same = {person: float(np.linalg.norm(a - b)) for person, (a, b) in embeddings.items()}
    different = [
        float(np.linalg.norm(a - b))
        for (one, ones), (other, others) in itertools.combinations(embeddings.items(), 2)
        for a, b in itertools.product(ones, others)
    ]

    assert max(same.values()) < settings.FACE_MATCH_THRESHOLD < min(different), (same, different)


def test_detect_finds_every_face_most_probable_first(engine: FaceEngine) -> None:
    image = decode("probe/multiface.jpg")

    faces = engine.detect(image)

    assert len(faces) == 6
    assert [face.probability for face in faces] == sorted((face.probability for face in faces), reverse=True)
    height, width = image.shape[:2]
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert -5 < x1 < x2 < width + 5
        assert -5 < y1 < y2 < height + 5


def test_no_face_in_a_gradient(engine: FaceEngine) -> None:
    assert engine.detect(np.asarray(gradient())) == []


@pytest.mark.parametrize("shape", [(1, 1), (12, 12), (19, 300), (13, 4000)], ids=str)
def test_images_too_small_for_any_face_have_none(engine: FaceEngine, shape: tuple[int, int]) -> None:
    # 13x4000 is detected on a 4x1280 copy.
    image = np.full((*shape, 3), 128, dtype=np.uint8)

    assert engine.detect(image) == []


def test_a_large_photo_is_detected_downscaled_with_the_box_in_its_own_pixels(engine: FaceEngine) -> None:
    # 1920x1080 is over FACE_DETECTION_MAX_SIDE (1280): detection runs on a 1280x720 copy.
    image = decode("edge/obama-1080p.jpg")
    assert max(image.shape) > engine.detection_max_side
    half = np.asarray(open_face("edge/obama-1080p.jpg").resize((960, 540)))

    [face, *_] = engine.detect(image)
    [half_face, *_] = engine.detect(half)

    assert_boxes_close(face.box, tuple(2 * v for v in half_face.box), tolerance=0.05 * face.width)
    assert face.width > 200  # in the 1920-wide image, not the 1280-wide copy


def test_a_3000_px_upscale_gives_the_box_scaled_up(engine: FaceEngine) -> None:
    small = open_face("edge/obama_small.jpg")  # 320x240
    [small_face] = engine.detect(np.asarray(small))
    large = decode_image(encode(small.resize((3200, 2400)), "JPEG"), **LIMITS)

    [large_face] = engine.detect(large)

    assert_boxes_close(large_face.box, tuple(10 * v for v in small_face.box), tolerance=0.05 * large_face.width)


def test_crops_near_the_edge_of_the_image_are_embedded(engine: FaceEngine) -> None:
    """A box partly outside the image (MTCNN gives those for faces at the border) is clipped."""
    image = decode("edge/obama_small.jpg")
    [face] = engine.detect(image)
    x1, y1, x2, y2 = face.box
    shifted = Face(box=(x1 - 200, y1 - 200, x2, y2), probability=face.probability)

    embeddings = engine.embed(image, [shifted])

    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def make_engine(weights_path: Path, weights_sha256: str = "") -> FaceEngine:
    """An engine of its own: the process's engine from get_engine() is left alone."""
    return FaceEngine(
        weights_path=str(weights_path),
        weights_sha256=weights_sha256,
        num_threads=settings.TORCH_NUM_THREADS,
        detection_max_side=settings.FACE_DETECTION_MAX_SIDE,
    )


def test_missing_weights_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FaceModelUnavailable, match=r"FACE_EMBEDDER_WEIGHTS=.*missing\.pt: no such file"):
        make_engine(tmp_path / "missing.pt")


def test_weights_with_another_sha256_name_the_settings() -> None:
    expected = "0" * 64

    with pytest.raises(FaceModelUnavailable) as unavailable:
        make_engine(WEIGHTS, weights_sha256=expected)

    message = str(unavailable.value)
    assert "FACE_EMBEDDER_WEIGHTS=" in message
    assert f"FACE_EMBEDDER_WEIGHTS_SHA256 expects {expected}" in message
    assert "914a14370b68c31ff8a6a1d06e1598fb4631963ead4c2f3fb136275f29412933" in message


def test_a_file_that_is_not_weights_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"these are not the weights you are looking for")

    with pytest.raises(FaceModelUnavailable, match=r"FACE_EMBEDDER_WEIGHTS=.* is not an InceptionResnetV1 state_dict"):
        make_engine(path)


def test_the_process_engine_still_works_after_a_failed_engine(engine: FaceEngine, tmp_path: Path) -> None:
    with pytest.raises(FaceModelUnavailable):
        make_engine(tmp_path / "missing.pt")

    assert get_engine() is engine
    assert len(engine.detect(decode("edge/obama_small.jpg"))) == 1


IMPORT_EVERYTHING = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    from pathlib import Path

    import django
    django.setup()
    from django.apps import apps
    from django.core.management import call_command

    project = Path.cwd().resolve()
    for config in apps.get_app_configs():
        if Path(config.path).resolve().parent == project:
            package = importlib.import_module(config.name)
            for module in pkgutil.walk_packages(package.__path__, prefix=config.name + "."):
                importlib.import_module(module.name)
            print("imported", config.name)
    call_command("check")
    heavy = sorted(name for name in sys.modules if name.split(".")[0] in {"torch", "torchvision", "facenet_pytorch"})
    print("heavy:", heavy[:5])
    """
)


def test_django_apps_and_check_do_not_import_torch() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    for app in ("attendance", "students", "recognition"):
        assert f"imported {app}" in result.stdout
    assert "System check identified no issues" in result.stdout
    assert "heavy: []" in result.stdout
