"""Timing our recognition against the naive pipeline of the public write-ups, on the same frames.

*Ours* is what the live websocket runs: the recognizer `attendance.live.recognizer` builds, given
each JPEG frame in order through `process_frame` (decode, detect once, track, embed new and
unsettled faces in one batch, match in one matrix operation), and `identify_faces` for photos.
*Naive* is the usual tutorial code: MTCNN called twice per image (`mtcnn(img)` for the crops,
`mtcnn.detect(img)` for the boxes), each face embedded alone, and a Python loop over every stored
embedding. Both use the engine's own two models, so the weights are identical, and both match
against the same in-memory gallery: the enrolled people plus random unit vectors as distractor
students, so the naive loop really runs over >= 1,000 entries. Nothing here reads or writes the
database.

Frames are processed interleaved (ours, then naive, frame by frame) so that load from other
processes on the machine falls on both pipelines alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
from django.conf import settings

from recognition.engine import EMBEDDING_DIM, Face, FaceEngine, FaceModels
from recognition.identify import identify_faces
from recognition.images import ImageRejected
from recognition.live import LiveFace, LiveRecognizer, decode_frame
from recognition.matching import Gallery
from recognition.quality import EnrolmentRule, enrolment_face
from students.images import photo_decode

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

# What static/js/session.js sends: frames at most 640 px wide, JPEG at quality 0.85.
PAGE_MAX_FRAME_WIDTH = 640
PAGE_JPEG_QUALITY = 85
WARMUP_FRAMES = 2
# For a 640x360 frame on a 2-core machine, with results unchanged.
GOAL_SPEEDUP = 3.0
GOAL_P95_MS = 150.0
# Real students get ids from 1; distractors from here, so they never collide.
FIRST_DISTRACTOR_ID = 1_000_000

Progress = Callable[[str], None]


class RecognizerFactory(Protocol):
    """Makes the recognizer the websocket uses (`attendance.live.recognizer`), so its settings are the app's."""

    def __call__(self, *, engine: FaceModels, gallery: Gallery) -> LiveRecognizer: ...


class BenchmarkError(ValueError):
    """The benchmark cannot run on these inputs; the message says why."""


@dataclass(frozen=True)
class Enrolled:
    """A gallery of real students padded with distractors; `names` covers the real ones only."""

    gallery: Gallery
    names: dict[int, str]
    real_embeddings: int
    rejected: dict[str, str]

    def describe(self) -> dict[str, Any]:
        return {
            "embeddings": len(self.gallery.embeddings),
            "real_embeddings": self.real_embeddings,
            "distractor_embeddings": len(self.gallery.embeddings) - self.real_embeddings,
            "students": sorted(self.names.values()),
            "rejected_photos": self.rejected,
        }


