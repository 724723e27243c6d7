"""Live pages check again that their user may watch their session when a right may have gone:
a teacher taken off a course (from either side, also by clearing), a user logged out, changed
(deactivated, staff rights removed, a new password) or deleted, a class session changed or deleted.
What no signal reports (queryset updates, sessions flushed or expired) the pages' periodic
re-check catches (attendance/consumers.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import user_logged_out
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from attendance.channels import access_recheck_on_commit, session_group, user_group
from attendance.models import ClassSession, Course


@receiver(m2m_changed, sender=Course.teachers.through, dispatch_uid="live_pages_teachers_changed")
def teachers_changed(
    sender: type[Model], instance: Model, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    # Adding a teacher takes no right away; a clear is caught before, while its teachers are known.
    if action not in ("post_remove", "pre_clear"):
        return
    if reverse:  # `instance` is a user taken off courses
        user_ids = [instance.pk]
    elif action == "pre_clear":
        user_ids = list(Course.teachers.through.objects.filter(course_id=instance.pk).values_list("user_id", flat=True))
    else:
        user_ids = list(pk_set or ())
    access_recheck_on_commit(user_group(user_id) for user_id in user_ids)


@receiver(user_logged_out, dispatch_uid="live_pages_user_logged_out")
def user_logged_out_closes(sender: type[Model], request: HttpRequest | None, user: Model | None, **kwargs: Any) -> None:
    if user is not None:
        session_key = request.session.session_key if request is not None else None
        access_recheck_on_commit([user_group(user.pk)], ended_session_key=session_key)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="live_pages_user_saved")
def user_saved(sender: type[Model], instance: Model, created: bool, update_fields: Any, **kwargs: Any) -> None:
    # Logging in saves last_login, which takes no right away.
    if not created and update_fields != frozenset({"last_login"}):
        access_recheck_on_commit([user_group(instance.pk)])


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="live_pages_user_deleted")
def user_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    access_recheck_on_commit([user_group(instance.pk)])


@receiver(post_save, sender=ClassSession, dispatch_uid="live_pages_session_saved")
@receiver(post_delete, sender=ClassSession, dispatch_uid="live_pages_session_deleted")
def class_session_changed(
    sender: type[ClassSession], instance: ClassSession, created: bool = False, **kwargs: Any
) -> None:
    # Moved to another course, closed or deleted without an event (from the admin, say); a new
    # session has no pages yet.
    if not created:
        access_recheck_on_commit([session_group(instance.pk)])
