"""Recognising a live stream with the real engine on consecutive frames of the shared clip."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import pytest
from PIL import Image
from pytest_django.fixtures import Settings

from recognition.engine import Face, FaceEngine, get_engine
from recognition.images import ImageRejected, decode_image
from recognition.live import LiveFace, LiveRecognizer, decode_frame, run_inference
from recognition.matching import Gallery, MatchRule
from recognition.tracking import iou
from tests.faces import FACES, face_bytes

LIN, ALEX = 1, 2
# Frames 89-106 of the clip: Lin-Manuel Miranda all along (0.73-0.87 from his photo), people
# passing by now and then. From frame 115 on his distance hovers around the threshold.
FIRST_FRAME, FRAME_COUNT = 89, 18


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return get_engine()


@pytest.fixture(scope="module")
def gallery(engine: FaceEngine) -> Gallery:
    """The two people of the clip, enrolled from the photos beside it."""
    rows = []
    for student_id, relative in [(LIN, "video/lin-manuel-miranda.png"), (ALEX, "video/alex-lacamoire.png")]:
        image = decode_image(face_bytes(relative), max_bytes=10 * 1024 * 1024, max_pixels=40_000_000)
        faces = engine.detect(image)
        rows.append((student_id, engine.embed(image, faces[:1])[0]))
    return Gallery.build(rows)


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    """Consecutive RGB frames FIRST_FRAME.. of the clip."""
    capture = cv2.VideoCapture(str(FACES / "video" / "short_hamilton_clip.mp4"))
    frames = []
    try:
        for index in range(FIRST_FRAME + FRAME_COUNT):
            ok, frame = capture.read()
            assert ok, f"the clip ended at frame {index}"
            if index >= FIRST_FRAME:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def recognizer(
    engine: FaceEngine,
    gallery: Gallery,
    *,
    threshold: float = 1.0,
    band: float = 0.1,
    min_probability: float = 0.9,
    **options: Any,
) -> LiveRecognizer:
    return LiveRecognizer(
        engine=engine,
        gallery=gallery,
        rule=MatchRule(threshold=threshold),
        uncertain_band=band,
        min_probability=min_probability,
        **options,
    )


class CountingEngine:
    """The real engine, counting the faces it embeds and how it found them, call by call."""

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine
        self.embedded: list[int] = []
        self.calls: list[str] = []

    def detect(self, image: np.ndarray, *, min_face_px: int | None = None, max_side: int | None = None) -> list[Face]:
        self.calls.append("detect")
        return self.engine.detect(image, min_face_px=min_face_px, max_side=max_side)

    def refine(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[Face]:
        self.calls.append("refine")
        return self.engine.refine(image, boxes)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        self.embedded.append(len(faces))
        return self.engine.embed(image, faces)


@dataclass(frozen=True)
class Stream:
    frames: list[list[LiveFace]]  # what the recognizer said about each frame
    embedded: list[int]  # how many faces it embedded for each frame
    calls: list[str]  # how it found each frame's faces


@pytest.fixture(scope="module")
def stream(engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]) -> Stream:
    """The clip's frames through one recognizer, as a webcam would send them: the whole frame
    searched every 6 frames, the faces followed in between."""
    counting = CountingEngine(engine)
    live = recognizer(cast(FaceEngine, counting), gallery, detect_every=6)
    frames, embedded = [], []
    for image in clip:
        counting.embedded.clear()
        frames.append(live.process(image))
        embedded.append(sum(counting.embedded))
    return Stream(frames=frames, embedded=embedded, calls=counting.calls)


def lin_track(faces: list[LiveFace]) -> LiveFace:
    """His face: the largest in these frames."""
    return max(faces, key=lambda face: face.box[2] - face.box[0])


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_his_face_is_embedded_until_confirmed_and_then_only_followed(stream: Stream) -> None:
    lins = [lin_track(faces) for faces in stream.frames]

    assert len({lin.track_id for lin in lins}) == 1, "one track follows him through the clip"
    assert [lin.fresh for lin in lins] == [True, True] + [False] * (FRAME_COUNT - 2)
    assert [lin.student_id for lin in lins] == [None] + [LIN] * (FRAME_COUNT - 1), "named once confirmed"
    assert lins[0].candidate_id == LIN, "on his way to confirmation he is a candidate"
    assert all(0.6 < (lin.distance or 0) < 0.95 for lin in lins)


def test_the_whole_frame_is_searched_every_detect_every_frames_and_faces_followed_in_between(
    stream: Stream, engine: FaceEngine, clip: list[np.ndarray]
) -> None:
    assert stream.calls == (["detect"] + ["refine"] * 5) * 3
    # Followed boxes stay on his face: close to where a full search finds it in the same frame.
    for index in (1, 4, 10):
        followed = lin_track(stream.frames[index]).box
        detected = max(engine.detect(clip[index]), key=lambda face: face.width).box
        assert iou(followed, detected) > 0.7, (index, followed, detected)


def test_when_no_followed_face_is_left_the_whole_frame_is_searched_at_once(
    engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]
) -> None:
    counting = CountingEngine(engine)
    live = recognizer(cast(FaceEngine, counting), gallery, detect_every=10)
    live.process(clip[0])

    assert live.process(np.zeros_like(clip[0])) == []  # a cut to black: nobody where the faces were
    assert counting.calls == ["detect", "refine", "detect"]


def test_only_the_faces_reported_fresh_were_embedded(stream: Stream) -> None:
    assert stream.embedded == [sum(face.fresh for face in faces) for faces in stream.frames]
    assert sum(stream.embedded) < sum(len(faces) for faces in stream.frames)


def test_passers_by_get_their_own_tracks_and_no_name(stream: Stream) -> None:
    lin = lin_track(stream.frames[0]).track_id
    others = [face for faces in stream.frames for face in faces if face.track_id != lin]

    assert others, "people pass by in these frames"
    assert all(face.student_id is None for face in others)


def test_a_new_gallery_starts_the_tracks_afresh(engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]) -> None:
    live = recognizer(engine, gallery)
    confirmed = [lin_track(live.process(image)) for image in clip[:3]]
    assert [lin.fresh for lin in confirmed] == [True, True, False]

    live.replace_gallery(gallery)
    lin = lin_track(live.process(clip[3]))

    assert lin.fresh and lin.student_id is None


def test_a_face_just_above_the_threshold_names_a_candidate_and_no_student(
    engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]
) -> None:
    strict = recognizer(engine, gallery, threshold=0.7, band=0.3)

    faces = strict.process(clip[0])

    (lin,) = [face for face in faces if face.candidate_id == LIN]
    assert lin.student_id is None
    assert lin.distance is not None and 0.7 < lin.distance < 1.0


def test_without_a_band_there_is_no_candidate(engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]) -> None:
    strict = recognizer(engine, gallery, threshold=0.7, band=0.0)

    faces = strict.process(clip[0])

    assert faces
    assert all(face.student_id is None and face.candidate_id is None for face in faces)


def test_a_jpeg_frame_is_decoded_and_unsure_detections_are_ignored(
    engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]
) -> None:
    # Frame 90 also holds a passer-by detected with probability 0.96.
    live = recognizer(engine, gallery, min_probability=0.99)

    faces = live.process_frame(jpeg(clip[1]))

    (lin,) = faces
    assert lin.candidate_id == LIN and lin.distance is not None and lin.distance < 1.0
    x1, y1, x2, y2 = lin.box
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360


def test_at_most_max_embeds_per_frame_faces_are_embedded_and_the_others_wait(
    engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]
) -> None:
    counting = CountingEngine(engine)
    live = recognizer(cast(FaceEngine, counting), gallery, max_embeds_per_frame=1)
    first, second = live.process(clip[0]), live.process(clip[1])

    assert len(first) == len(second) == 2, "Lin and a passer-by"
    assert counting.embedded == [1, 1]
    # The larger face first, then the one that waited; nobody is named without an embedding.
    assert [face.fresh for face in first] == [True, False]
    assert [face.fresh for face in second] == [False, True]
    assert all(face.student_id is None for face in first + second if face.distance is None)


def test_with_a_min_face_size_frames_are_detected_downscaled_and_boxed_in_full_frame_pixels(
    engine: FaceEngine, gallery: Gallery, clip: list[np.ndarray]
) -> None:
    full = lin_track(recognizer(engine, gallery).process(clip[0]))
    live = recognizer(engine, gallery, min_face_px=40)

    lin = lin_track(live.process(clip[0]))

    assert np.allclose(lin.box, full.box, atol=6)
    assert lin.distance is not None and full.distance is not None
    assert abs(lin.distance - full.distance) < 0.1


def test_bytes_that_are_not_an_image_are_rejected(engine: FaceEngine, gallery: Gallery) -> None:
    live = recognizer(engine, gallery)

    with pytest.raises(ImageRejected, match=r"^The file is not a JPEG, PNG or WebP image\.$"):
        live.process_frame(b"this is not a picture")


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1080, 1920), (640, 360)])
def test_frames_up_to_1920x1080_either_way_up_are_accepted(width: int, height: int) -> None:
    assert decode_frame(png(width, height)).shape == (height, width, 3)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (2000, 1200, "The image is 2000x1200 (2.4 megapixels); the limit is 2.1 megapixels."),
        (1930, 1000, "The frame is 1930x1000; the limit is 1920x1080."),
        (1500, 1380, "The frame is 1500x1380; the limit is 1920x1080."),
        (1380, 1500, "The frame is 1380x1500; the limit is 1920x1080."),
    ],
)
def test_larger_frames_are_rejected(width: int, height: int, message: str) -> None:
    with pytest.raises(ImageRejected) as error:
        decode_frame(png(width, height))

    assert str(error.value) == message


def test_frames_over_the_byte_limit_are_rejected(settings: Settings) -> None:
    settings.FRAME_MAX_BYTES = 2048
    noise = np.random.default_rng(0).integers(0, 255, size=(120, 160, 3), dtype=np.uint8)

    with pytest.raises(ImageRejected, match=r"^The file is larger than the limit of 2 KB\.$"):
        decode_frame(jpeg(noise))


async def test_inference_runs_off_the_event_loop() -> None:
    thread = await run_inference(lambda: threading.current_thread().name)

    assert thread.startswith("inference")
    assert thread != threading.current_thread().name
