"""The Django project: settings, root URLs, the ASGI application and the Celery app.

The Celery app is imported here so that `shared_task` in the apps binds to it whenever Django
starts (Celery's documented layout for Django projects).
"""

from __future__ import annotations

from config.celery import app as celery_app

__all__ = ["celery_app"]
