"""Redis restarts while daphne and a Celery worker run: both reconnect by themselves.

A private redis-server (it keeps nothing on disk, so it comes back empty, as after a crash) is the
broker and channel layer of one daphne and one worker. A photo uploaded after the restart, through
the same server, is embedded by the same worker.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable

import pytest
import redis
import requests
from django.contrib.auth.models import User
from django.utils import timezone
from knox.models import AuthToken

from students.models import Student
from tests.integration.processes import RunningProcess, free_port
from tests.integration.test_enrolment_worker import upload_and_wait

pytestmark = pytest.mark.integration

DOWN_SECONDS = 3
CONNECTED = r"(?m)^(?P<at>\S+ \S+) INFO \S+ Connected to redis://(?::\*\*@)?127\.0\.0\.1:{port}/0$"


def test_an_upload_after_redis_restarted_is_embedded(
    transactional_db: None,
    redis_servers: Callable[[int], RunningProcess],
    asgi_server: Callable[..., str],
    celery_workers: Callable[..., RunningProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    url = redis_servers(port).url
    base_url = asgi_server(REDIS_URL=url)
    worker = celery_workers(REDIS_URL=url)
    admin = User.objects.create_user("enrolment-admin", is_staff=True, is_superuser=True)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {AuthToken.objects.create(user=admin)[1]}"
    student = Student.objects.create(
        student_number="S100", first_name="Barack", last_name="Obama", consent_given_at=timezone.now()
    )

    photo, before_seconds = upload_and_wait(api, base_url, student, "enroll/obama/obama.jpg")
    assert photo["status"] == "ready", photo

    redis.Redis.from_url(url).shutdown(nosave=True)
    stopped = time.monotonic()
    # An outage, not a blip: the worker notices at once and fails its first attempt to reconnect.
    time.sleep(DOWN_SECONDS)
    redis_servers(port)
    restarted_at = datetime.datetime.now()
    down_seconds = time.monotonic() - stopped

    # At once: the server must not lose the task while the worker is still reconnecting.
    photo, after_seconds = upload_and_wait(api, base_url, student, "enroll/obama/obama2.jpg")
    assert photo["status"] == "ready", photo
    connections = list(re.finditer(CONNECTED.format(port=port), worker.log_path.read_text()))
    assert len(connections) == 2, worker.log_tail()
    reconnected_at = datetime.datetime.strptime(connections[1]["at"], "%Y-%m-%d %H:%M:%S,%f")

    with capsys.disabled():
        print(
            f"\nRedis restart: down {down_seconds:.1f} s; the worker reconnected "
            f"{(reconnected_at - restarted_at).total_seconds():.1f} s after Redis was back; the upload sent "
            f"then was ready {after_seconds:.1f} s later (the one before the restart: {before_seconds:.1f} s, "
            "model load included)."
        )
