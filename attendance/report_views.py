"""Report pages and their CSV / XLSX exports (``?format=csv|xlsx``) for sessions, courses and students.

Every view finds its object through the permission selectors: staff see everything, a teacher
their own courses, and anything else is a 404.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils import dateformat, timezone

from attendance.exports import FORMATS, course_export, export_response, session_export, student_export
from attendance.models import ClassSession, validate_supported_date
from attendance.reports import INCLUDE_OPEN, CourseReport, SessionReport, Tally, parse_switch, student_history
from attendance.selectors import courses_for, session_for, students_for


class _BadInput(ValueError):
    pass


def _export_format(request: HttpRequest) -> str | None:
    value = request.GET.get("format", "")
    if value and value not in FORMATS:
        raise _BadInput(f"Unknown format {value!r}: use csv or xlsx.")
    return value or None


def _date(request: HttpRequest, name: str) -> datetime.date | None:
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise _BadInput(f"{name!r} must be a date like 2025-01-31, not {value!r}.") from None
    try:
        validate_supported_date(day)
    except ValidationError as exc:
        raise _BadInput(f"{name!r}: {exc.messages[0]}") from None
    return day


def _include_open(request: HttpRequest) -> bool:
    try:
        return parse_switch(request.GET.get(INCLUDE_OPEN, ""))
    except ValueError as exc:
        raise _BadInput(str(exc)) from None


def _export_links(request: HttpRequest) -> dict[str, str]:
    links = {}
    for export_format in FORMATS:
        query = request.GET.copy()
        query["format"] = export_format
        links[export_format] = f"?{query.urlencode()}"
    return links


def _bad_request(exc: _BadInput) -> HttpResponse:
    return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")


@login_required
def session_report(request: HttpRequest, session_id: int) -> HttpResponseBase:
    session = session_for(user=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    try:
        export_format = _export_format(request)
    except _BadInput as exc:
        return _bad_request(exc)
    report = SessionReport(session=session)
    if export_format:
        name = f"attendance-{session.course.code}-{timezone.localtime(session.starts_at):%Y-%m-%d-%H%M}"
        return export_response(request, export_format=export_format, export=session_export(report), filename=name)
    lines = list(report.lines())
    return render(
        request,
        "attendance/reports/session.html",
        {"session": session, "report": report, "lines": lines, "exports": _export_links(request)},
    )


@login_required
def course_report(request: HttpRequest, course_id: int) -> HttpResponseBase:
    course = get_object_or_404(courses_for(user=request.user), pk=course_id)
    try:
        export_format = _export_format(request)
        date_from, date_to = _date(request, "from"), _date(request, "to")
        if date_from and date_to and date_from > date_to:
            raise _BadInput("The 'from' date is after the 'to' date.")
        include_open = _include_open(request)
    except _BadInput as exc:
        return _bad_request(exc)
    report = CourseReport(course=course, date_from=date_from, date_to=date_to, include_open=include_open)
    if export_format:
        name = "-".join(["attendance", course.code, *(str(day) for day in (date_from, date_to) if day)])
        return export_response(request, export_format=export_format, export=course_export(report), filename=name)
    rows = list(report.rows())
    return render(
        request,
        "attendance/reports/course.html",
        {
            "course": course,
            "report": report,
            "rows": rows,
            "columns": list(zip(report.sessions, report.session_totals, strict=True)),
            "flagged": sum(1 for row in rows if row.tally.flagged),
            "chart": rate_chart(report),
            "warning_percent": settings.ATTENDANCE_RATE_WARNING * 100,
            "late_weight": settings.ATTENDANCE_LATE_WEIGHT,
            "exports": _export_links(request),
        },
    )


@login_required
def student_report(request: HttpRequest, student_id: int) -> HttpResponseBase:
    student = get_object_or_404(students_for(user=request.user), pk=student_id)
    try:
        export_format = _export_format(request)
        include_open = _include_open(request)
    except _BadInput as exc:
        return _bad_request(exc)
    # A teacher sees the student's attendance in the courses they teach, not in others.
    histories = student_history(student=student, courses=courses_for(user=request.user), include_open=include_open)
    if export_format:
        name = f"attendance-{student.student_number}"
        export = student_export(student=student, histories=histories, include_open=include_open)
        return export_response(request, export_format=export_format, export=export, filename=name)
    return render(
        request,
        "attendance/reports/student.html",
        {
            "student": student,
            "histories": list(histories),
            "include_open": include_open,
            "warning_percent": settings.ATTENDANCE_RATE_WARNING * 100,
            "exports": _export_links(request),
        },
    )


# --- The course chart: an inline SVG drawn on the server (no JavaScript, no CDN) -------------

# Each session gets a slot wide enough for its rate above the bar and its two-line label below
# ("Tue 1 Dec" over "09:00"); a long term makes a wide chart that scrolls inside its box.
SLOT = 76
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_HEIGHT = 44, 12, 22, 160
LABEL_LINES = 3  # the date, the start time and, for an open session, "open"
LINE_HEIGHT = 14


def chart_label(session: ClassSession) -> tuple[str, str]:
    """The session's day and start time in the school's time zone, 24 h: ("Tue 1 Dec", "09:00")."""
    start = timezone.localtime(session.starts_at)
    return dateformat.format(start, "D j M"), dateformat.format(start, "H:i")


def rate_chart(report: CourseReport) -> dict[str, Any]:
    """A bar per counted session with its rate written above it and its day and time below, and
    the warning line: everything readable without hovering (touch screens have no hover)."""
    bottom = PLOT_TOP + PLOT_HEIGHT
    width = PLOT_LEFT + SLOT * max(len(report.sessions), 1) + PLOT_RIGHT
    gap = SLOT * 0.2
    bars = []
    for index, (session, totals) in enumerate(zip(report.sessions, report.session_totals, strict=True)):
        rate = _chart_rate(totals)
        height = PLOT_HEIGHT * (rate or 0)
        day, time = chart_label(session)
        bars.append(
            {
                "x": round(PLOT_LEFT + index * SLOT + gap, 1),
                "y": round(bottom - height, 1),
                "width": round(SLOT - 2 * gap, 1),
                "height": round(height, 1),
                "centre": round(PLOT_LEFT + (index + 0.5) * SLOT, 1),
                "value_y": round(bottom - height - 5, 1),
                "session": session,
                "day": day,
                "time": time,
                "open": session.state == ClassSession.State.OPEN,
                "percent": totals.percent,
                "flagged": totals.flagged,
            }
        )
    return {
        "width": width,
        "height": bottom + 8 + LABEL_LINES * LINE_HEIGHT,
        "bars": bars,
        "open_bars": [bar for bar in bars if bar["open"]],
        "left": PLOT_LEFT,
        "right": width - PLOT_RIGHT,
        "bottom": bottom,
        "label_y": bottom + 16,
        "axis_label_x": PLOT_LEFT - 6,
        "grid": [
            {"y": round(bottom - PLOT_HEIGHT * fraction, 1), "label": f"{fraction * 100:.0f}%"}
            for fraction in (0, 0.25, 0.5, 0.75, 1)
        ],
        "warning_y": round(bottom - PLOT_HEIGHT * settings.ATTENDANCE_RATE_WARNING, 1),
    }


def _chart_rate(totals: Tally) -> float | None:
    rate = totals.rate
    # A late weight above 1 could push a rate past 100%; the bar stops at the top.
    return None if rate is None else min(rate, 1.0)
