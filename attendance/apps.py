from __future__ import annotations

from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "attendance"
    verbose_name = "Courses and attendance"

    def ready(self) -> None:
        from attendance import receivers  # noqa: F401