def folder_photos(folder: Path) -> dict[str, list[Path]]:
    """{person: photos} from a folder with one sub-folder per person (as `enrol_folder` reads it)."""
    if not folder.is_dir():
        raise BenchmarkError(f"{folder} is not a folder.")
    people = {
        person.name: sorted(p for p in person.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        for person in sorted(folder.iterdir())
        if person.is_dir() and not person.name.startswith(".")
    }
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise BenchmarkError(f"{folder} has no sub-folders with photos; expected one folder per person.")
    return people


def read_image(path: Path) -> np.ndarray:
    try:
        return photo_decode(path.read_bytes())
    except (OSError, ImageRejected) as exc:
        raise BenchmarkError(f"{path}: {exc}") from exc


def build_gallery(
    *,
    engine: FaceEngine,
    people: dict[str, list[Path]],
    rule: EnrolmentRule,
    size: int,
    seed: int,
    root: Path | None = None,
) -> Enrolled:
    """Enrol each photo as the app does (its one clear face, or rejected), then pad with distractors.

    Distractors are random unit vectors (fixed seed), one per made-up student: in 512 dimensions
    they lie about sqrt(2) from every face, far above the threshold, so they cost time but never
    change who is found.
    """
    rows: list[tuple[int, np.ndarray]] = []
    names: dict[int, str] = {}
    rejected: dict[str, str] = {}
    for student_id, (name, photos) in enumerate(sorted(people.items()), start=1):
        for path in photos:
            image = read_image(path)
            faces = engine.detect(image)
            reason = enrolment_face(faces, rule)[1]
            if reason:
                rejected[str(path.relative_to(root) if root else path)] = reason
                continue
            rows.append((student_id, engine.embed(image, faces[:1])[0]))
            names[student_id] = name
    if not rows:
        raise BenchmarkError("No enrolment photo was accepted: " + "; ".join(f"{k}: {v}" for k, v in rejected.items()))
    real = len(rows)
    vectors = np.random.default_rng(seed).standard_normal((max(size - real, 0), EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows.extend((FIRST_DISTRACTOR_ID + i, vector) for i, vector in enumerate(vectors))
    return Enrolled(gallery=Gallery.build(rows), names=names, real_embeddings=real, rejected=rejected)


def read_frames(path: Path, *, max_frames: int | None = None) -> list[bytes]:
    """Every frame of the video in order, as the page sends it: scaled to <= 640 px wide, JPEG."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BenchmarkError(f"{path}: not a video that OpenCV can read.")
    frames: list[bytes] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            height, width = bgr.shape[:2]
            if width > PAGE_MAX_FRAME_WIDTH:
                size = (PAGE_MAX_FRAME_WIDTH, round(height * PAGE_MAX_FRAME_WIDTH / width))
                bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
            ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PAGE_JPEG_QUALITY])
            if not ok:
                raise BenchmarkError(f"{path}: frame {len(frames)} could not be encoded as JPEG.")
            frames.append(encoded.tobytes())
    finally:
        capture.release()
    if not frames:
        raise BenchmarkError(f"{path}: no frames.")
    return frames


class _TimedEngine:
    """Passes detect and embed through to the engine, recording how long each took (ms).

    Lets the benchmark break our frame time down without touching `LiveRecognizer`.
    """

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine
        self.detect_ms = 0.0
        self.embed_ms = 0.0
        self.embedded = 0

    def detect(self, image: np.ndarray, *, min_face_px: int | None = None, max_side: int | None = None) -> list[Face]:
        start = time.perf_counter()
        try:
            return self.engine.detect(image, min_face_px=min_face_px, max_side=max_side)
        finally:
            self.detect_ms += (time.perf_counter() - start) * 1000

    def refine(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[Face]:
        start = time.perf_counter()
        try:
            return self.engine.refine(image, boxes)
        finally:
            self.detect_ms += (time.perf_counter() - start) * 1000

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self.engine.embed(image, faces)
        finally:
            self.embed_ms += (time.perf_counter() - start) * 1000
            self.embedded += len(faces)


@dataclass
class Timings:
    """Per-image wall and CPU times and the time spent in each stage, all in ms.

    CPU time is the whole process's (every torch thread): close to wall time x threads on an idle
    machine; wall time far above it means the process was waiting for a core.
    """

    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, float] = field(default_factory=dict)
    faces: int = 0
    embedded: int = 0

    @contextmanager
    def image(self) -> Iterator[None]:
        """Time the processing of one image."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.times_ms.append((time.perf_counter() - wall) * 1000)
            self.cpu_ms.append((time.process_time() - cpu) * 1000)

    def add_stage(self, stage: str, ms: float) -> None:
        self.stages_ms[stage] = self.stages_ms.get(stage, 0.0) + ms

    def summary(self) -> dict[str, Any]:
        times = np.asarray(self.times_ms)
        total = float(times.sum())
        count = len(times)
        return {
            "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
            "mean_ms": round(total / count, 1),
            "max_ms": round(float(times.max()), 1),
            "fps": round(count / (total / 1000), 2) if total else None,
            "cpu_p50_ms": round(float(np.percentile(self.cpu_ms, 50)), 1),
            "cpu_p95_ms": round(float(np.percentile(self.cpu_ms, 95)), 1),
            "faces": self.faces,
            "faces_embedded": self.embedded,
            "stages_mean_ms": {stage: round(ms / count, 1) for stage, ms in self.stages_ms.items()},
        }


@dataclass(frozen=True)
class Seen:
    """One face's outcome in either pipeline; `fresh` is False when ours reused a track's match."""

    student_id: int | None
    nearest_id: int | None
    distance: float | None
    fresh: bool = True
    box: tuple[float, float, float, float] | None = None


def found(faces: list[Seen]) -> set[int]:
    return {face.student_id for face in faces if face.student_id is not None}


class NaivePipeline:
    """The public write-ups' loop, run with the engine's own MTCNN and InceptionResnetV1."""

    def __init__(self, *, engine: FaceEngine, gallery: Gallery, threshold: float, min_probability: float) -> None:
        import torch

        self.mtcnn = engine.detector
        self.resnet = engine.embedder
        self.threshold = threshold
        self.min_probability = min_probability
        # A list of (student, tensor), as the write-ups keep their "embedding_list" and "name_list".
        ends = [*gallery.starts[1:].tolist(), len(gallery.embeddings)]
        self.stored: list[tuple[int, torch.Tensor]] = [
            (int(student_id), torch.from_numpy(gallery.embeddings[row].copy()))
            for student_id, start, end in zip(gallery.student_ids, gallery.starts.tolist(), ends, strict=True)
            for row in range(start, end)
        ]

    def process(self, image: np.ndarray, timings: Timings | None = None) -> list[Seen]:
        """Every clear face of one decoded RGB image, each matched on its own."""
        import torch

        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            if timings is not None:
                timings.add_stage(stage, (now - clock) * 1000)
            clock = now

        seen: list[Seen] = []
        with torch.no_grad():
            crops, probabilities = self.mtcnn(image, return_prob=True)
            lap("mtcnn_crops")
            boxes, _ = self.mtcnn.detect(image)
            lap("mtcnn_boxes")
            if crops is None or boxes is None:
                return seen
            for crop, probability, box in zip(crops, probabilities, boxes, strict=True):
                if probability < self.min_probability:
                    continue
                embedding = self.resnet(crop.unsqueeze(0))[0]
                lap("embed")
                nearest_id: int | None = None
                nearest = float("inf")
                for stored_id, stored in self.stored:
                    distance = (embedding - stored).norm().item()
                    if distance < nearest:
                        nearest_id, nearest = stored_id, distance
                lap("match")
                matched = nearest_id if nearest < self.threshold else None
                seen.append(
                    Seen(
                        student_id=matched,
                        nearest_id=nearest_id,
                        distance=nearest,
                        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                    )
                )
        if timings is not None:
            timings.faces += len(seen)
            timings.embedded += len(seen)
        return seen


def _decoded(data: bytes, decode: Callable[[bytes], np.ndarray], timings: Timings) -> np.ndarray:
    start = time.perf_counter()
    image = decode(data)
    timings.add_stage("decode", (time.perf_counter() - start) * 1000)
    return image


def _live_seen(face: LiveFace) -> Seen:
    return Seen(
        student_id=face.student_id,
        nearest_id=face.student_id if face.student_id is not None else face.candidate_id,
        distance=face.distance,
        fresh=face.fresh,
    )


def _differences(
    ours: list[list[Seen]], naive: list[list[Seen]], names: dict[int, str], labels: Iterable[int | str], *, kind: str
) -> dict[str, Any]:
    """Whether the two pipelines found the same students, and where single images differ, and why.

    `same_students`: the same people found over all the images, which is what attendance is
    decided from. Single frames can differ without changing it: tracking keeps a settled face's
    name on frames where its distance drifts a little over the threshold, and re-embeds a settled
    face only now and then. A difference is *held by tracking* when ours only adds students whose
    face was not embedded in that frame and naive finds nobody that ours misses.
    """

    def name(student_id: int | None) -> str | None:
        return None if student_id is None else names.get(student_id, "distractor")

    def face_json(face: Seen, *, with_fresh: bool) -> dict[str, Any]:
        described: dict[str, Any] = {
            "student": name(face.student_id),
            "nearest": name(face.nearest_id),
            "distance": None if face.distance is None else round(face.distance, 3),
        }
        if with_fresh:
            described["fresh"] = face.fresh
        return described

    differing: list[dict[str, Any]] = []
    held = 0
    for label, ours_faces, naive_faces in zip(labels, ours, naive, strict=True):
        ours_found, naive_found = found(ours_faces), found(naive_faces)
        if ours_found == naive_found:
            continue
        extra = ours_found - naive_found
        held += naive_found <= ours_found and all(not face.fresh for face in ours_faces if face.student_id in extra)
        differing.append(
            {
                kind: label,
                "ours": [face_json(face, with_fresh=True) for face in ours_faces],
                "naive": [face_json(face, with_fresh=False) for face in naive_faces],
            }
        )
    students_found = {
        "ours": sorted(names.get(i, "distractor") for i in set().union(*map(found, ours))),
        "naive": sorted(names.get(i, "distractor") for i in set().union(*map(found, naive))),
    }
    return {
        "same_students": students_found["ours"] == students_found["naive"],
        "students_found": students_found,
        "agreeing": len(ours) - len(differing),
        "differing": len(differing),
        "differing_held_by_tracking": held,
        "first_differences": differing[:10],
    }


def bench_video(
    *,
    engine: FaceEngine,
    make_recognizer: RecognizerFactory,
    frames: list[bytes],
    enrolled: Enrolled,
    progress: Progress,
) -> dict[str, Any]:
    naive = NaivePipeline(
        engine=engine,
        gallery=enrolled.gallery,
        threshold=settings.FACE_MATCH_THRESHOLD,
        min_probability=settings.FACE_MIN_PROBABILITY,
    )
    progress(f"Warming up on {min(WARMUP_FRAMES, len(frames))} frame(s)")
    warm = make_recognizer(engine=engine, gallery=enrolled.gallery)
    for data in frames[:WARMUP_FRAMES]:
        warm.process_frame(data)
        naive.process(decode_frame(data))

    timed = _TimedEngine(engine)
    recognizer = make_recognizer(engine=timed, gallery=enrolled.gallery)
    ours, theirs = Timings(), Timings()
    ours_seen: list[list[Seen]] = []
    naive_seen: list[list[Seen]] = []
    for index, data in enumerate(frames):
        before = timed.detect_ms + timed.embed_ms
        with ours.image():
            faces = recognizer.process_frame(data)
        ours.add_stage("decode_track_match", ours.times_ms[-1] - (timed.detect_ms + timed.embed_ms - before))
        ours.faces += len(faces)
        ours_seen.append([_live_seen(face) for face in faces])

        with theirs.image():
            naive_seen.append(naive.process(_decoded(data, decode_frame, theirs), theirs))
        if (index + 1) % 25 == 0 or index + 1 == len(frames):
            progress(
                f"Frame {index + 1}/{len(frames)}: ours {np.median(ours.times_ms):.0f} ms, "
                f"naive {np.median(theirs.times_ms):.0f} ms (medians so far)"
            )
    ours.stages_ms = {"detect": timed.detect_ms, "embed": timed.embed_ms, **ours.stages_ms}
    ours.embedded = timed.embedded
    return {
        "ours": ours.summary(),
        "naive": theirs.summary(),
        **_differences(ours_seen, naive_seen, enrolled.names, range(len(frames)), kind="frame"),
    }


def bench_photos(*, engine: FaceEngine, photos: list[Path], enrolled: Enrolled, progress: Progress) -> dict[str, Any]:
    """identify_faces (no tracking) against the naive pipeline, decoding included, photo by photo."""
    naive = NaivePipeline(
        engine=engine,
        gallery=enrolled.gallery,
        threshold=settings.FACE_MATCH_THRESHOLD,
        min_probability=settings.FACE_MIN_PROBABILITY,
    )
    datas = [path.read_bytes() for path in photos]

    def decode(data: bytes) -> np.ndarray:
        return photo_decode(data)

    progress(f"Photos: warming up, then timing {len(photos)} photo(s)")
    identify_faces(engine=engine, image=decode(datas[0]), gallery=enrolled.gallery)
    naive.process(decode(datas[0]))

    ours, theirs = Timings(), Timings()
    ours_seen: list[list[Seen]] = []
    naive_seen: list[list[Seen]] = []
    for data in datas:
        with ours.image():
            identified = identify_faces(engine=engine, image=_decoded(data, decode, ours), gallery=enrolled.gallery)
        ours.faces += len(identified)
        ours.embedded += len(identified)
        ours_seen.append(
            [
                Seen(student_id=f.match.student_id, nearest_id=f.match.nearest_student_id, distance=f.match.distance)
                for f in identified
            ]
        )

        with theirs.image():
            naive_seen.append(naive.process(_decoded(data, decode, theirs), theirs))

    ours_summary, naive_summary = ours.summary(), theirs.summary()
    differences = _differences(ours_seen, naive_seen, enrolled.names, (path.name for path in photos), kind="photo")
    return {
        "count": len(photos),
        "ours": ours_summary,
        "naive": naive_summary,
        "speedup": round(naive_summary["p50_ms"] / ours_summary["p50_ms"], 2),
        # Photos are not tracked: each one must give the same students in both pipelines.
        "same_results": differences["differing"] == 0,
        **differences,
        "found": {
            path.name: sorted(enrolled.names.get(i, "distractor") for i in found(seen))
            for path, seen in zip(photos, ours_seen, strict=True)
        },
        "gallery": enrolled.describe(),
    }


def run_benchmark(
    *,
    engine: FaceEngine,
    make_recognizer: RecognizerFactory,
    rule: EnrolmentRule,
    video: Path,
    people: dict[str, list[Path]],
    people_root: Path,
    probe: Path | None,
    probe_enroll: Path,
    max_frames: int | None = None,
    gallery_size: int = 1000,
    seed: int = 0,
    progress: Progress = lambda message: None,
) -> dict[str, Any]:
    """The whole benchmark as a JSON-ready dict (see the module docstring): `people` (photos per
    person, paths under `people_root`) enrolled with `rule` and looked for in `video`, then the
    photos of `probe` among the people of `probe_enroll`; `probe=None` skips photos."""
    import torch

    load_before = os.getloadavg()
    progress(f"Reading {video}")
    frames = read_frames(video, max_frames=max_frames)
    height, width = decode_frame(frames[0]).shape[:2]

    progress(f"Enrolling {len(people)} people, padding the gallery to {gallery_size} embeddings")
    enrolled = build_gallery(engine=engine, people=people, rule=rule, size=gallery_size, seed=seed, root=people_root)
    video_result = bench_video(
        engine=engine, make_recognizer=make_recognizer, frames=frames, enrolled=enrolled, progress=progress
    )
    ours, naive = video_result["ours"], video_result["naive"]

    result: dict[str, Any] = {
        "video": str(video),
        "frames": len(frames),
        "frame_size": f"{width}x{height}",
        "faces": ours["faces"],
        "ours": ours,
        "naive": naive,
        "speedup": round(naive["p50_ms"] / ours["p50_ms"], 2),
        "goal": {
            "speedup_at_least": GOAL_SPEEDUP,
            "ours_p95_under_ms": GOAL_P95_MS,
            "met": naive["p50_ms"] / ours["p50_ms"] >= GOAL_SPEEDUP and ours["p95_ms"] < GOAL_P95_MS,
        },
        # The same students found over the clip (see `_differences` and docs/benchmark.md).
        "same_results": video_result["same_students"],
        "frames_agreeing": video_result["agreeing"],
        "frames_differing": video_result["differing"],
        "frames_differing_held_by_tracking": video_result["differing_held_by_tracking"],
        "first_differences": video_result["first_differences"],
        "students_found": video_result["students_found"],
        "gallery": enrolled.describe(),
    }
    if probe is not None:
        photos = sorted(p for p in probe.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise BenchmarkError(f"{probe}: no photos.")
        photo_enrolled = build_gallery(
            engine=engine,
            people=folder_photos(probe_enroll),
            rule=rule,
            size=gallery_size,
            seed=seed,
            root=probe_enroll,
        )
        result["photos"] = bench_photos(engine=engine, photos=photos, enrolled=photo_enrolled, progress=progress)
    result["settings"] = {
        "torch_threads": torch.get_num_threads(),
        "match_threshold": settings.FACE_MATCH_THRESHOLD,
        "min_probability": settings.FACE_MIN_PROBABILITY,
        "mtcnn_min_face_size": engine.detector.min_face_size,
        "detection_max_side": engine.detection_max_side,
        "live_min_face_px": settings.FACE_LIVE_MIN_FACE_PX,
        "live_max_embeds_per_frame": settings.FACE_LIVE_MAX_EMBEDS_PER_FRAME,
        "jpeg_quality": PAGE_JPEG_QUALITY,
    }
    result["load_average"] = {
        "before": [round(v, 2) for v in load_before],
        "after": [round(v, 2) for v in os.getloadavg()],
    }
    return result
