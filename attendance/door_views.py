"""The door-mode page of a session: a full-screen greeting screen for a tablet at the classroom door."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from attendance.models import ClassSession
from attendance.selectors import session_for


@login_required
def session_door(request: HttpRequest, session_id: int) -> HttpResponse:
    session = session_for(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    if session.state != ClassSession.State.OPEN:
        return render(request, "attendance/door.html", {"session": session}, status=409)
    # The same camera request and frame limits as the live page (attendance/views.py).
    config = {
        "websocketPath": f"/ws/sessions/{session.pk}/door/",
        "camera": {"width": settings.LIVE_CAMERA_WIDTH, "height": settings.LIVE_CAMERA_HEIGHT},
        "frameMaxWidth": settings.FRAME_MAX_WIDTH,
        "frameMaxHeight": settings.FRAME_MAX_HEIGHT,
        "frameMaxBytes": settings.FRAME_MAX_BYTES,
    }
    return render(request, "attendance/door.html", {"session": session, "config": config})
