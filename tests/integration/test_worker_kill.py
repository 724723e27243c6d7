"""A Celery worker killed (SIGKILL) while it embeds a photo: the next worker embeds it, once.

The task is acknowledged late, so the message of a worker that dies mid-task stays in Redis'
unacknowledged set; after the visibility timeout (CELERY_VISIBILITY_TIMEOUT, 60 s here, the
least allowed) a running worker puts it back in the queue. Embedding only ever finishes a
pending photo, so however often the task runs the photo is finished once.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import requests
from django.contrib.auth.models import User
from django.utils import timezone
from knox.models import AuthToken

from students.models import Student, StudentPhoto
from tests.faces import FACES
from tests.integration.processes import RunningProcess, child_pids, wait_for_log

pytestmark = pytest.mark.integration

VISIBILITY_TIMEOUT = 60
# Kombu 5.7 looks for unacknowledged messages past their timeout only every 100 s (its
# unacked_restore_interval of 10 s times unacked_restore_throttle of 10), the first time 10 s
# after the worker starts.
REDELIVERY_DEADLINE = VISIBILITY_TIMEOUT + 150
# Once the task is acknowledged nothing can bring it back; the photo must not change meanwhile.
SETTLED_SECONDS = 5
RECEIVED = r"Task students\.tasks\.photo_embed_task\[(?P<id>[0-9a-f-]{36})\] received"


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its new parent counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def photo_state(photo_id: int) -> tuple[object, ...]:
    return tuple(
        StudentPhoto.objects.filter(pk=photo_id).values_list(
            "status", "reason", "embedding", "embedding_model", "processed_at", "updated_at"
        )[0]
    )


def test_a_photo_whose_worker_is_killed_mid_task_is_embedded_once_by_the_next_worker(
    transactional_db: None,
    asgi_server: Callable[..., str],
    celery_workers: Callable[..., RunningProcess],
    integration_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    timeout = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    base_url = asgi_server(**timeout)
    first = celery_workers(**timeout)
    admin = User.objects.create_user("enrolment-admin", is_staff=True, is_superuser=True)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {AuthToken.objects.create(user=admin)[1]}"
    student = Student.objects.create(
        student_number="S100", first_name="Barack", last_name="Obama", consent_given_at=timezone.now()
    )
    broker = redis.Redis.from_url(integration_env["REDIS_URL"])

    path = FACES / "enroll" / "obama" / "obama.jpg"
    response = api.post(
        f"{base_url}/api/students/{student.pk}/photos/",
        files={"image": (path.name, path.read_bytes(), "image/jpeg")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    photo_id = response.json()["id"]

    # The worker's first photo loads the model first (seconds): a moment after the task is
    # received, its pool process is well inside it.
    task_id = wait_for_log(first, RECEIVED, timeout=60)["id"]
    (child,) = child_pids(first.popen.pid)
    time.sleep(1)
    assert StudentPhoto.objects.get(pk=photo_id).status == StudentPhoto.Status.PENDING, (
        "the worker finished the photo before it could be killed"
    )
    os.kill(first.popen.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()
    first.popen.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not gone(child):
        assert time.monotonic() < deadline, f"pool process {child} still running"
        time.sleep(0.05)
    assert StudentPhoto.objects.get(pk=photo_id).status == StudentPhoto.Status.PENDING
    assert broker.hlen("unacked") == 1, "the killed worker's task is not held for redelivery"

    second = celery_workers(**timeout)
    wait_for_log(second, RECEIVED.replace("(?P<id>[0-9a-f-]{36})", re.escape(task_id)), timeout=REDELIVERY_DEADLINE)
    redelivered_after = time.monotonic() - killed_at
    wait_for_log(
        second,
        rf"Task students\.tasks\.photo_embed_task\[{re.escape(task_id)}\] succeeded in [0-9.]+s: 'ready'",
        timeout=120,
    )
    ready_after = time.monotonic() - killed_at

    photo = StudentPhoto.objects.get(pk=photo_id)
    assert photo.status == StudentPhoto.Status.READY, (photo.status, photo.reason)
    assert photo.embedding is not None
    assert len(bytes(photo.embedding)) == 512 * 4
    assert photo.processed_at is not None
    assert StudentPhoto.objects.filter(student=student).count() == 1
    final = photo_state(photo_id)

    time.sleep(SETTLED_SECONDS)
    assert photo_state(photo_id) == final
    log = second.log_path.read_text()
    assert log.count(f"photo_embed_task[{task_id}] received") == 1, log
    assert log.count(f"photo_embed_task[{task_id}] succeeded") == 1, log
    assert "photo_embed_task[" not in first.log_path.read_text().split(f"[{task_id}] received", 1)[1]
    assert broker.hlen("unacked") == 0
    assert broker.llen("celery") == 0

    with capsys.disabled():
        print(
            f"\nWorker killed mid-task: the next worker received the task {redelivered_after:.0f} s after the kill "
            f"(visibility timeout {VISIBILITY_TIMEOUT} s) and the photo was ready after {ready_after:.0f} s."
        )
