"""Print who the system sees in each image: one JSON object per image, one per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.selectors import course_student_ids
from recognition.engine import FaceModelUnavailable, get_engine
from recognition.identify import identify_faces
from recognition.images import ImageRejected
from students.images import photo_decode
from students.models import Student
from students.selectors import gallery_for


class Command(BaseCommand):
    help = "Detect faces in images and match them against students with ready photos."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("images", nargs="+", type=Path)
        parser.add_argument("--course", help="Match only against this course's students (course code).")

    def handle(self, *args: Any, **options: Any) -> None:
        student_ids = None
        if options["course"]:
            student_ids = course_student_ids(code=options["course"])
            if student_ids is None:
                raise CommandError(f"No course with code {options['course']!r}.")
        try:
            engine = get_engine()
        except FaceModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        gallery = gallery_for(model_id=engine.model_id, student_ids=student_ids)
        numbers = dict(Student.objects.filter(pk__in=gallery.student_ids.tolist()).values_list("pk", "student_number"))

        for path in options["images"]:
            result: dict[str, Any] = {"image": str(path)}
            try:
                image = photo_decode(path.read_bytes())
            except (OSError, ImageRejected) as exc:
                result["error"] = str(exc)
            else:
                result["faces"] = [
                    {
                        "box": [round(v, 1) for v in found.face.box],
                        "probability": round(found.face.probability, 4),
                        "student_number": numbers.get(found.match.student_id) if found.match.student_id else None,
                        "distance": None if found.match.distance is None else round(found.match.distance, 4),
                    }
                    for found in identify_faces(engine=engine, image=image, gallery=gallery)
                ]
            self.stdout.write(json.dumps(result))
