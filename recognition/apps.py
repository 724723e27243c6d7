from __future__ import annotations

from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    """Face detection, embedding and matching. Models load lazily, never at import."""

    name = "recognition"
    verbose_name = "Face recognition"
