"""Real processes for integration tests: a Celery worker and beat, daphne (bin/serve) and redis-server.

They run against the pytest-django test database, with Redis (TEST_REDIS_URL) as Celery broker
and channel layer, and the test's MEDIA_ROOT, secret key and face weights, so data a test commits
(`transactional_db`) is what they see. The fixtures in conftest.py start and stop them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import redis
import requests
from celery import Celery
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
STARTUP_TIMEOUT = 90.0
LOG_TAIL_CHARS = 20_000


class ProcessFailed(RuntimeError):
    """A process did not start, or stopped on its own; the message ends with its log."""


@dataclass
class RunningProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-LOG_TAIL_CHARS:]

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise ProcessFailed(f"{self.name} exited with code {code}. Its log:\n{self.log_tail()}")

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM (a Celery worker's warm shutdown), then SIGKILL to the whole process group."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Prefork children or anything else the process started go with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


def redis_test_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(problem: str) -> None:
    """A test that needs what this machine lacks (PostgreSQL, Redis, Chromium, axe-core): skipped
    with `problem` as its reason on a developer's machine, so the other tests still run there; a
    failure in CI, whose machine must have everything (a skip there would hide a missing install)."""
    if running_in_ci():
        pytest.fail(f"CI needs what integration tests use: {problem}", pytrace=False)
    pytest.skip(problem)


@functools.cache
def services_problem() -> str:
    """Why integration tests cannot run here, or "" when PostgreSQL and Redis both answer."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return f"integration tests need PostgreSQL, but DATABASE_URL selects {db['ENGINE']}"
    try:
        psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {db['HOST'] or 'localhost'}:{db['PORT'] or 5432} is unreachable ({exc})".strip()
    url = redis_test_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} (TEST_REDIS_URL) is unreachable ({exc})"
    return ""


def database_url(db: Mapping[str, Any]) -> str:
    """A DATABASE_URL for a Django PostgreSQL database's settings (at test time: the test database)."""
    auth = ""
    if db["USER"]:
        auth = quote(db["USER"], safe="")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"], safe="")
        auth += "@"
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


def process_environment(*, media_root: Path, redis_url: str) -> dict[str, str]:
    """The environment of the test process, pointed at the test database, Redis and MEDIA_ROOT."""
    weights = settings.FACE_EMBEDDER_WEIGHTS
    hosts = {*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"}
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(settings.DATABASES["default"]),
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(media_root),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_ALLOWED_HOSTS=",".join(sorted(hosts)),
        # Plain HTTP on loopback (a browser sends no Secure cookie back over it), no collectstatic.
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_STATIC_MANIFEST="false",
        # Relative to the test's working directory; the processes run in the repository root.
        FACE_EMBEDDER_WEIGHTS=str(Path(weights).resolve()) if weights else "",
        FACE_EMBEDDER_WEIGHTS_SHA256=settings.FACE_EMBEDDER_WEIGHTS_SHA256,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        # bin/serve and `python -m celery` from the interpreter running the tests.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _spawn(name: str, command: list[str], *, env: dict[str, str], log_path: Path) -> RunningProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() can end it with everything it started.
            start_new_session=True,
        )
    return RunningProcess(name=name, popen=popen, log_path=log_path)


def _wait_until(process: RunningProcess, ready: Any, *, what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        if ready():
            return
        time.sleep(0.2)
    raise ProcessFailed(f"{process.name}: {what} not within {timeout:.0f} s. Its log:\n{process.log_tail()}")


def _start_celery(
    program: str,
    options: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    started: Callable[[RunningProcess], object],
) -> RunningProcess:
    """`celery -A config <program>`, returned once `started` returned; stopped if it raises."""
    command = [sys.executable, "-m", "celery", "-A", "config", program, "--loglevel=INFO", *options]
    process = _spawn(f"celery {program}", command, env=env, log_path=log_path)
    try:
        started(process)
    except BaseException:
        process.stop()
        raise
    return process


def start_celery_worker(*, env: dict[str, str], log_path: Path) -> RunningProcess:
    """`celery -A config worker` (prefork, one child); returns once it answers a ping."""
    hostname = f"integration-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    options = [
        "--concurrency=1",
        "--pool=prefork",
        f"--hostname={hostname}",
        # One worker alone: no need to wait for or talk to others at start.
        "--without-mingle",
        "--without-gossip",
    ]
    probe = Celery("integration-probe", broker=env["REDIS_URL"], set_as_current=False)

    def answers(process: RunningProcess) -> None:
        _wait_until(
            process,
            lambda: bool(probe.control.ping(destination=[hostname], timeout=0.5)),
            what="no answer to `celery inspect ping`",
        )

    try:
        process = _start_celery("worker", options, env=env, log_path=log_path, started=answers)
    finally:
        probe.close()
    process.extra["hostname"] = hostname
    return process


def start_celery_beat(*, env: dict[str, str], log_path: Path) -> RunningProcess:
    """`celery -A config beat` with its schedule file beside its log; returns once it has started."""
    return _start_celery(
        "beat",
        [f"--schedule={log_path.with_suffix('.schedule')}"],
        env=env,
        log_path=log_path,
        started=lambda process: wait_for_log(process, r"beat: Starting", timeout=STARTUP_TIMEOUT),
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_asgi_server(*, env: dict[str, str], log_path: Path, name: str = "asgi server") -> RunningProcess:
    """bin/serve (daphne) on a free loopback port; returns once /healthz answers 200."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    process = _spawn(name, [str(ROOT / "bin" / "serve")], env=env, log_path=log_path)
    process.url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(process, lambda: _healthy(process.url), what="/healthz did not answer 200")
    except BaseException:
        process.stop()
        raise
    return process


def wait_for_log(process: RunningProcess, pattern: str, *, timeout: float) -> re.Match[str]:
    """The first match of the regular expression `pattern` in the process's log, waiting for it."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        try:
            match = regex.search(process.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            match = None
        if match:
            return match
        process.check_alive()
        if time.monotonic() > deadline:
            raise ProcessFailed(
                f"{process.name}: no {pattern!r} in its log within {timeout:.0f} s:\n{process.log_tail()}"
            )
        time.sleep(0.05)


def child_pids(pid: int) -> list[int]:
    """The ids of a process's children (Linux /proc): a prefork worker's pool processes."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": the command may contain spaces, never ") ".
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return sorted(children)


def start_redis_server(*, port: int, log_path: Path) -> RunningProcess:
    """A private redis-server on loopback that keeps nothing on disk; returns once it answers PING."""
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = _spawn(f"redis-server :{port}", command, env=dict(os.environ), log_path=log_path)
    process.url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(process.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    try:
        _wait_until(process, answers, what="no answer to PING", timeout=20)
    except BaseException:
        process.stop()
        raise
    return process
