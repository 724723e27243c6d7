"""The attendance app's admin, one module per resource (imported here so the admin finds them)."""

from attendance.admin import alerts, courses, sessions, students

__all__ = ["alerts", "courses", "sessions", "students"]
