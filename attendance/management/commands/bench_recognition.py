"""Time live recognition against the naive pipeline of the public write-ups; JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.live import recognizer
from benchmarks.classroom import run_classroom_benchmark
from benchmarks.video import BenchmarkError, folder_photos, run_benchmark
from recognition.engine import FaceModelUnavailable, get_engine
from students.services import enrolment_rule

# The shared samples beside the repository (see DEVELOPERS.md); every path can be given instead.
FACES = Path(settings.BASE_DIR).parent / "shared" / "faces"
DEFAULT_VIDEO = FACES / "video" / "short_hamilton_clip.mp4"
DEFAULT_VIDEO_PEOPLE = {
    "lin_manuel_miranda": [FACES / "video" / "lin-manuel-miranda.png"],
    "alex_lacamoire": [FACES / "video" / "alex-lacamoire.png"],
}
DEFAULT_PROBE = FACES / "probe"
DEFAULT_CLASSROOM = FACES / "classroom"
DEFAULT_PROBE_ENROLL = FACES / "enroll"


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
        parser.add_argument(
            "--classroom",
            type=Path,
            default=DEFAULT_CLASSROOM,
            help=f"The classroom set: enroll/, video/ and truth.json ({DEFAULT_CLASSROOM}).",
        )
        parser.add_argument(
            "--classroom-resolutions",
            default="720p,1080p",
            help="Classroom videos to play, comma-separated (720p,1080p); empty to skip the classroom.",
        )
        parser.add_argument(
            "--classroom-seconds", type=float, default=30.0, help="Seconds of classroom video per pipeline (30)."
        )
        parser.add_argument("--no-clip", action="store_true", help="Skip the single-face clip and the photos.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["max_frames"] is not None and options["max_frames"] < 1:
            raise CommandError("--max-frames must be at least 1.")
        if options["classroom_seconds"] <= 0:
            raise CommandError("--classroom-seconds must be positive.")
        resolutions = [name.strip() for name in options["classroom_resolutions"].split(",") if name.strip()]
        result: dict[str, Any] = {}
        try:
            if not options["no_clip"]:
                result = self.clip_benchmark(options)
            if resolutions:
                result["classroom"] = run_classroom_benchmark(
                    engine=get_engine(),
                    make_recognizer=recognizer,
                    rule=enrolment_rule(),
                    classroom=options["classroom"],
                    resolutions=resolutions,
                    seconds=options["classroom_seconds"],
                    progress=self.stderr.write,
                )
        except (FaceModelUnavailable, BenchmarkError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(result, indent=2))

    def clip_benchmark(self, options: dict[str, Any]) -> dict[str, Any]:
        return run_benchmark(
            engine=get_engine(),
            make_recognizer=recognizer,
            rule=enrolment_rule(),
            video=options["video"],
            people=folder_photos(options["enroll"]) if options["enroll"] else DEFAULT_VIDEO_PEOPLE,
            people_root=options["enroll"] or FACES,
            probe=None if options["no_photos"] else options["probe"],
            probe_enroll=options["probe_enroll"],
            max_frames=options["max_frames"],
            gallery_size=options["gallery_size"],
            seed=options["seed"],
            progress=self.stderr.write,
        )
