"""Celery tasks of the attendance app: the periodic attendance alerts (CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import dataclasses

from celery import shared_task
from django.utils import timezone

from attendance.alerts import alerts_run
from students.tasks import RETRIED


@shared_task(autoretry_for=RETRIED, retry_backoff=True, max_retries=3)
def send_attendance_alerts() -> dict[str, int]:
    """Open, email about and end attendance alerts (attendance.alerts); what it did, in numbers.

    Celery beat runs it every ATTENDANCE_ALERTS_EVERY_SECONDS. A retry after a database error
    sends nothing twice: each alert's emails commit with the alert.
    """
    return dataclasses.asdict(alerts_run(now=timezone.now()))
