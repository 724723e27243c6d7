"""REST resource for attendance records; a POST is a manual decision through the same service as the page."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from attendance.models import AttendanceRecord
from attendance.selectors import session_students, sessions_for
from attendance.services import attendance_set_status
from config.web import StaffModelPermissions


class AttendanceRecordSerializer(serializers.ModelSerializer):
    course = serializers.IntegerField(source="session.course_id", read_only=True)
    student_number = serializers.CharField(source="student.student_number", read_only=True)
    student_name = serializers.CharField(source="student.full_name", read_only=True)

    class Meta:
        model = AttendanceRecord
        fields = [
            "id",
            "session",
            "course",
            "student",
            "student_number",
            "student_name",
            "status",
            "source",
            "first_seen_at",
            "last_seen_at",
            "best_distance",
            "note",
            "changed_by",
            "updated_at",
        ]
        read_only_fields = fields


class RecordChangeSerializer(serializers.Serializer):
    session = serializers.IntegerField()
    student = serializers.IntegerField()
    status = serializers.ChoiceField(choices=AttendanceRecord.Status.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AttendanceRecordFilter(filters.FilterSet):
    course = filters.NumberFilter(field_name="session__course")
    date_from = filters.DateFilter(field_name="session__starts_at", lookup_expr="date__gte")
    date_to = filters.DateFilter(field_name="session__starts_at", lookup_expr="date__lte")

    class Meta:
        model = AttendanceRecord
        fields = ["session", "course", "student", "status", "source", "date_from", "date_to"]


class AttendanceRecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Attendance records; POST sets one student's status in one session (a manual decision)."""

    serializer_class = AttendanceRecordSerializer
    filterset_class = AttendanceRecordFilter
    permission_classes = [permissions.IsAuthenticated, StaffModelPermissions]

    def get_queryset(self) -> QuerySet[AttendanceRecord]:
        return (
            AttendanceRecord.objects.filter(session__in=sessions_for(user=self.request.user))
            .select_related("student", "session")
            .order_by("-session__starts_at", "student__last_name", "student__first_name")
        )

    @extend_schema(request=RecordChangeSerializer, responses={200: AttendanceRecordSerializer})
    def create(self, request: Request) -> Response:
        change = RecordChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        session = sessions_for(user=request.user).filter(pk=change.validated_data["session"]).first()
        if session is None:
            raise exceptions.NotFound("No such session.")
        student = session_students(session=session).filter(pk=change.validated_data["student"]).first()
        if student is None:
            raise exceptions.ValidationError({"student": "That student is not enrolled in this session's course."})
        record = attendance_set_status(
            session=session,
            student=student,
            status=change.validated_data["status"],
            note=change.validated_data["note"],
            changed_by=cast(User, request.user),
        )
        return Response(AttendanceRecordSerializer(record).data, status=status.HTTP_200_OK)
