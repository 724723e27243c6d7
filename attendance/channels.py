"""Channel-layer groups of live session pages, and broadcasting to them after commit."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def session_group(session_id: int) -> str:
    return f"session.{session_id}"


def broadcast_on_commit(session_id: int, message: dict[str, Any]) -> None:
    """Send `message` to every page watching the session once the current transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(session_group(session_id), {"type": "session.event", "message": message})

    transaction.on_commit(send)
