"""At most WEBSOCKET_MAX_CONNECTIONS_PER_USER live pages per user, counted in the cache across
server processes, with a count that cannot outlive a crashed process for long."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from pytest_django.fixtures import Settings

from attendance import live
from attendance.connections import connection_count_key, connection_slot_release, connection_slot_take
from attendance.consumers import CLOSE_FORBIDDEN, CLOSE_TOO_MANY, CLOSE_UNAUTHENTICATED
from attendance.models import ClassSession
from config.asgi import application
from tests.attendance.test_consumers import HOST, ORIGIN, TIMEOUT, connected, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    # The local-memory cache lives as long as the test process.
    cache.clear()


async def open_page(ws: WebsocketCommunicator) -> tuple[bool, int]:
    """(True, 0) for a page that got its roster, so the consumer is done with the database before
    the test ends; (False, close code) for one closed at once (every connection is accepted first)."""
    accepted, _ = await ws.connect(timeout=TIMEOUT)
    assert accepted
    first = await ws.receive_output(timeout=TIMEOUT)
    if first["type"] == "websocket.close":
        return False, first["code"]
    assert json.loads(first["text"])["type"] == "roster"
    return True, 0


@asynccontextmanager
async def pages(session_id: int, user: User | AnonymousUser, count: int) -> AsyncIterator[list[tuple[bool, int]]]:
    """`count` connections of the user opened one after the other, all kept open until the end."""
    async with AsyncExitStack() as stack:
        yield [await open_page(await stack.enter_async_context(connected(session_id, user))) for _ in range(count)]


async def opens(session_id: int, user: User) -> tuple[bool, int]:
    async with connected(session_id, user) as ws:
        return await open_page(ws)


def count_of(user: User) -> object:
    return cache.get(connection_count_key(user.pk))


async def test_a_fifth_page_of_one_user_is_refused_until_one_closes(open_session: ClassSession, teacher: User) -> None:
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(connected(open_session.pk, teacher))
        assert await open_page(first) == (True, 0)
        async with pages(open_session.pk, teacher, 4) as more:
            assert more == [(True, 0), (True, 0), (True, 0), (False, CLOSE_TOO_MANY)]
            assert count_of(teacher) == 4
        assert count_of(teacher) == 1
        await first.disconnect(timeout=TIMEOUT)

        assert count_of(teacher) is None  # the last page closed: nothing left behind
        assert await opens(open_session.pk, teacher) == (True, 0)


async def test_the_limit_is_per_user_and_a_setting(
    open_session: ClassSession, teacher: User, settings: Settings
) -> None:
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 1
    staff = await database_sync_to_async(User.objects.create_user)("admin", password="admin-pass-123", is_staff=True)

    async with pages(open_session.pk, teacher, 2) as teachers, pages(open_session.pk, staff, 2) as staffs:
        assert teachers == staffs == [(True, 0), (False, CLOSE_TOO_MANY)]


async def test_refused_connections_take_no_place(
    open_session: ClassSession, teacher: User, other_teacher: User, settings: Settings
) -> None:
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 1
    elsewhere = await database_sync_to_async(ClassSession.objects.create)(
        course_id=open_session.course_id,
        starts_at=open_session.starts_at,
        ends_at=open_session.ends_at,
        state=ClassSession.State.CLOSED,
    )

    async with pages(open_session.pk, other_teacher, 3) as forbidden:
        assert forbidden == [(False, CLOSE_FORBIDDEN)] * 3
    async with pages(open_session.pk, AnonymousUser(), 2) as anonymous:
        assert anonymous == [(False, CLOSE_UNAUTHENTICATED)] * 2
    for _ in range(3):
        assert (await opens(elsewhere.pk, teacher))[0] is False  # not open

    assert count_of(other_teacher) is None
    assert count_of(teacher) is None
    assert await opens(open_session.pk, teacher) == (True, 0)


async def test_a_count_left_by_a_crashed_process_expires(
    open_session: ClassSession, teacher: User, settings: Settings
) -> None:
    """Four pages whose process died without closing them: the user is locked out only until the
    count expires, and the page retrying meanwhile does not keep it alive."""
    settings.WEBSOCKET_COUNT_TTL_SECONDS = 2
    cache.set(connection_count_key(teacher.pk), 4, timeout=2)

    assert await opens(open_session.pk, teacher) == (False, CLOSE_TOO_MANY)
    await asyncio.sleep(1.2)
    assert await opens(open_session.pk, teacher) == (False, CLOSE_TOO_MANY)
    await asyncio.sleep(1.2)

    assert await opens(open_session.pk, teacher) == (True, 0)


TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture
def redis_cache(settings: Settings) -> redis.Redis:
    """The cache on Redis, as with REDIS_URL set, under a key prefix of this test's own."""
    client = redis.Redis.from_url(TEST_REDIS_URL) if TEST_REDIS_URL else None
    try:
        if client is None or not client.ping():
            pytest.skip("TEST_REDIS_URL is not set or Redis is not running")
    except redis.ConnectionError:
        pytest.skip("Redis is not running at TEST_REDIS_URL")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    return client


async def test_pages_are_counted_across_processes_in_redis(
    open_session: ClassSession, teacher: User, redis_cache: redis.Redis, settings: Settings
) -> None:
    key = cache.make_key(connection_count_key(teacher.pk))
    redis_cache.incr(key, 3)  # three pages open through another server process
    redis_cache.expire(key, 600)

    async with pages(open_session.pk, teacher, 2) as here:
        assert here == [(True, 0), (False, CLOSE_TOO_MANY)]
        assert redis_cache.get(key) == b"4"
        assert 0 < redis_cache.ttl(key) <= settings.WEBSOCKET_COUNT_TTL_SECONDS

    assert redis_cache.get(key) == b"3"  # the other process's pages are still open
    redis_cache.delete(key)


def test_slots_taken_at_the_same_moment_are_counted_exactly(teacher: User, redis_cache: redis.Redis) -> None:
    """Sixteen connections of one user in as many threads (as in several server processes) at once."""
    key = cache.make_key(connection_count_key(teacher.pk))
    barrier = threading.Barrier(16)

    def take() -> bool:
        barrier.wait(timeout=30)
        return connection_slot_take(teacher.pk)

    with ThreadPoolExecutor(max_workers=16) as pool:
        taken = list(pool.map(lambda _: take(), range(16)))
    assert sorted(taken) == [False] * 12 + [True] * 4
    assert redis_cache.get(key) == b"4"

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: connection_slot_release(teacher.pk), range(4)))
    assert redis_cache.get(key) is None


async def test_a_page_whose_consumer_crashes_gives_its_place_back(
    open_session: ClassSession, teacher: User, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER = 1

    def broken_roster(*, session_id: int) -> dict[str, object]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(live, "roster_message", broken_roster)
    # Not `connected`: disconnecting would raise the consumer's exception again.
    headers = [(b"host", HOST), ORIGIN, (b"cookie", await session_cookie(teacher))]
    communicator = WebsocketCommunicator(application, f"/ws/sessions/{open_session.pk}/", headers=headers)
    accepted, _ = await communicator.connect(timeout=TIMEOUT)
    assert accepted
    # The consumer dies after it took the place (disconnect() never runs).
    with pytest.raises(RuntimeError, match="the database went away"):
        await communicator.receive_output(timeout=TIMEOUT)
    monkeypatch.undo()

    assert count_of(teacher) is None
    assert await opens(open_session.pk, teacher) == (True, 0)
