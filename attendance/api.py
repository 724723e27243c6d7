"""REST API for courses, class sessions, attendance records and reports, and the API's error handler.

Every queryset is scoped by the selectors in attendance/selectors.py, so a teacher sees and changes
only the courses they teach (anything else is a 404); writes go through the same services as the
pages, and the reports are the ones the report pages compute (attendance/reports.py).
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from attendance.errors import ApplicationError
from attendance.models import AttendanceRecord, ClassSession, Course
from attendance.reports import CourseReport, SessionReport, student_history
from attendance.selectors import courses_for, session_students, sessions_for, students_for
from attendance.services import attendance_set_status, session_close, session_open
from students.models import Student


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message})
    return drf_exception_handler(exc, context)


class IsStaffOrReadOnly(permissions.BasePermission):
    """Staff change; everybody else only reads (what their queryset lets them see)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_staff)


class IsStaffToDelete(permissions.BasePermission):
    """Only staff delete: deleting a session also deletes its records and their audit trail."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method != "DELETE" or bool(request.user and request.user.is_staff)


# --- Courses ------------------------------------------------------------------------------


class CourseSerializer(serializers.ModelSerializer):
    teachers = serializers.PrimaryKeyRelatedField(many=True, queryset=User.objects.all(), required=False)

    class Meta:
        model = Course
        fields = ["id", "code", "name", "teachers"]


class CourseViewSet(viewsets.ModelViewSet):
    serializer_class = CourseSerializer
    permission_classes = [permissions.IsAuthenticated, IsStaffOrReadOnly]
    filterset_fields = ["code"]
    search_fields = ["code", "name"]

    def get_queryset(self) -> QuerySet[Course]:
        return courses_for(user=self.request.user).prefetch_related("teachers").order_by("code")


# --- Sessions -----------------------------------------------------------------------------


class ClassSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClassSession
        fields = ["id", "course", "starts_at", "ends_at", "late_after_minutes", "state"]
        read_only_fields = ["state"]

    def validate_course(self, course: Course) -> Course:
        if not courses_for(user=self.context["request"].user).filter(pk=course.pk).exists():
            raise serializers.ValidationError("You do not teach this course.")
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
    permission_classes = [permissions.IsAuthenticated, IsStaffToDelete]

    def get_queryset(self) -> QuerySet[ClassSession]:
        return sessions_for(user=self.request.user).order_by("-starts_at")

    @extend_schema(request=None, responses=ClassSessionSerializer)
    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        return Response(ClassSessionSerializer(session_open(session=self.get_object())).data)

    @extend_schema(request=None, responses=ClassSessionSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return Response(ClassSessionSerializer(session_close(session=self.get_object())).data)


# --- Attendance records ---------------------------------------------------------------------


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


# --- Reports: the JSON of the report pages --------------------------------------------------

Status = AttendanceRecord.Status
Source = AttendanceRecord.Source


class TallySerializer(serializers.Serializer):
    present = serializers.IntegerField()
    late = serializers.IntegerField()
    absent = serializers.IntegerField()
    excused = serializers.IntegerField()
    counted = serializers.IntegerField(help_text="Sessions in which the student counted.")
    rate = serializers.FloatField(
        allow_null=True, help_text="(present + late weight * late) / (counted - excused); null when nothing is left."
    )
    percent = serializers.FloatField(allow_null=True, help_text="The rate in percent, rounded to 0.1.")
    flagged = serializers.BooleanField(help_text="The rate is under the warning rate.")


class ReportStudentSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Student
        fields = ["id", "student_number", "full_name"]


class ReportCourseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Course
        fields = ["id", "code", "name"]


class ReportRulesSerializer(serializers.Serializer):
    late_weight = serializers.FloatField(help_text="What a late arrival counts for in the rate.")
    warning_rate = serializers.FloatField(help_text="Students under this rate are flagged.")


def _rules() -> dict[str, float]:
    return {"late_weight": settings.ATTENDANCE_LATE_WEIGHT, "warning_rate": settings.ATTENDANCE_RATE_WARNING}


class SessionReportLineSerializer(serializers.Serializer):
    student = ReportStudentSerializer()
    status = serializers.ChoiceField(
        choices=Status.choices, allow_null=True, help_text="Null only when the session has not been held."
    )
    first_seen_at = serializers.DateTimeField(allow_null=True)
    # The stubs see Field.source (a str); DRF's metaclass takes declared fields off the class.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Source.choices, allow_null=True, help_text="Null: no record."
    )


class SessionReportSerializer(serializers.Serializer):
    session = ClassSessionSerializer()
    held = serializers.BooleanField(help_text="Open or closed; a scheduled session counts nobody.")
    rules = ReportRulesSerializer()
    tally = TallySerializer()
    lines = SessionReportLineSerializer(many=True, help_text="Every student who counts in the session.")


class CourseReportSessionSerializer(serializers.Serializer):
    session = ClassSessionSerializer()
    totals = TallySerializer()


class CourseReportRowSerializer(serializers.Serializer):
    student = ReportStudentSerializer()
    enrolled_from = serializers.DateField(source="enrollment.start_date")
    enrolled_until = serializers.DateField(source="enrollment.end_date", allow_null=True)
    cells = serializers.ListField(
        child=serializers.ChoiceField(choices=Status.choices, allow_null=True),
        help_text="A status per session, in the order of `sessions`; null where the student did not count.",
    )
    tally = TallySerializer()


class CourseReportSerializer(serializers.Serializer):
    course = ReportCourseSerializer()
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    rules = ReportRulesSerializer()
    sessions = CourseReportSessionSerializer(many=True, help_text="The held sessions in the date range.")
    rows = CourseReportRowSerializer(many=True, help_text="One per student enrolled during the date range.")


class CourseReportQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="Sessions on or after this local date.")
    date_to = serializers.DateField(required=False, help_text="Sessions on or before this local date.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        date_from, date_to = attrs.get("date_from"), attrs.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise serializers.ValidationError({"date_to": "The date_to is before the date_from."})
        return attrs


class HistoryEntrySerializer(serializers.Serializer):
    session = serializers.IntegerField(source="session.pk")
    starts_at = serializers.DateTimeField(source="session.starts_at")
    status = serializers.ChoiceField(choices=Status.choices)
    first_seen_at = serializers.DateTimeField(allow_null=True)
    # The stubs see Field.source (a str); DRF's metaclass takes declared fields off the class.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Source.choices, allow_null=True, help_text="Null: no record."
    )


class CourseHistorySerializer(serializers.Serializer):
    course = ReportCourseSerializer()
    enrolled_from = serializers.DateField(source="enrollment.start_date")
    enrolled_until = serializers.DateField(source="enrollment.end_date", allow_null=True)
    tally = TallySerializer()
    entries = HistoryEntrySerializer(many=True, help_text="The held sessions while the student was enrolled.")


class StudentReportSerializer(serializers.Serializer):
    student = ReportStudentSerializer()
    rules = ReportRulesSerializer()
    courses = CourseHistorySerializer(many=True, help_text="Only the courses the user may see.")


class _ReportViewSet(viewsets.GenericViewSet):
    # One object's report: get_object() scopes it by the selector (anything else is a 404).
    filter_backends: list[type] = []
    pagination_class = None


class SessionReportViewSet(_ReportViewSet):
    """One session: every student who counts in it with their status."""

    serializer_class = SessionReportSerializer

    def get_queryset(self) -> QuerySet[ClassSession]:
        return sessions_for(user=self.request.user)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        session = self.get_object()
        report = SessionReport(session=session)
        # The tally fills as the lines are read.
        lines = list(report.lines())
        answer = {"session": session, "held": report.held, "rules": _rules(), "tally": report.tally, "lines": lines}
        return Response(SessionReportSerializer(answer).data)


class CourseReportViewSet(_ReportViewSet):
    """One course: its students by its held sessions, with a local-date range."""

    serializer_class = CourseReportSerializer

    def get_queryset(self) -> QuerySet[Course]:
        return courses_for(user=self.request.user)

    @extend_schema(parameters=[CourseReportQuerySerializer])
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        course = self.get_object()
        query = CourseReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = CourseReport(course=course, **query.validated_data)
        # The session totals fill as the rows are read.
        rows = list(report.rows())
        answer = {
            "course": course,
            "date_from": report.date_from,
            "date_to": report.date_to,
            "rules": _rules(),
            "sessions": [
                {"session": session, "totals": totals}
                for session, totals in zip(report.sessions, report.session_totals, strict=True)
            ],
            "rows": rows,
        }
        return Response(CourseReportSerializer(answer).data)


class StudentReportViewSet(_ReportViewSet):
    """One student across the courses the user may see."""

    serializer_class = StudentReportSerializer

    def get_queryset(self) -> QuerySet[Student]:
        return students_for(user=self.request.user)

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        student = self.get_object()
        # A teacher sees the student's attendance in the courses they teach, not in others.
        histories = list(student_history(student=student, courses=courses_for(user=request.user)))
        answer = {"student": student, "rules": _rules(), "courses": histories}
        return Response(StudentReportSerializer(answer).data)
