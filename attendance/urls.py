"""The attendance app's pages and API resources. Report pages also answer ``?format=csv`` or
``?format=xlsx`` with a download."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path
from rest_framework.routers import DefaultRouter

from attendance import card_views, check_image_views, course_views, door_views, photo_views, report_views, views
from attendance.api.courses import CourseViewSet
from attendance.api.records import AttendanceRecordViewSet
from attendance.api.reports import CourseReportViewSet, SessionReportViewSet, StudentReportViewSet
from attendance.api.sessions import ClassSessionViewSet
from attendance.api.students import StudentViewSet
from config.security import ThrottledLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("courses/<int:course_id>/", course_views.course_detail, name="course-detail"),
    path("courses/<int:course_id>/cards.pdf", card_views.course_cards, name="course-cards"),
    path("courses/<int:course_id>/sessions/start/", course_views.session_start, name="session-start"),
    path("sessions/<int:session_id>/edit/", course_views.session_edit, name="session-edit"),
    path("sessions/<int:session_id>/cancel/", course_views.session_cancel, name="session-cancel"),
    path("sessions/<int:session_id>/delete/", course_views.session_delete, name="session-delete"),
    path("sessions/<int:session_id>/delete-series/", course_views.series_delete, name="series-delete"),
    path("sessions/<int:session_id>/", views.session_detail, name="session-detail"),
    path("sessions/<int:session_id>/door/", door_views.session_door, name="session-door"),
    path("sessions/<int:session_id>/state/", views.session_state, name="session-state"),
    path("sessions/<int:session_id>/records/", views.record_update, name="record-update"),
    path("sessions/<int:session_id>/records/unseen/", views.record_bulk, name="record-bulk"),
    path("students/<int:student_id>/card.pdf", card_views.student_card, name="student-card"),
    path("students/photos/<int:photo_id>/image/", photo_views.photo_image, name="photo-image"),
    path("check-image/", check_image_views.check_image, name="check-image"),
    path("reports/sessions/<int:session_id>/", report_views.session_report, name="report-session"),
    path("reports/courses/<int:course_id>/", report_views.course_report, name="report-course"),
    path("reports/students/<int:student_id>/", report_views.student_report, name="report-student"),
]

api_router = DefaultRouter()
api_router.register("courses", CourseViewSet, basename="course")
api_router.register("sessions", ClassSessionViewSet, basename="session")
api_router.register("records", AttendanceRecordViewSet, basename="record")
api_router.register("students", StudentViewSet, basename="student")
api_router.register("reports/sessions", SessionReportViewSet, basename="report-session")
api_router.register("reports/courses", CourseReportViewSet, basename="report-course")
api_router.register("reports/students", StudentReportViewSet, basename="report-student")
api_urlpatterns = api_router.urls
