"""Fixtures that start real processes (tests/integration/processes.py) for tests marked integration.

Such tests use `transactional_db`: the processes see only committed rows. Without PostgreSQL or
Redis (or, for tests marked browser, Chromium and ffmpeg) they are skipped with the reason, except
in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Browser, Playwright, sync_playwright

from students.models import Student, StudentPhoto
from tests.faces import FACES
from tests.integration.processes import (
    RunningProcess,
    process_environment,
    redis_test_url,
    services_problem,
    skip_or_fail,
    start_asgi_server,
    start_celery_beat,
    start_celery_worker,
    start_redis_server,
)

PROCESSES = pytest.StashKey[list[RunningProcess]]()
CHROMIUM = "/usr/bin/chromium"


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: without PostgreSQL, setting up the test database would error instead.
    if item.get_closest_marker("integration") is None:
        return
    problem = services_problem()
    if not problem and item.get_closest_marker("browser") is not None:
        missing = [path for path in (CHROMIUM, "ffmpeg") if shutil.which(path) is None]
        problem = f"browser tests need {' and '.join(missing)}" if missing else ""
    if problem:
        skip_or_fail(problem)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # A failing test's report ends with the logs of the processes it started.
    report = yield
    if report.failed:
        for process in item.stash.get(PROCESSES, []):
            report.sections.append((f"{process.name} log ({process.log_path})", process.log_tail()))
    return report


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: pytest.FixtureRequest) -> None:
    # Overrides the test-wide MD5 hasher: the servers log users in with the default hashers, of
    # which scrypt is the fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.ScryptPasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture
def integration_env(transactional_db: None, media_root: Path) -> dict[str, str]:
    """The environment for processes: test database, an empty Redis database, this test's media."""
    url = redis_test_url()
    # Once per test, before any process starts: a worker's queue bindings live in this database.
    redis.Redis.from_url(url).flushdb()
    return process_environment(media_root=media_root, redis_url=url)


def _started(request: pytest.FixtureRequest, process: RunningProcess) -> RunningProcess:
    request.node.stash.setdefault(PROCESSES, []).append(process)
    request.addfinalizer(process.stop)
    return process


@pytest.fixture
def celery_worker(request: pytest.FixtureRequest, integration_env: dict[str, str], tmp_path: Path) -> RunningProcess:
    """A `celery -A config worker` (prefork, concurrency 1), stopped after the test."""
    process = start_celery_worker(env=integration_env, log_path=tmp_path / "logs" / "celery-worker.log")
    return _started(request, process)


@pytest.fixture
def celery_workers(
    request: pytest.FixtureRequest, integration_env: dict[str, str], tmp_path: Path
) -> Callable[..., RunningProcess]:
    """Start Celery workers like `celery_worker`: `worker = celery_workers()`, as often as needed.

    Keyword arguments are extra environment variables for that worker (e.g. REDIS_URL=...).
    """
    count = 0

    def start(**extra_env: str) -> RunningProcess:
        nonlocal count
        count += 1
        process = start_celery_worker(
            env={**integration_env, **extra_env}, log_path=tmp_path / "logs" / f"celery-worker-{count}.log"
        )
        process.name = f"celery worker {count}"
        return _started(request, process)

    return start


@pytest.fixture
def celery_beat(
    request: pytest.FixtureRequest, integration_env: dict[str, str], tmp_path: Path
) -> Callable[..., RunningProcess]:
    """Start `celery -A config beat`: `beat = celery_beat()`, once; stopped after the test.

    Keyword arguments are extra environment variables (e.g. ATTENDANCE_ALERTS_EVERY_SECONDS="2").
    """

    def start(**extra_env: str) -> RunningProcess:
        process = start_celery_beat(
            env={**integration_env, **extra_env}, log_path=tmp_path / "logs" / "celery-beat.log"
        )
        return _started(request, process)

    return start


@pytest.fixture
def redis_servers(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[int], RunningProcess]:
    """Start a private redis-server on a port: `server = redis_servers(port)`; stopped after the test.

    For tests that stop and start Redis, which the machine's shared server must never be.
    """
    count = 0

    def start(port: int) -> RunningProcess:
        nonlocal count
        count += 1
        process = start_redis_server(port=port, log_path=tmp_path / "logs" / f"redis-server-{count}.log")
        return _started(request, process)

    return start


@pytest.fixture
def asgi_server(request: pytest.FixtureRequest, integration_env: dict[str, str], tmp_path: Path) -> Callable[..., str]:
    """Start bin/serve (daphne) on a free port: `base_url = asgi_server()`, as often as needed.

    Keyword arguments are extra environment variables for that server (e.g. FRAME_MAX_BYTES="4096").
    Servers share the Redis channel layer and the database, and are stopped after the test.
    """
    count = 0

    def start(**extra_env: str) -> str:
        nonlocal count
        count += 1
        process = start_asgi_server(
            env={**integration_env, **extra_env},
            log_path=tmp_path / "logs" / f"asgi-server-{count}.log",
            name=f"asgi server {count}",
        )
        return _started(request, process).url

    return start


