"""Web plumbing every app may use: the one exception type services raise, the REST API's handler
for it, and the API permissions shared by the apps' resources."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A request the app understood but cannot carry out, with a message for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with an ApplicationError answered as a 400 carrying its message."""
    if isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message})
    return drf_exception_handler(exc, context)


class IsStaffOrReadOnly(permissions.BasePermission):
    """Only staff change (with the model permission, StaffModelPermissions); everybody else only
    reads (what their queryset lets them see)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class IsStaffToDelete(permissions.BasePermission):
    """Only staff delete: deleting a session also deletes its records and their audit trail."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method != "DELETE" or bool(request.user and request.user.is_staff)


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """A staff user writes only with Django's model permission for the write: add_, change_ or
    delete_ the view's model (another action on an object, such as open or consent, is a change);
    a superuser has them all. Reads, and other users' requests, are left to the view's other
    permissions and its queryset (a teacher's rights over the courses they teach)."""

    OBJECT_CRUD = {"create", "update", "partial_update", "destroy"}

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if request.method in permissions.SAFE_METHODS or not (user and user.is_staff):
            return True
        action = getattr(view, "action", None)
        method = "PATCH" if action is not None and action not in self.OBJECT_CRUD else request.method or ""
        return user.has_perms(self.get_required_permissions(method, self._queryset(view).model))


class SchemaAccess(permissions.BasePermission):
    """The API schema and its docs: for logged-in users, or for anybody with API_SCHEMA_PUBLIC."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.API_SCHEMA_PUBLIC or bool(request.user and request.user.is_authenticated)
