"""Who counts in a session."""

from __future__ import annotations

import datetime

from attendance.models import ClassSession, Course, Enrollment
from attendance.selectors import session_students
from students.models import Student


def test_an_ended_enrolment_does_not_count_because_another_course_is_open(
    course: Course, open_session: ClassSession, student: Student
) -> None:
    # The student left this course a month ago but is still enrolled, open-ended, elsewhere.
    Enrollment.objects.filter(course=course, student=student).update(
        end_date=datetime.date.today() - datetime.timedelta(days=30)
    )
    other = Course.objects.create(code="MA201", name="Maths")
    Enrollment.objects.create(course=other, student=student, start_date=datetime.date(2020, 1, 1))

    assert list(session_students(session=open_session)) == []


def test_a_current_enrolment_counts(open_session: ClassSession, student: Student) -> None:
    assert list(session_students(session=open_session)) == [student]
