"""The classroom benchmark: a whole class on the shared classroom video, played as a webcam would.

Three pipelines see the same video side by side, in one run, interleaved frame by frame so that
load from other processes falls on all alike:

- *ours*: the recognizer the websocket runs (`attendance.live.recognizer`: the app's settings);
- *previous*: the same code with the previous release's live settings, as far as they still apply
  (frames scaled to 640 px wide as the old page sent them, faces under 40 px not looked for, the
  whole frame searched every frame, at most 4 faces embedded a frame, no margin rule);
- *naive*: the public write-ups' loop (`benchmarks.video.NaivePipeline`), which marks a student on one
  match.

Each pipeline has its own clock, as a browser sending one frame at a time would: the next frame
it gets is the one the video shows when its last answer is ready (so a slow pipeline skips
frames). Truth comes from `truth.json`: each face's box and student number per frame, and the
students in view. Reported per pipeline: per-frame p50/p95 ms and CPU ms, faces detected against
the faces in truth per row, faces named right and wrong per row, the students confirmed (marked)
with the seconds it took, and any student marked who is not in view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from django.conf import settings

from benchmarks.video import (
    PAGE_JPEG_QUALITY,
    BenchmarkError,
    NaivePipeline,
    RecognizerFactory,
    Timings,
    build_gallery,
    folder_photos,
)
from recognition.engine import FaceEngine
from recognition.live import LiveRecognizer, decode_frame
from recognition.matching import Gallery, MatchRule
from recognition.quality import EnrolmentRule
from recognition.tracking import iou

Progress = Callable[[str], None]
TRUTH_IOU = 0.4
PREVIOUS_FRAME_WIDTH = 640


@dataclass(frozen=True)
class ClassroomVideo:
    """One resolution of the classroom video: JPEG frames as the page sends them, and their truth."""

    name: str
    fps: float
    frames: list[bytes]
    truth: list[list[dict[str, Any]]]  # per frame: faces with "box", "row" and "id"
    students_visible: set[str]


def load_video(classroom: Path, resolution: str) -> ClassroomVideo:
    truth = json.loads((classroom / "truth.json").read_text())
    videos = {name: video for name, video in truth["video"].items() if isinstance(video, dict) and "mp4" in video}
    video = videos.get(resolution)
    if video is None:
        raise BenchmarkError(f"truth.json has no video at {resolution}; it has {sorted(videos)}.")
    capture = cv2.VideoCapture(str(classroom / video["mp4"]))
    frames: list[bytes] = []
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PAGE_JPEG_QUALITY])[1].tobytes())
    finally:
        capture.release()
    if len(frames) != len(video["frames"]):
        raise BenchmarkError(f"{video['mp4']}: {len(frames)} frames, but truth.json describes {len(video['frames'])}.")
    return ClassroomVideo(
        name=resolution,
        fps=float(video["fps"]),
        frames=frames,
        truth=[frame["faces"] for frame in video["frames"]],
        students_visible=set(truth["video"]["students_visible"]),
    )


@dataclass
class Tally:
    """What one pipeline did over the run."""

    name: str
    process: Callable[[bytes], list[tuple[tuple[float, float, float, float], int | None]]]
    # The student ids a pipeline marks from one frame's named faces.
    clock: float = 0.0
    timings: Timings = field(default_factory=Timings)
    frames_seen: int = 0
    per_row: dict[int, dict[str, int]] = field(default_factory=dict)
    confirmed_at: dict[str, float] = field(default_factory=dict)

    def row(self, row: int) -> dict[str, int]:
        return self.per_row.setdefault(row, {"faces": 0, "detected": 0, "named_right": 0, "named_wrong": 0})

    def take(self, video: ClassroomVideo, index: int, numbers: dict[int, str]) -> None:
        """Process frame `index` and score it against the truth."""
        with self.timings.image():
            faces = self.process(video.frames[index])
        self.frames_seen += 1
        self.clock += self.timings.times_ms[-1] / 1000
        truth = video.truth[index]
        for expected in truth:
            self.row(expected["row"])["faces"] += 1
        for box, student_id in faces:
            best = max(truth, key=lambda expected: iou(expected["box"], box), default=None)
            on_truth = best is not None and iou(best["box"], box) >= TRUTH_IOU
            if on_truth and best is not None:
                self.row(best["row"])["detected"] += 1
            if student_id is None:
                continue
            number = numbers.get(student_id)
            right = on_truth and best is not None and number == best["id"]
            self.row(best["row"] if on_truth and best is not None else 0)[
                "named_right" if right else "named_wrong"
            ] += 1
            if number is not None:
                self.confirmed_at.setdefault(number, round(self.clock, 2))

    def summary(self, video: ClassroomVideo) -> dict[str, Any]:
        visible = video.students_visible
        times = sorted(seconds for number, seconds in self.confirmed_at.items() if number in visible)

        def within(share: float) -> float | None:
            needed = int(np.ceil(share * len(visible)))
            return times[needed - 1] if len(times) >= needed else None

        return {
            **self.timings.summary(),
            "frames_processed": self.frames_seen,
            "per_row": {str(row): counts for row, counts in sorted(self.per_row.items())},
            "students_in_view": len(visible),
            "students_confirmed": len(times),
            "seconds_to_confirm_90_percent": within(0.9),
            "seconds_to_confirm_each": dict(sorted(self.confirmed_at.items())),
            "not_confirmed": sorted(visible - set(self.confirmed_at)),
            "marked_not_in_view": sorted(set(self.confirmed_at) - visible),
        }


def run_classroom_benchmark(
    *,
    engine: FaceEngine,
    make_recognizer: RecognizerFactory,
    rule: EnrolmentRule,
    classroom: Path,
    resolutions: list[str],
    seconds: float,
    progress: Progress,
) -> dict[str, Any]:
    """Each resolution's video through the three pipelines for `seconds` of (looped) video time."""
    people = folder_photos(classroom / "enroll")
    enrolled = build_gallery(engine=engine, people=people, rule=rule, size=0, seed=0, root=classroom)
    numbers = enrolled.names  # the enrol folders are named by student number
    results: dict[str, Any] = {"gallery": enrolled.describe(), "video_seconds": seconds}
    for resolution in resolutions:
        video = load_video(classroom, resolution)
        progress(f"Classroom video {resolution}: {len(video.frames)} frames, {seconds:.0f} s each pipeline…")
        tallies = _pipelines(engine=engine, make_recognizer=make_recognizer, gallery=enrolled.gallery)
        while True:
            waiting = [tally for tally in tallies if tally.clock < seconds]
            if not waiting:
                break
            for tally in waiting:
                index = int(tally.clock * video.fps) % len(video.frames)
                tally.take(video, index, numbers)
        results[resolution] = {tally.name: tally.summary(video) for tally in tallies}
        ours = results[resolution]["ours"]
        progress(
            f"  ours: p50 {ours['p50_ms']} ms, p95 {ours['p95_ms']} ms, {ours['students_confirmed']} of "
            f"{ours['students_in_view']} confirmed, 90% after {ours['seconds_to_confirm_90_percent']} s, "
            f"marked not in view: {ours['marked_not_in_view']}"
        )
    return results


