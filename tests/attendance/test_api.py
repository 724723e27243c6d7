"""The attendance REST API: tokens, pagination, filters, manual decisions and the report endpoints.

Who may call what is in tests/test_permissions.py; here is what the answers hold.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student

pytestmark = pytest.mark.django_db

Status = AttendanceRecord.Status
Source = AttendanceRecord.Source


@pytest.fixture(autouse=True)
def report_rules(settings: Any) -> None:
    settings.ATTENDANCE_LATE_WEIGHT = 1.0
    settings.ATTENDANCE_RATE_WARNING = 0.75


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff", password="staff-pass-123", is_staff=True)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def local(day: str, hour: int = 9) -> datetime.datetime:
    """A moment in the school's time zone, so its local date is `day`."""
    return timezone.make_aware(datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour)))


def closed_session(course: Course, day: str) -> ClassSession:
    start = local(day)
    return ClassSession.objects.create(
        course=course, starts_at=start, ends_at=start + datetime.timedelta(minutes=90), state=ClassSession.State.CLOSED
    )


def scheduled_session(course: Course, day: str) -> ClassSession:
    return ClassSession.objects.create(course=course, starts_at=local(day), ends_at=local(day, 11))


def record(session: ClassSession, student: Student, status: str, source: str = Source.MANUAL) -> AttendanceRecord:
    return AttendanceRecord.objects.create(session=session, student=student, status=status, source=source)


def post_record(client: Client, **body: Any) -> Any:
    return client.post("/api/records/", json.dumps(body), content_type="application/json")


@dataclass(frozen=True)
class Term:
    """CS101 (Ada, Charles) and CS102 (Ada), both taught by the teacher; MA201 by the other teacher."""

    cs101: Course
    cs102: Course
    ma201: Course
    ada: Student
    charles: Student
    jan10: ClassSession  # CS101: Ada present, Charles late
    feb10: ClassSession  # CS101: Ada absent, Charles present
    jan20: ClassSession  # CS102: Ada excused
    ma_jan15: ClassSession  # MA201: Ada present


@pytest.fixture
def term(teacher: User, other_teacher: User, course: Course, student: Student) -> Term:
    charles = Student.objects.create(student_number="S003", first_name="Charles", last_name="Babbage")
    Enrollment.objects.create(course=course, student=charles, start_date=datetime.date(2020, 1, 1))
    cs102 = Course.objects.create(code="CS102", name="Computing 2")
    cs102.teachers.add(teacher)
    Enrollment.objects.create(course=cs102, student=student, start_date=datetime.date(2020, 1, 1))
    ma201 = Course.objects.create(code="MA201", name="Mathematics")
    ma201.teachers.add(other_teacher)
    Enrollment.objects.create(course=ma201, student=student, start_date=datetime.date(2020, 1, 1))
    jan10, feb10 = closed_session(course, "2025-01-10"), closed_session(course, "2025-02-10")
    jan20, ma_jan15 = closed_session(cs102, "2025-01-20"), closed_session(ma201, "2025-01-15")
    record(jan10, student, Status.PRESENT, Source.FACE)
    record(jan10, charles, Status.LATE, Source.FACE)
    record(feb10, student, Status.ABSENT, Source.SYSTEM)
    record(feb10, charles, Status.PRESENT)
    record(jan20, student, Status.EXCUSED)
    record(ma_jan15, student, Status.PRESENT)
    return Term(course, cs102, ma201, student, charles, jan10, feb10, jan20, ma_jan15)


# --- Token authentication -----------------------------------------------------------------


def test_a_token_authenticates_a_teacher_for_reads_and_writes(teacher: User, term: Term, settings: Any) -> None:
    settings.ATTENDANCE_LOCK_DAYS = 100_000  # the term's sessions are in the past
    _, token = AuthToken.objects.create(user=teacher)
    client = Client(enforce_csrf_checks=True)
    headers = {"Authorization": f"Token {token}"}

    courses = client.get("/api/courses/", headers=headers)
    change = client.post(
        "/api/records/",
        json.dumps({"session": term.jan10.pk, "student": term.ada.pk, "status": "late"}),
        content_type="application/json",
        headers=headers,
    )

    assert courses.status_code == 200
    assert [course["code"] for course in courses.json()["results"]] == ["CS101", "CS102"]
    # A token is not a cookie: no CSRF token is needed.
    assert change.status_code == 200
    assert AttendanceRecord.objects.get(session=term.jan10, student=term.ada).status == Status.LATE


