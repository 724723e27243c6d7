"""The report pages' reports as JSON (attendance/reports.py computes them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from attendance.api.sessions import ClassSessionSerializer
from attendance.models import AttendanceRecord, ClassSession, Course, validate_supported_date
from attendance.reports import CourseReport, SessionReport, parse_switch, student_history
from attendance.selectors import courses_for, sessions_for, students_for
from students.models import Student

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


class SeenSerializer(serializers.Serializer):
    """When and how a student was first seen: the fields a report line and a history entry share."""

    first_seen_at = serializers.DateTimeField(allow_null=True)
    # The stubs see Field.source (a str); DRF's metaclass takes declared fields off the class.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Source.choices, allow_null=True, help_text="Null: no record."
    )


class SessionReportLineSerializer(SeenSerializer):
    student = ReportStudentSerializer()
    status = serializers.ChoiceField(
        choices=Status.choices, allow_null=True, help_text="Null only when the session has not been held."
    )


class IncludeOpenField(serializers.BooleanField):
    """The include_open switch, taking the values the report pages take (attendance.reports.parse_switch)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Count the open sessions (still taking attendance) in rates and totals.")
        super().__init__(required=False, default=False, **kwargs)

    def to_internal_value(self, data: Any) -> bool:
        try:
            return parse_switch(str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class IncludeOpenQuerySerializer(serializers.Serializer):
    include_open = IncludeOpenField()


class SessionReportSerializer(serializers.Serializer):
    session = ClassSessionSerializer()
    held = serializers.BooleanField(help_text="Open or closed; a scheduled or cancelled session counts nobody.")
    provisional = serializers.BooleanField(help_text="The session is still open: its figures may change.")
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
    include_open = serializers.BooleanField(help_text="Whether open sessions are counted (and in `sessions`).")
    rules = ReportRulesSerializer()
    sessions = CourseReportSessionSerializer(
        many=True, help_text="The counted sessions in the date range: closed ones, and open ones with include_open."
    )
    open_sessions_left_out = ClassSessionSerializer(
        many=True, source="open_left_out", help_text="The open sessions in the date range that are not counted."
    )
    cancelled_sessions = ClassSessionSerializer(
        many=True, source="cancelled", help_text="The cancelled sessions in the date range: no attendance."
    )
    rows = CourseReportRowSerializer(many=True, help_text="One per student enrolled during the date range.")


class CourseReportQuerySerializer(IncludeOpenQuerySerializer):
    date_from = serializers.DateField(
        required=False, validators=[validate_supported_date], help_text="Sessions on or after this local date."
    )
    date_to = serializers.DateField(
        required=False, validators=[validate_supported_date], help_text="Sessions on or before this local date."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        date_from, date_to = attrs.get("date_from"), attrs.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise serializers.ValidationError({"date_to": "The date_to is before the date_from."})
        return attrs


class HistoryEntrySerializer(SeenSerializer):
    session = serializers.IntegerField(source="session.pk")
    starts_at = serializers.DateTimeField(source="session.starts_at")
    status = serializers.ChoiceField(choices=Status.choices)


class CourseHistorySerializer(serializers.Serializer):
    course = ReportCourseSerializer()
    enrolled_from = serializers.DateField(source="enrollment.start_date")
    enrolled_until = serializers.DateField(source="enrollment.end_date", allow_null=True)
    tally = TallySerializer()
    entries = HistoryEntrySerializer(many=True, help_text="The counted sessions while the student was enrolled.")
    open_sessions_left_out = ClassSessionSerializer(
        many=True, source="open_left_out", help_text="The open sessions while enrolled that are not counted."
    )


class StudentReportSerializer(serializers.Serializer):
    student = ReportStudentSerializer()
    include_open = serializers.BooleanField(help_text="Whether open sessions are counted (and in `entries`).")
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
        answer = {
            "session": session,
            "held": report.held,
            "provisional": session.state == ClassSession.State.OPEN,
            "rules": _rules(),
            "tally": report.tally,
            "lines": lines,
        }
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
            "include_open": report.include_open,
            "rules": _rules(),
            "sessions": [
                {"session": session, "totals": totals}
                for session, totals in zip(report.sessions, report.session_totals, strict=True)
            ],
            "open_left_out": report.open_left_out,
            "cancelled": report.cancelled,
            "rows": rows,
        }
        return Response(CourseReportSerializer(answer).data)


class StudentReportViewSet(_ReportViewSet):
    """One student across the courses the user may see."""

    serializer_class = StudentReportSerializer

    def get_queryset(self) -> QuerySet[Student]:
        return students_for(user=self.request.user)

    @extend_schema(parameters=[IncludeOpenQuerySerializer])
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        student = self.get_object()
        query = IncludeOpenQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        include_open = query.validated_data["include_open"]
        # A teacher sees the student's attendance in the courses they teach, not in others.
        courses = courses_for(user=request.user)
        histories = list(student_history(student=student, courses=courses, include_open=include_open))
        answer = {"student": student, "include_open": include_open, "rules": _rules(), "courses": histories}
        return Response(StudentReportSerializer(answer).data)
