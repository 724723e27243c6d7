"""Recording attendance: face sightings, manual decisions, closing and reopening sessions."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from attendance.services import (
    attendance_set_status,
    session_close,
    session_open,
    session_start_now,
)
from config.web import ApplicationError
from students.models import Student
from tests.attendance.builders import enrol, seen

pytestmark = pytest.mark.django_db


@pytest.fixture
def grace(course: Course) -> Student:
    """A second student of the course."""
    return enrol(course, Student.objects.create(student_number="S002", first_name="Grace", last_name="Hopper"))


def changes(session: ClassSession) -> list[tuple[str, str, str, str, str | None]]:
    """The audit trail, oldest first: (student number, old status, new status, source, author)."""
    rows = AttendanceChange.objects.filter(session=session).order_by("pk").select_related("student", "changed_by")
    return [
        (
            row.student.student_number,
            row.old_status,
            row.new_status,
            row.source,
            row.changed_by.username if row.changed_by else None,
        )
        for row in rows
    ]


@pytest.mark.parametrize(
    ("minutes", "status"),
    [(-3, "present"), (9, "present"), (10, "present"), (10.5, "late"), (40, "late")],
)
def test_a_sighting_marks_present_until_the_late_minutes_have_passed(
    open_session: ClassSession, student: Student, minutes: float, status: str
) -> None:
    record = seen(open_session, student, minutes=minutes, distance=0.62)

    assert record is not None
    record.refresh_from_db()
    assert (record.status, record.source) == (status, "face")
    assert record.first_seen_at == record.last_seen_at == open_session.starts_at + datetime.timedelta(minutes=minutes)
    assert record.best_distance == pytest.approx(0.62)
    assert changes(open_session) == [("S001", "", status, "face", None)]


def test_late_minutes_are_the_sessions_own(open_session: ClassSession, student: Student) -> None:
    open_session.late_after_minutes = 0
    open_session.save()

    seen(open_session, student, minutes=1)

    assert AttendanceRecord.objects.get(student=student).status == "late"


def test_a_later_sighting_updates_last_seen_and_best_distance_only(
    open_session: ClassSession, student: Student
) -> None:
    seen(open_session, student, minutes=2, distance=0.8)

    seen(open_session, student, minutes=30, distance=0.5)
    seen(open_session, student, minutes=31, distance=0.9)

    record = AttendanceRecord.objects.get(student=student)
    assert record.status == "present"
    assert record.first_seen_at == open_session.starts_at + datetime.timedelta(minutes=2)
    assert record.last_seen_at == open_session.starts_at + datetime.timedelta(minutes=31)
    assert record.best_distance == pytest.approx(0.5)
    assert changes(open_session) == [("S001", "", "present", "face", None)]


@pytest.mark.parametrize("state", [ClassSession.State.CLOSED, ClassSession.State.SCHEDULED])
def test_a_sighting_in_a_session_that_is_not_open_does_nothing(
    open_session: ClassSession, student: Student, state: str
) -> None:
    open_session.state = state
    open_session.save()

    assert seen(open_session, student, minutes=1) is None

    assert not AttendanceRecord.objects.exists()
    assert not AttendanceChange.objects.exists()


def test_a_sighting_of_a_student_not_enrolled_does_nothing(open_session: ClassSession) -> None:
    stranger = Student.objects.create(student_number="X999", first_name="Not", last_name="Enrolled")

    assert seen(open_session, stranger, minutes=1) is None

    assert not AttendanceRecord.objects.exists()


def test_a_sighting_of_a_student_whose_enrolment_ended_does_nothing(
    open_session: ClassSession, student: Student
) -> None:
    Enrollment.objects.filter(student=student).update(
        end_date=timezone.localdate(open_session.starts_at) - datetime.timedelta(days=1)
    )

    assert seen(open_session, student, minutes=1) is None

    assert not AttendanceRecord.objects.exists()


@pytest.mark.parametrize("status", ["absent", "excused", "present", "late"])
def test_face_recognition_never_overwrites_a_manual_decision(
    open_session: ClassSession, student: Student, teacher: User, status: str
) -> None:
    attendance_set_status(session=open_session, student=student, status=status, changed_by=teacher, note="Checked")

    record = seen(open_session, student, minutes=20, distance=0.3)

    assert record is not None
    record.refresh_from_db()
    assert (record.status, record.source, record.note, record.changed_by) == (status, "manual", "Checked", teacher)
    # The decision stands, and the page can say that the camera saw the student since.
    assert record.first_seen_at == record.last_seen_at == open_session.starts_at + datetime.timedelta(minutes=20)
    assert changes(open_session) == [("S001", "", status, "manual", "teacher")]


def test_an_imported_decision_is_kept_too(open_session: ClassSession, student: Student) -> None:
    attendance_set_status(session=open_session, student=student, status="excused", changed_by=None, source="import")

    seen(open_session, student, minutes=1)

    record = AttendanceRecord.objects.get(student=student)
    assert (record.status, record.source) == ("excused", "import")


def test_a_manual_correction_replaces_a_face_record(
    open_session: ClassSession, student: Student, teacher: User
) -> None:
    seen(open_session, student, minutes=1)

    record = attendance_set_status(
        session=open_session, student=student, status="absent", changed_by=teacher, note="Not this student"
    )

    record.refresh_from_db()
    assert (record.status, record.source, record.changed_by, record.note) == (
        "absent",
        "manual",
        teacher,
        "Not this student",
    )
    assert changes(open_session) == [
        ("S001", "", "present", "face", None),
        ("S001", "present", "absent", "manual", "teacher"),
    ]


def test_every_manual_change_is_kept_in_the_audit_trail(
    open_session: ClassSession, student: Student, teacher: User, other_teacher: User
) -> None:
    attendance_set_status(session=open_session, student=student, status="absent", changed_by=teacher)
    attendance_set_status(session=open_session, student=student, status="excused", changed_by=other_teacher)
    attendance_set_status(session=open_session, student=student, status="present", changed_by=teacher)

    assert changes(open_session) == [
        ("S001", "", "absent", "manual", "teacher"),
        ("S001", "absent", "excused", "manual", "other"),
        ("S001", "excused", "present", "manual", "teacher"),
    ]
    assert AttendanceRecord.objects.get(student=student).status == "present"


def test_an_unknown_status_is_refused(open_session: ClassSession, student: Student, teacher: User) -> None:
    with pytest.raises(ApplicationError) as error:
        attendance_set_status(session=open_session, student=student, status="here", changed_by=teacher)

    assert error.value.message == "Unknown status 'here'; use one of present, late, absent, excused."
    assert not AttendanceRecord.objects.exists()


def test_a_student_not_enrolled_cannot_be_marked(open_session: ClassSession, teacher: User) -> None:
    stranger = Student.objects.create(student_number="X999", first_name="Not", last_name="Enrolled")

    with pytest.raises(ApplicationError) as error:
        attendance_set_status(session=open_session, student=stranger, status="present", changed_by=teacher)

    assert error.value.message == "Not Enrolled is not enrolled in CS101 for this session."
    assert not AttendanceRecord.objects.exists()


def test_closing_marks_everyone_never_seen_absent(
    open_session: ClassSession, student: Student, grace: Student, teacher: User
) -> None:
    seen(open_session, grace, minutes=1)

    session_close(session=open_session)

    open_session.refresh_from_db()
    assert open_session.state == "closed"
    records = AttendanceRecord.objects.filter(session=open_session)
    assert sorted(records.values_list("student__student_number", "status", "source")) == [
        ("S001", "absent", "system"),
        ("S002", "present", "face"),
    ]
    absent = AttendanceChange.objects.get(student=student)
    assert (absent.old_status, absent.new_status, absent.source, absent.changed_by) == ("", "absent", "system", None)
    assert absent.note == "Not seen before the session closed."


def test_closing_again_adds_nothing(open_session: ClassSession, student: Student) -> None:
    session_close(session=open_session)

    session_close(session=open_session)

    assert AttendanceRecord.objects.count() == 1
    assert AttendanceChange.objects.count() == 1


def test_closing_keeps_manual_decisions(open_session: ClassSession, student: Student, teacher: User) -> None:
    attendance_set_status(session=open_session, student=student, status="excused", changed_by=teacher)

    session_close(session=open_session)

    assert list(AttendanceRecord.objects.values_list("status", "source")) == [("excused", "manual")]


def test_after_reopening_face_recognition_replaces_the_absence_set_on_closing(
    open_session: ClassSession, student: Student
) -> None:
    session_close(session=open_session)
    session_open(session=open_session)

    record = seen(open_session, student, minutes=45, distance=0.6)

    assert record is not None
    record.refresh_from_db()
    assert (record.status, record.source) == ("late", "face")
    assert record.first_seen_at == open_session.starts_at + datetime.timedelta(minutes=45)
    assert changes(open_session) == [
        ("S001", "", "absent", "system", None),
        ("S001", "absent", "late", "face", None),
    ]


def test_after_reopening_a_manual_absence_stays(open_session: ClassSession, student: Student, teacher: User) -> None:
    attendance_set_status(session=open_session, student=student, status="absent", changed_by=teacher)
    session_close(session=open_session)
    session_open(session=open_session)

    seen(open_session, student, minutes=45)

    assert list(AttendanceRecord.objects.values_list("status", "source")) == [("absent", "manual")]


def test_starting_a_session_now_opens_it_for_the_default_length(course: Course) -> None:
    before = timezone.now()

    session = session_start_now(course=course, minutes=50)

    assert session.state == "open"
    assert before <= session.starts_at <= timezone.now()
    assert session.ends_at - session.starts_at == datetime.timedelta(minutes=50)