@pytest.fixture(scope="session")
def fake_webcam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared clip as a .y4m file, which Chromium's fake camera plays in a loop."""
    video = tmp_path_factory.mktemp("webcam") / "short_hamilton_clip.y4m"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(FACES / "video" / "short_hamilton_clip.mp4"), "-pix_fmt", "yuv420p", video],
        check=True,
        timeout=120,
    )
    return video


# What Chromium is launched with: a headless browser whose fake camera plays a .y4m in a loop and
# whose camera permission is granted.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
CLASSROOM = FACES / "classroom"


@pytest.fixture(scope="session")
def classroom_webcam(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The classroom video (../shared/faces/classroom) as a .y4m at a resolution: "720p" or "1080p".

    Parametrised indirectly: `@pytest.mark.parametrize("classroom_webcam", ["720p"], indirect=True)`.
    Made once per run and resolution, and deleted afterwards: it is 170 MB at 720p, 370 MB at 1080p.
    pytest runs the tests of one resolution together and ends this fixture before making the next.
    """
    resolution = request.param
    video = tmp_path_factory.mktemp(f"classroom-{resolution}") / f"class-{resolution}.y4m"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(CLASSROOM / "video" / f"class-{resolution}.mp4"),
            "-pix_fmt",
            "yuv420p",
            video,
        ],
        check=True,
        timeout=300,
    )
    try:
        yield video
    finally:
        video.unlink(missing_ok=True)


@pytest.fixture
def chromium_with_webcam(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Browser]]:
    """Launch headless Chromium whose camera plays a .y4m: `browser = chromium_with_webcam(path)`.

    Camera permission is granted; every browser launched is closed after the test.
    """
    # Playwright's sync API keeps its event loop running under the test's code, so Django would
    # take the test's ORM calls for calls from async code and refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with contextlib.ExitStack() as stack:
        playwright: Playwright | None = None
        browsers: list[Browser] = []

        def launch(video: Path) -> Browser:
            nonlocal playwright
            if playwright is None:
                playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
            )
            browsers.append(browser)
            return browser

        try:
            yield launch
        finally:
            for browser in browsers:
                browser.close()
            # While Playwright's loop runs, Django keeps the test's database connections per async
            # context (asgiref.local), out of pytest-django's reach: left open, one would stop the
            # test database from being dropped at the end.
            connections.close_all()


@pytest.fixture
def chromium(fake_webcam: Path, chromium_with_webcam: Callable[[Path], Browser]) -> Browser:
    """Headless Chromium whose camera plays `fake_webcam`, with camera permission granted."""
    return chromium_with_webcam(fake_webcam)


# Student number: (first name, last name): the two people the clip is about (manifest.json), and the
# five of ../shared/faces/enroll, Alex Lacamoire among them.
PEOPLE = {
    "lin_manuel_miranda": ("Lin-Manuel", "Miranda"),
    "alex_lacamoire": ("Alex", "Lacamoire"),
    "biden": ("Joe", "Biden"),
    "kit_harington": ("Kit", "Harington"),
    "obama": ("Barack", "Obama"),
    "rose_leslie": ("Rose", "Leslie"),
}
# Lin-Manuel Miranda must be recognised. Alex Lacamoire (24 px at the piano) is a hard case, and
# Barack Obama is in the audience for the clip's last two seconds, in profile: marking either is
# not a mistake. The others are not in the clip and must never be marked.
MUST_BE_PRESENT = "lin_manuel_miranda"
IN_CLIP = {"lin_manuel_miranda", "alex_lacamoire", "obama"}


@pytest.fixture
def enrolled(transactional_db: None, tmp_path: Path) -> dict[str, Student]:
    """The six people enrolled with consent by `enrol_folder` (in this process), by student number."""
    folder = tmp_path / "enrol"
    # One photo each is enough here, and each costs the test a second or two.
    for person in sorted((FACES / "enroll").iterdir()):
        (folder / person.name).mkdir(parents=True)
        shutil.copy(min(person.iterdir()), folder / person.name)
    (folder / "lin_manuel_miranda").mkdir()
    shutil.copy(FACES / "video" / "lin-manuel-miranda.png", folder / "lin_manuel_miranda" / "clip.png")
    shutil.copy(FACES / "video" / "alex-lacamoire.png", folder / "alex_lacamoire" / "clip.png")
    with (folder / "students.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "first_name", "last_name", "email"])
        writer.writerows([number, first, last, ""] for number, (first, last) in PEOPLE.items())

    call_command("enrol_folder", str(folder), "--consent-given", stdout=io.StringIO(), stderr=io.StringIO())

    photos = StudentPhoto.objects.values_list("student__student_number", "status")
    assert {number for number, _ in photos} == set(PEOPLE)
    assert {status for _, status in photos} == {StudentPhoto.Status.READY}
    return {student.student_number: student for student in Student.objects.all()}
