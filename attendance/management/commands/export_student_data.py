"""Everything stored about one student, as JSON (a data subject access request)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attendance.privacy import student_data_export
from students.models import Student


class Command(BaseCommand):
    help = "Print everything stored about one student (records, photo metadata) as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("student_number")

    def handle(self, *args: Any, **options: Any) -> None:
        student = Student.objects.filter(student_number=options["student_number"]).first()
        if student is None:
            raise CommandError(f"No student with number {options['student_number']!r}.")
        self.stdout.write(json.dumps(student_data_export(student=student), indent=2, ensure_ascii=False))
