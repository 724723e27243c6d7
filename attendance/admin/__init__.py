"""The attendance app's admin, one module per resource (imported here so the admin finds them)."""

from attendance.admin import courses, sessions, students

__all__ = ["courses", "sessions", "students"]
