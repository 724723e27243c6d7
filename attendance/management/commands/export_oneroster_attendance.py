"""Attendance from one date to another as CSV keyed by the OneRoster sourcedIds (attendance/oneroster_export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.oneroster_export import MAX_DAYS, attendance_csv_write, export_range
from config.web import ApplicationError


class Command(BaseCommand):
    help = (
        "Write the attendance of closed sessions from one date to the other (YYYY-MM-DD, at most "
        f"{MAX_DAYS} days) as CSV with the classes' and students' OneRoster sourcedIds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="first", required=True, help="The first date, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last", required=True, help="The last date, YYYY-MM-DD.")
        parser.add_argument("--output", type=Path, help="The CSV file to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            first, last = export_range(first=options["first"], last=options["last"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        output: Path | None = options["output"]
        if output is None:
            attendance_csv_write(self.stdout, first=first, last=last)
            return
        try:
            with output.open("w", newline="", encoding="utf-8") as out:
                count = attendance_csv_write(out, first=first, last=last)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        self.stderr.write(f"{count:,} line(s) written to {output}.")
