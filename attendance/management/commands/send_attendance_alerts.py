"""Send the attendance alerts due now (what celery beat runs), e.g. from cron without Redis."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from attendance.alerts import alerts_run


class Command(BaseCommand):
    help = "Open, email about and end attendance alerts as of now; prints what it did."

    def handle(self, *args: Any, **options: Any) -> None:
        done = dataclasses.asdict(alerts_run(now=timezone.now()))
        self.stdout.write(", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in done.items()))
