"""Courses, their class sessions and who attended them."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from students.models import Student

# Session dates from outside (forms, the API, report ranges) must fall in these years: far from
# the ends of Python's dates, so no arithmetic on them or time-zone conversion can overflow.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
LATE_AFTER_MAX_MINUTES = 24 * 60


def validate_supported_date(value: datetime.date) -> None:
    """A date (or date and time) of a session or an enrolment, or a bound of a report range, in the
    years the app supports (dates far outside them overflow date arithmetic)."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(
            f"Dates must be in the years {EARLIEST_YEAR} to {LATEST_YEAR}, not {value.year}.", code="date_range"
        )


class Course(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="courses_taught", blank=True)
    students = models.ManyToManyField(Student, through="Enrollment", related_name="courses", blank=True)
    cards_only = models.BooleanField(
        default=False,
        help_text="Attendance only with check-in cards (and by hand): no face recognition in this course's sessions.",
    )
    # The class's sourcedId in the school's information system (OneRoster), if imported from it.
    sourced_id = models.CharField(max_length=255, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class EnrollmentQuerySet(models.QuerySet["Enrollment"]):
    def overlapping(self, first: datetime.date | None, last: datetime.date | None) -> EnrollmentQuerySet:
        """Enrolments in force on at least one day from `first` to `last` (None: no bound)."""
        enrollments = self
        if last is not None:
            enrollments = enrollments.filter(start_date__lte=last)
        if first is not None:
            enrollments = enrollments.filter(models.Q(end_date__isnull=True) | models.Q(end_date__gte=first))
        return enrollments

    def on(self, day: datetime.date) -> EnrollmentQuerySet:
        """Enrolments in force on `day`: the student counts in the course's sessions held that day."""
        return self.overlapping(day, day)

    def not_ended(self, day: datetime.date) -> EnrollmentQuerySet:
        """Enrolments in force on `day` or starting later."""
        return self.overlapping(day, None)


class Enrollment(models.Model):
    """A student's membership of a course; they count only in sessions held between the dates.

    The model keeps its American name (table, API field names and related names say
    "enrollment"); everything else in the code says "enrolment".
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="enrollments")
    start_date = models.DateField(default=datetime.date.today, validators=[validate_supported_date])
    end_date = models.DateField(null=True, blank=True, validators=[validate_supported_date])
    sourced_id = models.CharField(max_length=255, null=True, blank=True, unique=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "student"], name="unique_enrollment"),
        ]

    def __str__(self) -> str:
        return f"{self.student} in {self.course.code}"

    def in_force_on(self, day: datetime.date) -> bool:
        """`EnrollmentQuerySet.on` for one loaded row."""
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


class ClassSession(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="sessions")
    # The sessions scheduled together as one weekly series share it (None: scheduled alone).
    series = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    starts_at = models.DateTimeField(validators=[validate_supported_date])
    ends_at = models.DateTimeField(validators=[validate_supported_date])
    late_after_minutes = models.PositiveIntegerField(
        default=10,
        validators=[MaxValueValidator(LATE_AFTER_MAX_MINUTES)],
        help_text="Students first seen this many minutes after the start are late.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course.code} {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"

    @property
    def late_from(self) -> datetime.datetime:
        return self.starts_at + datetime.timedelta(minutes=self.late_after_minutes)


class AttendanceRecord(models.Model):
    class Status(models.TextChoices):
        PRESENT = "present", "Present"
        LATE = "late", "Late"
        ABSENT = "absent", "Absent"
        EXCUSED = "excused", "Excused"

    class Source(models.TextChoices):
        FACE = "face", "Face recognition"
        MANUAL = "manual", "Manual"
        # A teacher confirmed a face the camera was unsure of (or named it): seen, not decided by hand.
        TEACHER = "teacher", "Confirmed by the teacher"
        CARD = "card", "Check-in card"
        IMPORT = "import", "Import"
        # Absent because not seen: when the session closed, or marked with everyone not yet seen. A
        # later sighting turns it into present or late.
        SYSTEM = "system", "Not seen (automatic)"

    session = models.ForeignKey(ClassSession, on_delete=models.CASCADE, related_name="records")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="attendance_records")
    status = models.CharField(max_length=10, choices=Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    best_distance = models.FloatField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session", "student"]
        constraints = [
            models.UniqueConstraint(fields=["session", "student"], name="one_record_per_session_student"),
        ]

    def __str__(self) -> str:
        return f"{self.student} {self.status} in {self.session}"


class AttendanceChange(models.Model):
    """Append-only audit trail: every change of a record's status, by whom and from what source."""

    session = models.ForeignKey(ClassSession, on_delete=models.CASCADE, related_name="changes")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="attendance_changes")
    # Blank: not seen (no record), before the first decision or after one was undone.
    old_status = models.CharField(max_length=10, choices=AttendanceRecord.Status.choices, blank=True)
    new_status = models.CharField(max_length=10, choices=AttendanceRecord.Status.choices, blank=True)
    source = models.CharField(max_length=10, choices=AttendanceRecord.Source.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.student} {self.old_status or '-'} -> {self.new_status} ({self.source})"


class SessionChange(models.Model):
    """Append-only audit trail of a session's times: every change, by whom, from what, to what."""

    session = models.ForeignKey(ClassSession, on_delete=models.CASCADE, related_name="time_changes")
    old_starts_at = models.DateTimeField()
    old_ends_at = models.DateTimeField()
    new_starts_at = models.DateTimeField()
    new_ends_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        old, new = timezone.localtime(self.old_starts_at), timezone.localtime(self.new_starts_at)
        return f"{self.session}: {old:%Y-%m-%d %H:%M} -> {new:%Y-%m-%d %H:%M}"


class TeacherRosterId(models.Model):
    """A teacher's sourcedId in the school's information system (OneRoster users.csv)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="roster_id")
    sourced_id = models.CharField(max_length=255, unique=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.sourced_id})"


class AttendanceAlert(models.Model):
    """A student's attendance in a course is under the warning rate or absent too often in a row;
    it lasts until `ended_at` (the condition cleared), with the emails sent about it."""

    class Reason(models.TextChoices):
        LOW_RATE = "low_rate", "Attendance rate under the warning level"
        ABSENCES = "absences", "Consecutive absences"

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="alerts")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="attendance_alerts")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    started_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["course", "student"], condition=models.Q(ended_at__isnull=True), name="one_open_alert"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} in {self.course.code}: {self.get_reason_display()}"


class AlertEmail(models.Model):
    """Every attendance alert email sent (or that failed), to whom and what it said (no biometric data)."""

    class Kind(models.TextChoices):
        FIRST = "first", "First alert"
        DIGEST = "digest", "Weekly digest"

    alert = models.ForeignKey(AttendanceAlert, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    recipient = models.EmailField()
    subject = models.CharField(max_length=255)
    body = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.sent_at:%Y-%m-%d})"
