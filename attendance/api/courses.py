"""REST resource for courses: staff change them, a teacher reads the courses they teach."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import permissions, serializers, viewsets

from attendance.models import Course
from attendance.selectors import courses_for
from config.web import IsStaffOrReadOnly, StaffModelPermissions


class CourseSerializer(serializers.ModelSerializer):
    teachers = serializers.PrimaryKeyRelatedField(many=True, queryset=User.objects.all(), required=False)

    class Meta:
        model = Course
        fields = ["id", "code", "name", "teachers"]


class CourseViewSet(viewsets.ModelViewSet):
    serializer_class = CourseSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly, StaffModelPermissions]
    filterset_fields = ["code"]
    search_fields = ["code", "name"]

    def get_queryset(self) -> QuerySet[Course]:
        return courses_for(user=self.request.user).prefetch_related("teachers").order_by("code")
