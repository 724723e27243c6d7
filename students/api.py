"""REST endpoints for enrolment photos, staff only: upload (202, processed in the background; needs
the permission to add photos), status and the list of photos. The students themselves are in
attendance/api/students.py (a teacher sees the students of the courses they teach)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.web import StaffModelPermissions
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
    permission_classes = [IsAdminUser, StaffModelPermissions]
    queryset = StudentPhoto.objects.all()  # the model whose permissions StaffModelPermissions checks
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
