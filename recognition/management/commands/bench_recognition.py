"""Time live recognition against the naive pipeline of the public write-ups; JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.live import recognizer
from recognition.benchmark import DEFAULT_PROBE, DEFAULT_PROBE_ENROLL, DEFAULT_VIDEO, BenchmarkError, run_benchmark
from recognition.engine import FaceModelUnavailable, get_engine


class Command(BaseCommand):
    help = (
        "Per-frame time (p50, p95, fps) of our live recognition and of the naive pipeline on the same "
        "frames of a video, and on photos, with whether both found the same students. Uses an in-memory "
        "gallery padded with distractors; never touches the database. Progress on stderr, JSON on stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help=f"Video file ({DEFAULT_VIDEO}).")
        parser.add_argument(
            "--enroll",
            type=Path,
            help="Folder with one sub-folder of photos per person (default: the two people of the shared clip).",
        )
        parser.add_argument("--probe", type=Path, default=DEFAULT_PROBE, help=f"Photos to time ({DEFAULT_PROBE}).")
        parser.add_argument(
            "--probe-enroll",
            type=Path,
            default=DEFAULT_PROBE_ENROLL,
            help=f"Folder of people to find in the photos ({DEFAULT_PROBE_ENROLL}).",
        )
        parser.add_argument("--no-photos", action="store_true", help="Skip the photos section.")
        parser.add_argument("--max-frames", type=int, help="Use only the first N frames of the video.")
        parser.add_argument(
            "--gallery-size", type=int, default=1000, help="Pad the gallery to this many embeddings (1000)."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the distractor embeddings (0).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_frames"] is not None and options["max_frames"] < 1:
            raise CommandError("--max-frames must be at least 1.")
        try:
            result = run_benchmark(
                engine=get_engine(),
                make_recognizer=recognizer,
                video=options["video"],
                enroll=options["enroll"],
                probe=None if options["no_photos"] else options["probe"],
                probe_enroll=options["probe_enroll"],
                max_frames=options["max_frames"],
                gallery_size=options["gallery_size"],
                seed=options["seed"],
                progress=self.stderr.write,
            )
        except (FaceModelUnavailable, BenchmarkError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, indent=2))
