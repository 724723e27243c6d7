"""Report pages; each also answers ``?format=csv`` or ``?format=xlsx`` with a download."""

from __future__ import annotations

from django.urls import path

from attendance import report_views

urlpatterns = [
    path("reports/sessions/<int:session_id>/", report_views.session_report, name="report-session"),
    path("reports/courses/<int:course_id>/", report_views.course_report, name="report-course"),
    path("reports/students/<int:student_id>/", report_views.student_report, name="report-student"),
]
