from __future__ import annotations

from django.urls import path

from attendance.consumers import SessionConsumer
from attendance.door import DoorConsumer

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/", SessionConsumer.as_asgi()),
    path("ws/sessions/<int:session_id>/door/", DoorConsumer.as_asgi()),
]
