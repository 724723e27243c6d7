"""How many live pages (websockets) each user has open, counted across server processes.

The count lives in the cache (Redis with several server processes) and is changed only by atomic
increments. It expires WEBSOCKET_COUNT_TTL_SECONDS after the user's last accepted connection, so
connections a crashed process never released cannot lock the user out for good; a refused attempt
(a page retrying) does not keep it alive.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def connection_count_key(user_id: int) -> str:
    return f"ws-connections:user:{user_id}"


def connection_slot_take(user_id: int) -> bool:
    """Count one more open connection of the user, or refuse it (False) if they have the most allowed."""
    key = connection_count_key(user_id)
    cache.add(key, 0, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 0, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
        count = cache.incr(key)
    if count > settings.WEBSOCKET_MAX_CONNECTIONS_PER_USER:
        connection_slot_release(user_id)
        return False
    # Also gives a timeout to a key Redis re-created without one (an INCR just after it expired).
    cache.touch(key, timeout=settings.WEBSOCKET_COUNT_TTL_SECONDS)
    return True


def connection_slot_release(user_id: int) -> None:
    key = connection_count_key(user_id)
    try:
        count = cache.decr(key)
    except ValueError:  # expired meanwhile: nothing left to release
        return
    if count <= 0:
        # Gone rather than negative: a count that expired while connections were open must not
        # let the user open more later.
        cache.delete(key)
