"""Delete the files of rejected photos, and of photos of students without consent, once expired."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from students.services import photos_delete_expired_files


class Command(BaseCommand):
    help = (
        "Delete the image files of photos rejected (and, with REQUIRE_CONSENT, of photos of students without "
        "recorded consent) more than PHOTO_REJECTED_FILE_HOURS ago; the photos keep their reasons. Celery beat "
        "runs this hourly; without REDIS_URL (no beat) run it from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=int,
            default=None,
            help="Delete the files of photos unchanged this long instead (0: all of them now).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hours = settings.PHOTO_REJECTED_FILE_HOURS if options["hours"] is None else options["hours"]
        if hours < 0:
            raise CommandError("--hours must be 0 or more.")
        deleted = photos_delete_expired_files(older_than=datetime.timedelta(hours=hours))
        self.stdout.write(f"Deleted the files of {len(deleted)} photo(s); their rows and reasons are kept.")
