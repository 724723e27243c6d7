"""Delete photos and embeddings of students inactive for PHOTO_RETENTION_DAYS days."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from attendance.privacy import students_purge_inactive


class Command(BaseCommand):
    help = "Delete photos and embeddings of students inactive for the retention period (PHOTO_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Override PHOTO_RETENTION_DAYS.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.PHOTO_RETENTION_DAYS
        students, photos = students_purge_inactive(days=days)
        self.stdout.write(
            f"Purged {photos} photo(s) and their embeddings of {students} student(s) inactive for {days} days."
        )
