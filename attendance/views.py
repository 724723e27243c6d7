"""Pages for teachers: my courses, today's sessions, the live attendance page, corrections."""

from __future__ import annotations

import json
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from attendance.forms import BulkRecordForm, RecordForm
from attendance.live import roster_message
from attendance.models import AttendanceRecord, ClassSession
from attendance.selectors import (
    courses_for,
    may_change_locked,
    record_fields,
    session_for,
    session_is_locked,
    session_students,
    sessions_for,
)
from attendance.services import (
    attendance_clear,
    attendance_mark_unseen,
    attendance_set_status,
    session_close,
    session_open,
)
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


def _session_or_404(request: HttpRequest, session_id: int) -> ClassSession:
    session = session_for(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    return session


@login_required
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_404(request, session_id)
    locked = session_is_locked(session)
    lock_reason = (
        f"Locked: this session started more than {settings.ATTENDANCE_LOCK_DAYS} days ago; "
        "only an administrator can correct it."
    )
    config = {
        "sessionId": session.pk,
        "websocketPath": f"/ws/sessions/{session.pk}/",
        "recordUrl": reverse("record-update", args=[session.pk]),
        "bulkUrl": reverse("record-bulk", args=[session.pk]),
        "state": session.state,
        "statuses": AttendanceRecord.Status.choices,
        "sources": dict(AttendanceRecord.Source.choices),
        # Corrections refused on a locked session (staff may still make them): the page says why.
        "lockedReason": lock_reason if locked and not may_change_locked(cast(User, request.user)) else "",
        "timeZone": settings.TIME_ZONE,
        "cardsOnly": session.course.cards_only,
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
            "locked": locked,
            "lock_days": settings.ATTENDANCE_LOCK_DAYS,
            "unseen_count": session_students(session=session).exclude(attendance_records__session=session).count(),
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
UNSEEN = "unseen"


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


def _form_error(form: RecordForm | BulkRecordForm, payload: dict[str, Any] | None, bad: str) -> JsonResponse:
    if payload is not None and set(form.errors) == {"note"}:
        return JsonResponse({"error": f"Note: {form.errors['note'][0]}"}, status=400)
    return JsonResponse({"error": bad}, status=400)


@login_required
@require_POST
def record_update(request: HttpRequest, session_id: int) -> JsonResponse:
    """One decision about one student (JSON body: student_id, status, note): a status, or "unseen"
    to undo (back to not seen). Answers with the record as the page shows it."""
    session = _session_or_404(request, session_id)
    payload = _json_object(request.body)
    form = RecordForm(payload)
    if payload is None or not form.is_valid():
        return _form_error(form, payload, BAD_RECORD)
    student_id, status, note = (form.cleaned_data[name] for name in ("student_id", "status", "note"))
    student = session_students(session=session).filter(pk=student_id).first()
    if student is None:
        return JsonResponse({"error": "That student is not enrolled in this session's course."}, status=400)
    user = cast(User, request.user)
    try:
        if status == UNSEEN:
            attendance_clear(session=session, student=student, changed_by=user, note=note)
            return JsonResponse({"student_id": student.pk, **record_fields(None)})
        else:
            record = attendance_set_status(session=session, student=student, status=status, changed_by=user, note=note)
    except ApplicationError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"student_id": student.pk, **record_fields(record)})


@login_required
@require_POST
def record_bulk(request: HttpRequest, session_id: int) -> JsonResponse:
    """Everyone not seen yet gets one status (JSON body: status); answers with their records."""
    session = _session_or_404(request, session_id)
    payload = _json_object(request.body)
    form = BulkRecordForm(payload)
    if payload is None or not form.is_valid():
        return _form_error(form, payload, "Send JSON with the status for everyone not seen yet.")
    try:
        records = attendance_mark_unseen(
            session=session, status=form.cleaned_data["status"], changed_by=cast(User, request.user)
        )
    except ApplicationError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"records": [{"student_id": record.student_id, **record_fields(record)} for record in records]})
