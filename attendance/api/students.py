"""REST resource for students: staff create, change and delete them; a teacher reads the students
of the courses they teach. Consent is changed only by its actions, through the consent services:
withdrawing deletes the student's photos and embeddings at once, recording it checks the photos
rejected for the lack of it again."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from attendance.selectors import courses_for, students_for
from config.web import IsStaffOrReadOnly, StaffModelPermissions
from students.consent import student_record_consent, student_withdraw_consent
from students.models import Student


class StudentSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Student
        fields = [
            "id",
            "student_number",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "is_active",
            "consent_given_at",
            "created_at",
            "updated_at",
        ]
        # Consent changes only through the consent actions below (they delete or requeue photos).
        read_only_fields = ["consent_given_at", "created_at", "updated_at"]


class StudentFilter(filters.FilterSet):
    course = filters.NumberFilter(method="filter_course", label="Enrolled in this course (id)")
    active = filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = Student
        fields = ["course", "active"]

    def filter_course(self, queryset: QuerySet[Student], name: str, value: int) -> QuerySet[Student]:
        # Only a course the user may see: a teacher must not learn who else takes another course.
        course = courses_for(user=self.request.user).filter(pk=value)
        return queryset.filter(enrollments__course__in=course).distinct()


class StudentViewSet(viewsets.ModelViewSet):
    """Staff create, change and delete students; a teacher reads the students of the courses they teach.

    Deleting a student deletes their photos and, once that commits, the photo files
    (students/receivers.py).
    """

    serializer_class = StudentSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly, StaffModelPermissions]
    filterset_class = StudentFilter
    search_fields = ["student_number", "first_name", "last_name"]
    ordering_fields = ["student_number", "last_name", "first_name"]

    def get_queryset(self) -> QuerySet[Student]:
        return students_for(user=self.request.user).order_by("last_name", "first_name", "student_number")

    @extend_schema(
        request=None,
        responses=StudentSerializer,
        summary="Record or withdraw the student's consent to face recognition",
        description="POST records consent (now, unless already recorded) and checks again the photos rejected "
        "for the lack of it. DELETE withdraws consent and deletes every photo and embedding of the student.",
    )
    @action(detail=True, methods=["post", "delete"])
    def consent(self, request: Request, pk: str | None = None) -> Response:
        student = self.get_object()
        if request.method == "DELETE":
            student_withdraw_consent(student=student)
        else:
            student_record_consent(student=student)
        student.refresh_from_db()
        return Response(StudentSerializer(student).data)
