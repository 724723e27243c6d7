from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from attendance import views
from attendance.security import ThrottledLoginView

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("courses/<int:course_id>/", views.course_detail, name="course-detail"),
    path("courses/<int:course_id>/sessions/start/", views.session_start, name="session-start"),
    path("sessions/<int:session_id>/", views.session_detail, name="session-detail"),
    path("sessions/<int:session_id>/state/", views.session_state, name="session-state"),
    path("sessions/<int:session_id>/records/", views.record_update, name="record-update"),
]
