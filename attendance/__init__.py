"""The Django project package and the attendance app (courses, sessions, records)."""

from __future__ import annotations

from attendance.celery import app as celery_app

__all__ = ["celery_app"]
