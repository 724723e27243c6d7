"""Pages for teachers: my courses, today's sessions, the live attendance page, corrections."""

from __future__ import annotations

import json
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from attendance.forms import RecordForm, ScheduleForm
from attendance.live import roster_message
from attendance.models import AttendanceRecord, ClassSession
from attendance.scheduling import sessions_schedule
from attendance.selectors import courses_for, session_for, session_is_locked, session_students, sessions_for
from attendance.services import attendance_set_status, session_close, session_open, session_start_now
from config.web import ApplicationError


@login_required
def home(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    courses = courses_for(user=request.user).prefetch_related("teachers")
    todays = sessions_for(user=request.user).filter(starts_at__date=today).order_by("starts_at")
    open_sessions = sessions_for(user=request.user).filter(state=ClassSession.State.OPEN).order_by("-starts_at")
    return render(
        request,
        "attendance/home.html",
        {"courses": courses, "todays_sessions": todays, "open_sessions": open_sessions, "today": today},
    )


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    """The course's sessions, with a form to schedule one session or a weekly series."""
    course = get_object_or_404(courses_for(user=request.user), pk=course_id)
    form = ScheduleForm(request.POST or None, initial={"duration_minutes": settings.SESSION_DEFAULT_MINUTES})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = sessions_schedule(course=course, **form.cleaned_data_for_schedule())
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{len(created)} session(s) scheduled.")
                return redirect("course-detail", course_id=course.pk)
        status = 400
    sessions = course.sessions.order_by("-starts_at")[:200]
    return render(
        request,
        "attendance/course_detail.html",
        {
            "course": course,
            "sessions": sessions,
            "form": form,
            "default_minutes": settings.SESSION_DEFAULT_MINUTES,
            "time_zone": settings.TIME_ZONE,
        },
        status=status,
    )


@login_required
@require_POST
def session_start(request: HttpRequest, course_id: int) -> HttpResponse:
    course = get_object_or_404(courses_for(user=request.user), pk=course_id)
    session = session_start_now(course=course, minutes=settings.SESSION_DEFAULT_MINUTES)
    return redirect("session-detail", session_id=session.pk)


def _session_or_404(request: HttpRequest, session_id: int) -> ClassSession:
    session = session_for(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    return session


@login_required
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request, session_id)
    config = {
        "sessionId": session.pk,
        "websocketPath": f"/ws/sessions/{session.pk}/",
        "recordUrl": f"/sessions/{session.pk}/records/",
        "state": session.state,
        "statuses": AttendanceRecord.Status.choices,
        "roster": roster_message(session_id=session.pk),
        # What the page asks of the camera (ideal constraints: a camera that cannot must still start)
        # and the server's limits for one frame, which the page scales and compresses frames to fit.
        "camera": {"width": settings.LIVE_CAMERA_WIDTH, "height": settings.LIVE_CAMERA_HEIGHT},
        "frameMaxWidth": settings.FRAME_MAX_WIDTH,
        "frameMaxHeight": settings.FRAME_MAX_HEIGHT,
        "frameMaxBytes": settings.FRAME_MAX_BYTES,
    }
    return render(
        request,
        "attendance/session_detail.html",
        {
            "session": session,
            "config": config,
            "locked": session_is_locked(session),
            "lock_days": settings.ATTENDANCE_LOCK_DAYS,
        },
    )


@login_required
@require_POST
def session_state(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request, session_id)
    action = request.POST.get("action")
    try:
        if action == "open":
            session_open(session=session)
        elif action == "close":
            session_close(session=session)
        else:
            return HttpResponse("Unknown action: use open or close.", status=400)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    return redirect("session-detail", session_id=session.pk)


BAD_RECORD = "Send JSON with student_id, status and an optional note."


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object of plain values, or None for anything else.

    Nesting deeper than the parser's recursion limit raises RecursionError, not ValueError.
    """
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict) or any(isinstance(value, dict | list) for value in payload.values()):
        return None
    return payload


@login_required
@require_POST
def record_update(request: HttpRequest, session_id: int) -> JsonResponse:
    """Set one student's status (JSON body: student_id, status, note); answers with the record."""
    session = _session_or_404(request, session_id)
    payload = _json_object(request.body)
    form = RecordForm(payload)
    if payload is None or not form.is_valid():
        error = BAD_RECORD if payload is None or set(form.errors) != {"note"} else f"Note: {form.errors['note'][0]}"
        return JsonResponse({"error": error}, status=400)
    student_id, status, note = (form.cleaned_data[name] for name in ("student_id", "status", "note"))
    student = session_students(session=session).filter(pk=student_id).first()
    if student is None:
        return JsonResponse({"error": "That student is not enrolled in this session's course."}, status=400)
    try:
        record = attendance_set_status(
            session=session, student=student, status=status, changed_by=cast(User, request.user), note=note
        )
    except ApplicationError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"student_id": student.pk, "status": record.status, "source": record.source})