def test_a_wrong_token_is_refused(client: Client, term: Term) -> None:
    response = client.get("/api/courses/", headers={"Authorization": "Token not-a-token"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Invalid token."}


def test_a_session_cookie_write_needs_the_csrf_token(teacher: User, term: Term) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(teacher)

    response = post_record(client, session=term.jan10.pk, student=term.ada.pk, status="late")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert AttendanceRecord.objects.get(session=term.jan10, student=term.ada).status == Status.PRESENT


# --- Pagination ---------------------------------------------------------------------------


def test_lists_come_in_pages_of_50_with_count_and_links(teacher: User, course: Course) -> None:
    start = local("2025-03-01")
    ClassSession.objects.bulk_create(
        ClassSession(
            course=course,
            starts_at=start + datetime.timedelta(days=day),
            ends_at=start + datetime.timedelta(days=day, hours=1),
        )
        for day in range(55)
    )
    client = logged_in(teacher)

    first = client.get("/api/sessions/").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"].endswith("/api/sessions/?page=2")
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert second["previous"] is not None
    ids = [item["id"] for item in first["results"] + second["results"]]
    assert len(set(ids)) == 55


# --- Filters ------------------------------------------------------------------------------


def record_keys(client: Client, query: str) -> set[tuple[int, int]]:
    response = client.get(f"/api/records/?{query}")
    assert response.status_code == 200, response.content
    return {(item["session"], item["student"]) for item in response.json()["results"]}


def test_record_filters_return_exactly_the_matching_records(teacher: User, term: Term) -> None:
    client = logged_in(teacher)
    t = term
    ada, charles = t.ada.pk, t.charles.pk

    assert record_keys(client, "") == {
        (t.jan10.pk, ada),
        (t.jan10.pk, charles),
        (t.feb10.pk, ada),
        (t.feb10.pk, charles),
        (t.jan20.pk, ada),
    }
    assert record_keys(client, f"course={t.cs102.pk}") == {(t.jan20.pk, ada)}
    assert record_keys(client, f"session={t.feb10.pk}") == {(t.feb10.pk, ada), (t.feb10.pk, charles)}
    assert record_keys(client, f"student={charles}") == {(t.jan10.pk, charles), (t.feb10.pk, charles)}
    assert record_keys(client, "status=present") == {(t.jan10.pk, ada), (t.feb10.pk, charles)}
    assert record_keys(client, "date_from=2025-01-11&date_to=2025-02-10") == {
        (t.jan20.pk, ada),
        (t.feb10.pk, ada),
        (t.feb10.pk, charles),
    }
    assert record_keys(client, "date_to=2025-01-10") == {(t.jan10.pk, ada), (t.jan10.pk, charles)}
    assert record_keys(client, f"course={t.cs101.pk}&status=absent") == {(t.feb10.pk, ada)}


def test_a_teacher_filtering_by_another_teachers_course_gets_nothing(teacher: User, term: Term) -> None:
    # Ada has a record in MA201, which the teacher does not teach.
    assert record_keys(logged_in(teacher), f"course={term.ma201.pk}") == set()
    assert record_keys(logged_in(teacher), f"session={term.ma_jan15.pk}") == set()


def test_a_bad_filter_value_is_400(teacher: User, term: Term) -> None:
    client = logged_in(teacher)

    assert client.get("/api/records/?status=asleep").status_code == 400
    assert client.get("/api/records/?date_from=yesterday").status_code == 400


def test_session_filters_return_exactly_the_matching_sessions(teacher: User, term: Term) -> None:
    client = logged_in(teacher)
    upcoming = scheduled_session(term.cs101, "2025-03-01")

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/sessions/?{query}")
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids("") == {term.jan10.pk, term.feb10.pk, term.jan20.pk, upcoming.pk}
    assert ids(f"course={term.cs101.pk}") == {term.jan10.pk, term.feb10.pk, upcoming.pk}
    assert ids("state=scheduled") == {upcoming.pk}
    assert ids("date_from=2025-01-15&date_to=2025-02-28") == {term.jan20.pk, term.feb10.pk}


# --- Manual decisions ---------------------------------------------------------------------


def test_a_teacher_posting_for_another_courses_session_gets_404_and_nothing_changes(teacher: User, term: Term) -> None:
    before = list(AttendanceRecord.objects.order_by("pk").values())

    response = post_record(logged_in(teacher), session=term.ma_jan15.pk, student=term.ada.pk, status="absent")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such session."}
    assert list(AttendanceRecord.objects.order_by("pk").values()) == before
    assert not AttendanceChange.objects.exists()


def test_a_missing_session_is_404_too(teacher: User, term: Term) -> None:
    response = post_record(logged_in(teacher), session=999_999, student=term.ada.pk, status="absent")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such session."}


def test_a_student_not_enrolled_in_the_course_is_400(teacher: User, term: Term) -> None:
    response = post_record(logged_in(teacher), session=term.jan20.pk, student=term.charles.pk, status="present")

    assert response.status_code == 400
    assert response.json() == {"student": "That student is not enrolled in this session's course."}
    assert not AttendanceRecord.objects.filter(session=term.jan20, student=term.charles).exists()


def test_a_manual_change_writes_an_audit_row_with_its_author(teacher: User, open_session: ClassSession) -> None:
    client = logged_in(teacher)
    student = open_session.course.students.get()

    first = post_record(client, session=open_session.pk, student=student.pk, status="late", note="Bus")
    second = post_record(client, session=open_session.pk, student=student.pk, status="present")

    assert first.status_code == second.status_code == 200
    body = second.json()
    assert (body["status"], body["source"], body["changed_by"]) == ("present", "manual", teacher.pk)
    assert (body["student_number"], body["student_name"]) == ("S001", "Ada Lovelace")
    assert body["course"] == open_session.course_id
    changes = AttendanceChange.objects.filter(session=open_session, student=student).order_by("pk")
    assert [(c.old_status, c.new_status, c.source, c.changed_by, c.note) for c in changes] == [
        ("", "late", "manual", teacher, "Bus"),
        ("late", "present", "manual", teacher, ""),
    ]
    assert AttendanceRecord.objects.get(session=open_session, student=student).changed_by == teacher


def test_an_unknown_status_is_400(teacher: User, open_session: ClassSession) -> None:
    student = open_session.course.students.get()

    response = post_record(logged_in(teacher), session=open_session.pk, student=student.pk, status="asleep")

    assert response.status_code == 400
    assert "status" in response.json()
    assert not AttendanceChange.objects.exists()


# --- Reports ------------------------------------------------------------------------------


def tally(present: int, late: int, absent: int, excused: int, rate: float | None) -> dict[str, Any]:
    counted = present + late + absent + excused
    return {
        "present": present,
        "late": late,
        "absent": absent,
        "excused": excused,
        "counted": counted,
        "rate": rate,
        "percent": None if rate is None else round(rate * 100, 1),
        "flagged": rate is not None and rate < 0.75,
    }


def test_the_session_report_lists_everyone_who_counts(teacher: User, term: Term) -> None:
    dora = Student.objects.create(student_number="S004", first_name="Dora", last_name="Dunn")
    Enrollment.objects.create(course=term.cs101, student=dora, start_date=datetime.date(2020, 1, 1))

    response = logged_in(teacher).get(f"/api/reports/sessions/{term.jan10.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["session"]["id"] == term.jan10.pk
    assert body["held"] is True
    assert body["rules"] == {"late_weight": 1.0, "warning_rate": 0.75}
    # In report order (last name): Babbage, Dunn, Lovelace; Dora has no record, so she is absent.
    assert [(line["student"]["student_number"], line["status"], line["source"]) for line in body["lines"]] == [
        ("S003", "late", "face"),
        ("S004", "absent", None),
        ("S001", "present", "face"),
    ]
    assert body["tally"] == tally(1, 1, 1, 0, 2 / 3)


def test_the_session_report_of_a_scheduled_session_counts_nobody(teacher: User, term: Term) -> None:
    upcoming = scheduled_session(term.cs101, "2025-03-01")

    body = logged_in(teacher).get(f"/api/reports/sessions/{upcoming.pk}/").json()

    assert body["held"] is False
    assert [line["status"] for line in body["lines"]] == [None, None]
    assert body["tally"] == tally(0, 0, 0, 0, None)


def test_the_course_report_has_students_by_sessions_and_totals(teacher: User, term: Term) -> None:
    body = logged_in(teacher).get(f"/api/reports/courses/{term.cs101.pk}/").json()

    assert body["course"] == {"id": term.cs101.pk, "code": "CS101", "name": "Computing"}
    assert (body["date_from"], body["date_to"]) == (None, None)
    assert [column["session"]["id"] for column in body["sessions"]] == [term.jan10.pk, term.feb10.pk]
    assert [column["totals"] for column in body["sessions"]] == [tally(1, 1, 0, 0, 1.0), tally(1, 0, 1, 0, 0.5)]
    rows = {row["student"]["student_number"]: row for row in body["rows"]}
    assert list(rows) == ["S003", "S001"]
    assert rows["S003"]["cells"] == ["late", "present"]
    assert rows["S003"]["tally"] == tally(1, 1, 0, 0, 1.0)
    assert rows["S001"]["cells"] == ["present", "absent"]
    assert rows["S001"]["tally"] == tally(1, 0, 1, 0, 0.5)
    assert rows["S001"]["enrolled_from"] == "2020-01-01"
    assert rows["S001"]["enrolled_until"] is None


def test_the_course_report_keeps_to_the_date_range(teacher: User, term: Term) -> None:
    url = f"/api/reports/courses/{term.cs101.pk}/?date_from=2025-02-01&date_to=2025-02-28"

    body = logged_in(teacher).get(url).json()

    assert (body["date_from"], body["date_to"]) == ("2025-02-01", "2025-02-28")
    assert [column["session"]["id"] for column in body["sessions"]] == [term.feb10.pk]
    assert [row["cells"] for row in body["rows"]] == [["present"], ["absent"]]


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("date_from=2025-03-01&date_to=2025-02-01", {"date_to": ["The date_to is before the date_from."]}),
        ("date_from=March", {"date_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
    ],
)
def test_bad_course_report_dates_are_400(teacher: User, term: Term, query: str, errors: dict[str, Any]) -> None:
    response = logged_in(teacher).get(f"/api/reports/courses/{term.cs101.pk}/?{query}")

    assert response.status_code == 400
    assert response.json() == errors


def test_the_student_report_shows_only_the_teachers_courses(teacher: User, staff: User, term: Term) -> None:
    teachers = logged_in(teacher).get(f"/api/reports/students/{term.ada.pk}/").json()
    staffs = logged_in(staff).get(f"/api/reports/students/{term.ada.pk}/").json()

    assert teachers["student"] == {"id": term.ada.pk, "student_number": "S001", "full_name": "Ada Lovelace"}
    assert [history["course"]["code"] for history in teachers["courses"]] == ["CS101", "CS102"]
    cs101 = teachers["courses"][0]
    assert [(entry["session"], entry["status"]) for entry in cs101["entries"]] == [
        (term.jan10.pk, "present"),
        (term.feb10.pk, "absent"),
    ]
    assert cs101["tally"] == tally(1, 0, 1, 0, 0.5)
    assert teachers["courses"][1]["tally"] == tally(0, 0, 0, 1, None)
    assert [history["course"]["code"] for history in staffs["courses"]] == ["CS101", "CS102", "MA201"]


def test_the_other_teacher_gets_404_for_reports_of_courses_they_do_not_teach(other_teacher: User, term: Term) -> None:
    client = logged_in(other_teacher)

    assert client.get(f"/api/reports/sessions/{term.jan10.pk}/").status_code == 404
    assert client.get(f"/api/reports/courses/{term.cs101.pk}/").status_code == 404
    assert client.get(f"/api/reports/students/{term.charles.pk}/").status_code == 404
    # Ada is in MA201 too: the other teacher sees her, but only there.
    shared = client.get(f"/api/reports/students/{term.ada.pk}/").json()
    assert [history["course"]["code"] for history in shared["courses"]] == ["MA201"]
