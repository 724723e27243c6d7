"""Channel-layer groups of live session pages, and messages to them after commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def session_group(session_id: int) -> str:
    """Every page watching the session."""
    return f"session.{session_id}"


def user_group(user_id: int) -> str:
    """Every live page the user has open."""
    return f"user.{user_id}"


def _send(groups: Iterable[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        for group in groups:
            async_to_sync(layer.group_send)(group, event)


def broadcast_on_commit(session_id: int, message: dict[str, Any]) -> None:
    """Send `message` to every page watching the session once the current transaction commits."""
    transaction.on_commit(lambda: _send([session_group(session_id)], {"type": "session.event", "message": message}))


def access_recheck_on_commit(groups: Iterable[str], *, ended_session_key: str | None = None) -> None:
    """Once the current transaction commits, make the pages in `groups` check that their user may
    still watch their session, and close if not; a page of `ended_session_key` (logged out) closes
    at once."""
    groups = list(groups)
    event = {"type": "access.recheck", "ended_session_key": ended_session_key}
    # Robust: a channel layer that is down must not fail the change itself; the pages' periodic
    # re-check (WEBSOCKET_RECHECK_SECONDS) still closes them.
    transaction.on_commit(lambda: _send(groups, event), robust=True)
