"""REST resource for class sessions of the courses the user teaches, with open and close actions."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from attendance.models import ClassSession, Course
from attendance.selectors import courses_for, sessions_for
from attendance.services import session_close, session_open, session_update
from config.web import IsStaffToDelete, StaffModelPermissions


class ClassSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClassSession
        fields = ["id", "course", "starts_at", "ends_at", "late_after_minutes", "state"]
        read_only_fields = ["state"]

    def validate_course(self, course: Course) -> Course:
        if not courses_for(user=self.context["request"].user).filter(pk=course.pk).exists():
            raise serializers.ValidationError("You do not teach this course.")
        # Its records and their lock belong to the course's students.
        if self.instance is not None and course != self.instance.course:
            raise serializers.ValidationError("A session cannot be moved to another course.")
        return course

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        starts_at = attrs.get("starts_at", getattr(self.instance, "starts_at", None))
        ends_at = attrs.get("ends_at", getattr(self.instance, "ends_at", None))
        if starts_at and ends_at and ends_at <= starts_at:
            raise serializers.ValidationError({"ends_at": "A session must end after it starts."})
        return attrs


class ClassSessionFilter(filters.FilterSet):
    date_from = filters.DateFilter(field_name="starts_at", lookup_expr="date__gte", label="Starts on or after")
    date_to = filters.DateFilter(field_name="starts_at", lookup_expr="date__lte", label="Starts on or before")

    class Meta:
        model = ClassSession
        fields = ["course", "state", "date_from", "date_to"]


class ClassSessionViewSet(viewsets.ModelViewSet):
    """Sessions of the courses the user teaches; open and close them with the actions. Only staff delete."""

    serializer_class = ClassSessionSerializer
    filterset_class = ClassSessionFilter
    permission_classes = [permissions.IsAuthenticated, IsStaffToDelete, StaffModelPermissions]

    def get_queryset(self) -> QuerySet[ClassSession]:
        return sessions_for(user=self.request.user).order_by("-starts_at")

    def perform_update(self, serializer: serializers.BaseSerializer[ClassSession]) -> None:
        # Through the service: it keeps the lock and audits a change of times.
        data = serializer.validated_data
        serializer.instance = session_update(
            session=cast(ClassSession, serializer.instance),
            changed_by=cast(User, self.request.user),
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            late_after_minutes=data.get("late_after_minutes"),
        )

    @extend_schema(request=None, responses=ClassSessionSerializer)
    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        return Response(ClassSessionSerializer(session_open(session=self.get_object())).data)

    @extend_schema(request=None, responses=ClassSessionSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return Response(ClassSessionSerializer(session_close(session=self.get_object())).data)