def _pipelines(*, engine: FaceEngine, make_recognizer: RecognizerFactory, gallery: Gallery) -> list[Tally]:
    ours = make_recognizer(engine=engine, gallery=gallery)
    previous = LiveRecognizer(
        engine=engine,
        gallery=gallery,
        rule=MatchRule(threshold=settings.FACE_MATCH_THRESHOLD),
        uncertain_band=settings.FACE_UNCERTAIN_BAND,
        min_probability=settings.FACE_MIN_PROBABILITY,
        min_face_px=40,
        max_embeds_per_frame=4,
        confirm_after=2,
        confirm_after_small=2,
    )
    naive = NaivePipeline(
        engine=engine,
        gallery=gallery,
        threshold=settings.FACE_MATCH_THRESHOLD,
        min_probability=settings.FACE_MIN_PROBABILITY,
    )

    def run_ours(data: bytes) -> list[tuple[tuple[float, float, float, float], int | None]]:
        return [(face.box, face.student_id) for face in ours.process_frame(data)]

    def run_previous(data: bytes) -> list[tuple[tuple[float, float, float, float], int | None]]:
        image = decode_frame(data)
        height, width = image.shape[:2]
        scale = min(1.0, PREVIOUS_FRAME_WIDTH / width)
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        return [
            ((face.box[0] / scale, face.box[1] / scale, face.box[2] / scale, face.box[3] / scale), face.student_id)
            for face in previous.process(small)
        ]

    def run_naive(data: bytes) -> list[tuple[tuple[float, float, float, float], int | None]]:
        return [(face.box, face.student_id) for face in naive.process(decode_frame(data)) if face.box is not None]

    return [Tally("ours", run_ours), Tally("previous", run_previous), Tally("naive", run_naive)]
