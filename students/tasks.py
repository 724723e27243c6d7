"""Celery tasks for enrolment photos. They take ids and call students.services."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from students import services
from students.models import StudentPhoto

RETRIED = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=RETRIED,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def photo_embed_task(photo_id: int) -> str:
    """Embed one photo; returns its final status. A photo deleted meanwhile is skipped."""
    photo = StudentPhoto.objects.filter(pk=photo_id).select_related("student").first()
    if photo is None:
        return "deleted"
    try:
        return services.photo_enrol(photo=photo).status
    except StudentPhoto.DoesNotExist:
        # Deleted while its face was being embedded (consent withdrawn, student deleted).
        return "deleted"


@shared_task(autoretry_for=RETRIED, retry_backoff=True, max_retries=3)
def photos_requeue_stale() -> int:
    """Queue again every photo pending for over PHOTO_PENDING_STALE_SECONDS; how many were.

    A photo stays pending forever if its task is lost (a broker flushed, a message dropped). Celery
    beat runs this every few minutes (CELERY_BEAT_SCHEDULE). In the embedded eager mode (no
    REDIS_URL) there is no beat and nothing runs it: each photo is embedded in-process when its
    row commits, so only a process that dies meanwhile leaves one pending. Called there by hand it
    embeds the stale photos one after the other in the caller's process, each at most once per
    call: the service works on the list of ids it read first and never queues itself again.
    """
    stale = datetime.timedelta(seconds=settings.PHOTO_PENDING_STALE_SECONDS)
    return len(services.photos_requeue_stale(older_than=stale))


@shared_task(autoretry_for=RETRIED, retry_backoff=True, max_retries=3)
def photos_delete_expired_files() -> int:
    """Delete the files of photos rejected (or, with REQUIRE_CONSENT, of students without consent)
    over PHOTO_REJECTED_FILE_HOURS ago; how many were.

    Celery beat runs this every hour (CELERY_BEAT_SCHEDULE). In the embedded eager mode (no
    REDIS_URL) there is no beat: run `manage.py delete_expired_photo_files` from cron or a systemd
    timer instead (it calls the same service in its own process).
    """
    hours = datetime.timedelta(hours=settings.PHOTO_REJECTED_FILE_HOURS)
    return len(services.photos_delete_expired_files(older_than=hours))
