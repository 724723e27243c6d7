"""The course page: its sessions, scheduling one or a weekly series, starting one now; and the
teacher's changes to a session not held yet: edit, cancel, delete, delete the rest of its series.

Destructive actions and overlapping sessions ask first: a POST without `confirmed=yes` (or
`overlap_ok=yes`) answers with the question, the same POST with it does the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from attendance import scheduling
from attendance.forms import ScheduleForm, SessionEditForm
from attendance.models import ClassSession
from attendance.scheduling import Action, OverlapQuestion, change_refusal, session_actions
from attendance.selectors import courses_for, sessions_for
from config.web import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CONFIRMED = "yes"
# The most sessions of each list the course page shows.
LISTED = 200


def _user(request: HttpRequest) -> User:
    # Every view here is login_required.
    return cast("User", request.user)


def _when(session: ClassSession) -> str:
    """The session's date and times in the school's time zone, for messages: "Tue 1 Dec 2026, 09:00-10:30"."""
    starts, ends = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    return f"{date_format(starts, 'D j M Y')}, {date_format(starts, 'H:i')}\N{EN DASH}{date_format(ends, 'H:i')}"


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    """The course's sessions, upcoming then past, with a form to schedule one session or a weekly series."""
    course = get_object_or_404(courses_for(user=request.user), pk=course_id)
    form = ScheduleForm(request.POST or None, initial={"duration_minutes": settings.SESSION_DEFAULT_MINUTES})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = scheduling.sessions_schedule(
                    course=course,
                    **form.cleaned_data_for_schedule(),
                    overlap_ok=request.POST.get("overlap_ok") == CONFIRMED,
                )
            except OverlapQuestion as question:
                return _overlap_page(request, question, course=course, form=form)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"{len(created)} session(s) scheduled.")
                return redirect("course-detail", course_id=course.pk)
        status = 400
    user = _user(request)
    upcoming, past = scheduling.upcoming_and_past(course=course)
    return render(
        request,
        "attendance/course_detail.html",
        {
            "course": course,
            "upcoming": [(session, session_actions(session=session, user=user)) for session in upcoming[:LISTED]],
            "past": [(session, session_actions(session=session, user=user)) for session in past[:LISTED]],
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
    try:
        session = scheduling.session_start_checked(
            course=course,
            minutes=settings.SESSION_DEFAULT_MINUTES,
            overlap_ok=request.POST.get("overlap_ok") == CONFIRMED,
        )
    except OverlapQuestion as question:
        return _overlap_page(request, question, course=course, form=None)
    return redirect("session-detail", session_id=session.pk)


def _overlap_page(request: HttpRequest, question: OverlapQuestion, **context: Any) -> HttpResponse:
    """Ask whether to schedule (`form`: what to post again) or start (no form) anyway."""
    return render(request, "attendance/overlap_confirm.html", {"question": question, **context})


def _session_or_404(request: HttpRequest, session_id: int) -> ClassSession:
    """The session with `has_attendance`, if the user may see it."""
    return get_object_or_404(scheduling.with_attendance_flag(sessions_for(user=request.user)), pk=session_id)


@login_required
def session_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    """Change a scheduled session's date, times and late minutes."""
    session = _session_or_404(request, session_id)
    user = _user(request)
    if refusal := change_refusal(session=session, user=user, action="edit"):
        return _refused(request, session, refusal)
    starts = timezone.localtime(session.starts_at)
    form = SessionEditForm(
        request.POST or None,
        initial={
            "date": starts.date(),
            "start_time": starts.time().replace(second=0, microsecond=0),
            "duration_minutes": int((session.ends_at - session.starts_at).total_seconds() // 60),
            "late_after_minutes": session.late_after_minutes,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                session = scheduling.session_reschedule(session=session, changed_by=user, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Session changed: now {_when(session)}.")
                return redirect("course-detail", course_id=session.course_id)
        status = 400
    context = {"session": session, "course": session.course, "form": form, "time_zone": settings.TIME_ZONE}
    return render(request, "attendance/session_edit.html", context, status=status)


def _refused(request: HttpRequest, session: ClassSession, refusal: str) -> HttpResponse:
    context = {"session": session, "course": session.course, "refusal": refusal}
    return render(request, "attendance/session_confirm.html", context, status=400)


def _confirm_or_do(request: HttpRequest, session_id: int, action: Action, *, series: bool = False) -> HttpResponse:
    """The question of `session_confirm.html`, or, confirmed, the change and back to the course page."""
    session = _session_or_404(request, session_id)
    user = _user(request)
    try:
        if refusal := change_refusal(session=session, user=user, action=action):
            raise ApplicationError(refusal)
        if request.POST.get("confirmed") != CONFIRMED:
            context: dict[str, Any] = {"session": session, "course": session.course, "action": action}
            if series:
                context["deleted"], context["kept"] = scheduling.series_rest(session=session, user=user)
            return render(request, "attendance/session_confirm.html", context)
        if series:
            count = scheduling.series_delete_from(session=session, deleted_by=user)
            message = f"Deleted {count} session(s) of the series from {_when(session)}."
        elif action == "cancel":
            scheduling.session_cancel(session=session, cancelled_by=user)
            message = f"Cancelled the session of {_when(session)}."
        else:
            scheduling.session_delete(session=session, deleted_by=user)
            message = f"Deleted the session of {_when(session)}."
    except ApplicationError as exc:
        return _refused(request, session, exc.message)
    messages.success(request, message)
    return redirect("course-detail", course_id=session.course_id)


@login_required
@require_POST
def session_cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    return _confirm_or_do(request, session_id, "cancel")


@login_required
@require_POST
def session_delete(request: HttpRequest, session_id: int) -> HttpResponse:
    return _confirm_or_do(request, session_id, "delete")


@login_required
@require_POST
def series_delete(request: HttpRequest, session_id: int) -> HttpResponse:
    return _confirm_or_do(request, session_id, "delete", series=True)
