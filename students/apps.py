from __future__ import annotations

from django.apps import AppConfig


class StudentsConfig(AppConfig):
    name = "students"
    verbose_name = "Students and photos"

    def ready(self) -> None:
        from students import receivers  # noqa: F401
