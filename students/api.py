"""REST endpoints for students and their enrolment photos: upload (202, processed in the
background), status and the list of photos (staff only), and the students themselves (staff
change them; a teacher reads the students of the courses they teach)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attendance.api import IsStaffOrReadOnly
from attendance.selectors import courses_for, students_for
from students.models import Student, StudentPhoto
from students.services import photo_create, upload_bytes


class PhotoUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="A JPEG, PNG or WebP photo of the student alone.")


class PhotoSerializer(serializers.ModelSerializer):
    class Meta:
        model = StudentPhoto
        fields = [
            "id",
            "student",
            "status",
            "reason",
            "face_box",
            "face_probability",
            "embedding_model",
            "width",
            "height",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields


class StudentPhotoUploadApi(APIView):
    permission_classes = [IsAdminUser]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": PhotoUploadSerializer},
        responses={202: PhotoSerializer, 200: PhotoSerializer},
        summary="Upload an enrolment photo",
        description="Stores the photo and computes its face embedding in the background; poll the photo "
        "until its status is ready, rejected or failed. The same file uploaded again returns the existing photo (200).",
    )
    def post(self, request: Request, student_id: int) -> Response:
        student = get_object_or_404(Student, pk=student_id)
        upload = PhotoUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        photo, created = photo_create(
            student=student, data=upload_bytes(upload.validated_data["image"]), uploaded_by=cast(User, request.user)
        )
        photo.refresh_from_db()
        return Response(PhotoSerializer(photo).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class PhotoDetailApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses=PhotoSerializer, summary="A photo's processing status")
    def get(self, request: Request, photo_id: int) -> Response:
        photo = get_object_or_404(StudentPhoto, pk=photo_id)
        return Response(PhotoSerializer(photo).data)


class PhotoListApi(generics.ListAPIView):
    """Every photo, newest first; staff only, like the other photo endpoints."""

    permission_classes = [IsAdminUser]
    serializer_class = PhotoSerializer
    queryset = StudentPhoto.objects.order_by("-created_at", "-pk")
    filterset_fields = ["student", "status"]


# --- Students ---------------------------------------------------------------------------------


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
        read_only_fields = ["created_at", "updated_at"]


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
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    filterset_class = StudentFilter
    search_fields = ["student_number", "first_name", "last_name"]
    ordering_fields = ["student_number", "last_name", "first_name"]

    def get_queryset(self) -> QuerySet[Student]:
        return students_for(user=self.request.user).order_by("last_name", "first_name", "student_number")
