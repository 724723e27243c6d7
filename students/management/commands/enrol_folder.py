"""Enrol a folder of photos: DIR/<student number>/<photos>, names from an optional DIR/students.csv."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.web import ApplicationError
from students.consent import student_record_consent
from students.models import StudentPhoto
from students.services import photo_create, student_get_or_create
from students.student_import import STUDENT_NUMBER_MAX, students_csv_read

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class Command(BaseCommand):
    help = (
        "Enrol students from a folder with one sub-folder per student, named by student number. "
        "Students that do not exist are created (names from DIR/students.csv if present). Waits for "
        "every photo to be checked and prints a summary. Running it again adds nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument(
            "--consent-given",
            action="store_true",
            help="Record that the school holds these students' consent to face recognition.",
        )
        parser.add_argument("--timeout", type=int, default=600, help="Seconds to wait for the photos (600).")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        names = read_students_csv(folder / "students.csv")
        student_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not student_dirs:
            raise CommandError(f"{folder} has no sub-folders; expected one folder per student number.")

        jobs: list[tuple[Path, Path]] = []
        for student_dir in student_dirs:
            if len(student_dir.name) > STUDENT_NUMBER_MAX:
                self.stderr.write(
                    f"Skipped {student_dir.name}: a student number has at most {STUDENT_NUMBER_MAX} characters."
                )
                continue
            files = sorted(p for p in student_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            jobs.extend((student_dir, path) for path in files)

        photo_ids: list[int] = []
        refused: list[str] = []
        counts: Counter[str] = Counter()
        for student_dir, path in tqdm(jobs, desc="Uploading", unit="photo", file=self.stderr):
            number = student_dir.name
            student, created = student_get_or_create(student_number=number, **names.get(number, {}))
            counts["students created"] += created
            if options["consent_given"]:
                student_record_consent(student=student)
            try:
                photo, was_created = photo_create(student=student, data=path.read_bytes())
            except (ApplicationError, OSError) as exc:
                refused.append(f"{path.relative_to(folder)}: {exc}")
                continue
            if was_created:
                photo_ids.append(photo.pk)
            else:
                counts["already enrolled"] += 1

        self.wait_for(photo_ids, timeout=options["timeout"])
        self.print_summary(folder, photo_ids, refused, counts)

    def wait_for(self, photo_ids: list[int], *, timeout: int) -> None:
        pending = StudentPhoto.objects.filter(pk__in=photo_ids, status=StudentPhoto.Status.PENDING)
        deadline = time.monotonic() + timeout
        with tqdm(total=len(photo_ids), desc="Checking faces", unit="photo", file=self.stderr) as bar:
            while True:
                done = len(photo_ids) - pending.count()
                bar.update(done - bar.n)
                if done == len(photo_ids):
                    return
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"{len(photo_ids) - done} photo(s) still pending after {timeout} s: is a Celery worker "
                        "running? They will be processed when one is; run this command again to see the summary."
                    )
                time.sleep(0.5)

    def print_summary(self, folder: Path, photo_ids: list[int], refused: list[str], counts: Counter[str]) -> None:
        photos = (
            StudentPhoto.objects.filter(pk__in=photo_ids).select_related("student").order_by("student__student_number")
        )
        by_status = Counter(photo.status for photo in photos)
        self.stdout.write(
            f"Students created: {counts['students created']}. Photos ready: {by_status['ready']}, "
            f"to review: {by_status['review']}, "
            f"rejected: {by_status['rejected']}, failed: {by_status['failed']}, refused: {len(refused)}, "
            f"already enrolled: {counts['already enrolled']}."
        )
        for photo in photos:
            if photo.status != StudentPhoto.Status.READY:
                self.stdout.write(
                    f"  {photo.status}: {photo.student.student_number} (photo {photo.pk}): {photo.reason}"
                )
        for line in refused:
            self.stdout.write(f"  refused: {line}")


def read_students_csv(path: Path) -> dict[str, dict[str, str]]:
    """{number: {first_name, last_name, email}} from the optional CSV, read by the admin import's
    rules; a file with any error stops the command before anything is stored."""
    if not path.exists():
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read ({exc}).") from exc
    rows, errors = students_csv_read(data)
    if errors:
        shown = [f"Line {error.line}: {error.message}" if error.line else error.message for error in errors[:10]]
        more = f" And {len(errors) - 10} more error(s)." if len(errors) > 10 else ""
        raise CommandError(f"{path}: {' '.join(shown)}{more}")
    return {
        row.student_number: {"first_name": row.first_name, "last_name": row.last_name, "email": row.email}
        for row in rows
    }
