"""Report pages: numbers on a small term of sessions against a table worked out by hand, and who sees what.

The term (course CS101, sessions at 09:00, late weight 0.5 unless a test says otherwise):

    student             enrolled          6 Jan  13 Jan  20 Jan  27 Jan  3 Feb(open)  P L A E  n  rate
    Edsger Dijkstra     until 14 Jan      E      E       (P)     ·       ·            0 0 0 2  2  -          (0/0)
    Grace Hopper        from 20 Jan       ·      ·       P       A       L            1 1 1 0  3  50% flag   (1.5/3)
    Katherine Johnson   whole term        P      P       P       P       L            4 1 0 0  5  90%        (4.5/5)
    Ada Lovelace        whole term        P      L       P       E       P            3 1 0 1  5  87.5%      (3.5/4)
    Alan Turing         whole term        P      A       L       L       (none)       1 2 2 0  5  40% flag   (2/5)

    (P): a record outside the enrollment, ignored; (none): no record in a held session, so absent.
    A scheduled session on 10 Feb is not held and does not appear. The open session of 3 Feb is
    counted only with ?include_open=1 (the table above); by default it is left out (see
    test_reports_open.py for those numbers).

    per session        6 Jan  13 Jan  20 Jan  27 Jan  3 Feb
    present            3      1       3       1       1
    late               0      1       1       1       2
    absent             0      1       0       1       1
    excused            1      1       0       1       0
    counted            4      4       4       4       4
    rate               100%   50%     87.5%   50%     50%     ((P + 0.5 L) / (counted - E))
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from attendance.reports import CourseReport, SessionReport, student_history
from students.models import Student

pytestmark = pytest.mark.django_db

P, L, A, E = "present", "late", "absent", "excused"
TALLY_COLUMNS = ["Rate", "Present", "Late", "Absent", "Excused", "Counted"]
DASH, TIMES = "\u2013", "\u00d7"  # what the pages show for "no rate" and in the formula
CLOSED_BY_SYSTEM = AttendanceRecord.Source.SYSTEM.label


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """The people fixtures hash a password each; the default hasher takes half a second a user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


DAYS = ["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27", "2025-02-03"]
# Statuses recorded per session (None: no record), by student number.
MARKS: dict[str, list[str | None]] = {
    "S001": [P, L, P, E, P],  # Ada Lovelace (the conftest student, enrolled since 2020)
    "S002": [P, A, L, L, None],  # Alan Turing
    "S003": [None, None, P, A, L],  # Grace Hopper, joined 20 Jan
    "S004": [E, E, P, None, None],  # Edsger Dijkstra, left 14 Jan: the 20 Jan record is ignored
    "S005": [P, P, P, P, L],  # Katherine Johnson
}


def at(day: str, hour: int = 9, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute))


@dataclass
class Term:
    course: Course
    sessions: list[ClassSession]
    scheduled: ClassSession
    students: dict[str, Student]


@pytest.fixture
def late_half(settings: Any) -> None:
    settings.ATTENDANCE_LATE_WEIGHT = 0.5


@pytest.fixture
def term(course: Course, student: Student) -> Term:
    students = {"S001": student}
    for number, first, last, start, end in [
        ("S002", "Alan", "Turing", "2020-01-01", None),
        ("S003", "Grace", "Hopper", "2025-01-20", None),
        ("S004", "Edsger", "Dijkstra", "2020-01-01", "2025-01-14"),
        ("S005", "Katherine", "Johnson", "2020-01-01", None),
    ]:
        students[number] = Student.objects.create(student_number=number, first_name=first, last_name=last)
        Enrollment.objects.create(course=course, student=students[number], start_date=start, end_date=end)
    sessions = [
        ClassSession.objects.create(
            course=course,
            starts_at=at(day),
            ends_at=at(day, 10, 30),
            state=ClassSession.State.OPEN if day == DAYS[-1] else ClassSession.State.CLOSED,
        )
        for day in DAYS
    ]
    for number, marks in MARKS.items():
        for session, status in zip(sessions, marks, strict=True):
            if status is None:
                continue
            seen = at(session.starts_at.date().isoformat(), 9, 12 if status == L else 2)
            AttendanceRecord.objects.create(
                session=session,
                student=students[number],
                status=status,
                source={P: "face", L: "face", A: "system", E: "manual"}[status],
                first_seen_at=seen if status in (P, L) else None,
            )
    scheduled = ClassSession.objects.create(course=course, starts_at=at("2025-02-10"), ends_at=at("2025-02-10", 10))
    return Term(course=course, sessions=sessions, scheduled=scheduled, students=students)


class _Tables(HTMLParser):
    """The text of every table cell, row by row, grouped by table section (thead, tbody, tfoot)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self._section = "tbody"
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.sections:
            self._section = tag
        elif tag == "tr":
            self.sections[self._section].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.sections[self._section][-1].append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.sections


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- Course report ------------------------------------------------------------------------


def test_course_report_matches_the_hand_computed_table(
    client: Client, teacher: User, term: Term, late_half: None
) -> None:
    client.force_login(teacher)
    html = page(client, f"/reports/courses/{term.course.pk}/?include_open=1")
    sections = tables(html)

    assert sections["thead"] == [
        ["Student", *TALLY_COLUMNS, "6 Jan09:00", "13 Jan09:00", "20 Jan09:00", "27 Jan09:00", "3 Feb09:00open"]
    ]
    assert sections["tbody"] == [
        ["Edsger Dijkstra S004", DASH, "0", "0", "0", "2", "2", "E", "E", "·", "·", "·"],
        ["Grace Hopper S003 Below 75%", "50%", "1", "1", "1", "0", "3", "·", "·", "P", "A", "L"],
        ["Katherine Johnson S005", "90%", "4", "1", "0", "0", "5", "P", "P", "P", "P", "L"],
        ["Ada Lovelace S001", "87.5%", "3", "1", "0", "1", "5", "P", "L", "P", "E", "P"],
        ["Alan Turing S002 Below 75%", "40%", "1", "2", "2", "0", "5", "P", "A", "L", "L", "A"],
    ]
    assert sections["tfoot"] == [
        ["Present", "", "3", "1", "3", "1", "1"],
        ["Late", "", "0", "1", "1", "1", "2"],
        ["Absent", "", "0", "1", "0", "1", "1"],
        ["Excused", "", "1", "1", "0", "1", "0"],
        ["Counted", "", "4", "4", "4", "4", "4"],
        ["Rate", "", "100%", "50%", "87.5%", "50%", "50%"],
    ]
    assert "<strong>5</strong> sessions counted" in html
    assert "<strong>2</strong> below 75%" in html
    assert f"late {TIMES} 0.5" in html


def test_course_report_counts_late_as_attended_by_default(client: Client, teacher: User, term: Term) -> None:
    client.force_login(teacher)
    rows = tables(page(client, f"/reports/courses/{term.course.pk}/?include_open=1"))["tbody"]

    assert [(row[0], row[1]) for row in rows] == [
        ("Edsger Dijkstra S004", DASH),
        ("Grace Hopper S003 Below 75%", "66.7%"),  # 2/3
        ("Katherine Johnson S005", "100%"),
        ("Ada Lovelace S001", "100%"),  # 4/4: the excused session is left out
        ("Alan Turing S002 Below 75%", "60%"),  # 3/5
    ]


def test_course_report_date_range_keeps_the_sessions_and_students_in_it(
    client: Client, teacher: User, term: Term, late_half: None
) -> None:
    client.force_login(teacher)
    sections = tables(page(client, f"/reports/courses/{term.course.pk}/?from=2025-01-20&to=2025-01-27"))

    assert sections["thead"][0][7:] == ["20 Jan09:00", "27 Jan09:00"]
    assert sections["tbody"] == [
        ["Grace Hopper S003 Below 75%", "50%", "1", "0", "1", "0", "2", "P", "A"],
        ["Katherine Johnson S005", "100%", "2", "0", "0", "0", "2", "P", "P"],
        ["Ada Lovelace S001", "100%", "1", "0", "0", "1", "2", "P", "E"],
        ["Alan Turing S002 Below 75%", "50%", "0", "2", "0", "0", "2", "L", "L"],
    ]


def test_course_report_uses_the_school_local_date_for_enrolment(
    client: Client, teacher: User, term: Term, settings: Any
) -> None:
    """23:30 UTC on 19 Jan is 20 Jan in Paris, the day Grace Hopper joined."""
    evening = ClassSession.objects.create(
        course=term.course,
        starts_at=datetime.datetime(2025, 1, 19, 23, 30, tzinfo=datetime.UTC),
        ends_at=datetime.datetime(2025, 1, 20, 0, 30, tzinfo=datetime.UTC),
        state=ClassSession.State.CLOSED,
    )
    AttendanceRecord.objects.create(session=evening, student=term.students["S003"], status=P, source="manual")
    client.force_login(teacher)
    url = f"/reports/courses/{term.course.pk}/?from=2025-01-19&to=2025-01-20"

    hopper = tables(page(client, url))["tbody"][0]
    assert (hopper[0], hopper[7:]) == ("Grace Hopper S003", ["·", "P"])  # UTC: 19 Jan, before she joined
    settings.TIME_ZONE = "Europe/Paris"
    hopper = tables(page(client, url))["tbody"][0]
    assert (hopper[0], hopper[7:]) == ("Grace Hopper S003", ["P", "P"])  # Paris: 20 Jan, counted


def test_course_chart_is_inline_svg_without_scripts_or_inline_styles(
    client: Client, teacher: User, term: Term, late_half: None
) -> None:
    client.force_login(teacher)
    html = page(client, f"/reports/courses/{term.course.pk}/?include_open=1")

    assert "<svg" in html
    assert "<script" not in html
    assert "<style" not in html and "style=" not in html  # the Content-Security-Policy allows neither
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing from outside the school network
    # Every bar's rate is written on the chart, not only in a tooltip (touch screens have no hover).
    assert re.findall(r'<text class="value"[^>]*>([^<]+)</text>', html) == ["100%", "50%", "87.5%", "50%", "50%"]
    assert html.count('class="bar low"') == 2 and html.count('class="bar low open"') == 1  # the three at 50%
    legend = re.search(r'<ul class="legend chart-legend" id="chart-legend">(.*?)</ul>', html, re.S)
    assert legend is not None  # a legend on the page, not in a tooltip
    assert [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip() for item in re.findall(r"<li>(.*?)</li>", legend[1])
    ] == [
        "rate 75% or more",
        "below 75%",
        "75% warning line",
        "open session, figures provisional",
        f"{DASH} nobody to count",
    ]


def test_course_report_queries_do_not_grow_with_students(
    client: Client, teacher: User, term: Term, course: Course
) -> None:
    client.force_login(teacher)
    with CaptureQueriesContext(connection) as before:
        b"".join(client.get(f"/reports/courses/{course.pk}/?format=csv").streaming_content)  # type: ignore[attr-defined]
    for number in range(30):
        extra = Student.objects.create(student_number=f"X{number:03}", last_name=f"Extra {number}")
        Enrollment.objects.create(course=course, student=extra, start_date="2020-01-01")
    with CaptureQueriesContext(connection) as after:
        content = b"".join(client.get(f"/reports/courses/{course.pk}/?format=csv").streaming_content)  # type: ignore[attr-defined]

    assert content.count(b"\r\n") == 1 + 35  # the header and one row per student, nothing stacked below
    assert len(after.captured_queries) == len(before.captured_queries)


# --- Session report -----------------------------------------------------------------------


def test_session_report_lists_everyone_enrolled_that_day(client: Client, teacher: User, term: Term) -> None:
    client.force_login(teacher)
    open_session = term.sessions[-1]
    html = page(client, f"/reports/sessions/{open_session.pk}/")

    assert tables(html)["tbody"] == [
        ["S003", "Grace Hopper", "Late", "09:12:00", "Face recognition"],
        ["S005", "Katherine Johnson", "Late", "09:12:00", "Face recognition"],
        ["S001", "Ada Lovelace", "Present", "09:02:00", "Face recognition"],
        ["S002", "Alan Turing", "Absent", DASH, "no record"],
    ]
    assert "1 present 2 late 1 absent 0 excused 75% attendance rate" in re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", "", html)
    )


def test_session_report_of_a_closed_session_shows_sources(client: Client, teacher: User, term: Term) -> None:
    client.force_login(teacher)
    rows = tables(page(client, f"/reports/sessions/{term.sessions[1].pk}/"))["tbody"]

    assert rows == [
        ["S004", "Edsger Dijkstra", "Excused", DASH, "Manual"],
        ["S005", "Katherine Johnson", "Present", "09:02:00", "Face recognition"],
        ["S001", "Ada Lovelace", "Late", "09:12:00", "Face recognition"],
        ["S002", "Alan Turing", "Absent", DASH, CLOSED_BY_SYSTEM],
    ]


def test_session_report_lines_carry_the_note_and_who_changed_the_record(teacher: User, term: Term) -> None:
    session = term.sessions[1]
    AttendanceRecord.objects.filter(session=session, student=term.students["S004"]).update(
        note="Doctor's note", changed_by=teacher
    )

    lines = {line.student.student_number: line for line in SessionReport(session=session).lines()}
    assert (lines["S004"].note, lines["S004"].changed_by) == ("Doctor's note", teacher)
    assert (lines["S002"].note, lines["S002"].changed_by) == ("", None)  # marked absent on closing
    open_lines = {line.student.student_number: line for line in SessionReport(session=term.sessions[-1]).lines()}
    assert (open_lines["S002"].note, open_lines["S002"].changed_by) == ("", None)  # no record yet


def test_session_report_of_a_scheduled_session_counts_nobody(client: Client, teacher: User, term: Term) -> None:
    client.force_login(teacher)
    html = page(client, f"/reports/sessions/{term.scheduled.pk}/")

    assert "This session has not been held yet" in html
    assert [row[1:3] for row in tables(html)["tbody"]] == [
        ["Grace Hopper", DASH],
        ["Katherine Johnson", DASH],
        ["Ada Lovelace", DASH],
        ["Alan Turing", DASH],
    ]


# --- Student report -----------------------------------------------------------------------


@pytest.fixture
def biology(term: Term, other_teacher: User) -> Course:
    """Grace Hopper also takes a course taught by the other teacher."""
    biology = Course.objects.create(code="BIO1", name="Biology")
    biology.teachers.add(other_teacher)
    Enrollment.objects.create(course=biology, student=term.students["S003"], start_date="2025-01-01")
    session = ClassSession.objects.create(
        course=biology, starts_at=at("2025-01-08"), ends_at=at("2025-01-08", 10), state=ClassSession.State.CLOSED
    )
    AttendanceRecord.objects.create(session=session, student=term.students["S003"], status=A, source="manual")
    return biology


def test_student_report_shows_history_in_the_teachers_courses_only(
    client: Client, teacher: User, term: Term, biology: Course, late_half: None
) -> None:
    client.force_login(teacher)
    html = page(client, f"/reports/students/{term.students['S003'].pk}/?include_open=1")

    assert "CS101 Computing" in html
    assert "BIO1" not in html
    assert tables(html)["tbody"] == [
        ["Mon 20 Jan 2025, 09:00", "Present", "09:02:00", "Face recognition"],
        ["Mon 27 Jan 2025, 09:00", "Absent", DASH, CLOSED_BY_SYSTEM],
        ["Mon 3 Feb 2025, 09:00 open — still taking attendance", "Late", "09:12:00", "Face recognition"],
    ]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "1 present 1 late 1 absent 0 excused 50% attendance rate" in text
    assert "Below 75%" in text


def test_student_report_for_staff_covers_every_course(
    client: Client, admin_user: User, term: Term, biology: Course
) -> None:
    client.force_login(admin_user)
    text = re.sub(r"<[^>]+>", "", page(client, f"/reports/students/{term.students['S003'].pk}/"))

    assert "BIO1 Biology" in text
    assert "CS101 Computing" in text


def test_other_teacher_sees_only_their_course_of_a_shared_student(
    client: Client, other_teacher: User, term: Term, biology: Course
) -> None:
    client.force_login(other_teacher)
    html = page(client, f"/reports/students/{term.students['S003'].pk}/")

    assert "BIO1 Biology" in html
    assert "CS101" not in html
    assert tables(html)["tbody"] == [["Wed 8 Jan 2025, 09:00", "Absent", DASH, "Manual"]]


# --- Who may see what -----------------------------------------------------------------------


def report_urls(term: Term) -> list[str]:
    return [
        f"/reports/sessions/{term.sessions[0].pk}/",
        f"/reports/courses/{term.course.pk}/",
        f"/reports/students/{term.students['S002'].pk}/",
    ]


@pytest.mark.parametrize("export", ["", "?format=csv", "?format=xlsx"])
def test_anonymous_users_are_sent_to_log_in(client: Client, term: Term, export: str) -> None:
    for url in report_urls(term):
        response = client.get(url + export)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=/reports/")


@pytest.mark.parametrize("export", ["", "?format=csv", "?format=xlsx"])
def test_another_teacher_gets_not_found(client: Client, other_teacher: User, term: Term, export: str) -> None:
    client.force_login(other_teacher)
    for url in report_urls(term):
        assert client.get(url + export).status_code == 404, url


@pytest.mark.parametrize("export", ["", "?format=csv", "?format=xlsx"])
def test_the_teacher_and_staff_get_every_report(
    client: Client, teacher: User, admin_user: User, term: Term, export: str
) -> None:
    for user in (teacher, admin_user):
        client.force_login(user)
        for url in report_urls(term):
            assert client.get(url + export).status_code == 200, (user.username, url)


def test_a_missing_object_is_not_found_too(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    for url in ["/reports/sessions/999999/", "/reports/courses/999999/", "/reports/students/999999/"]:
        assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?format=pdf", "Unknown format 'pdf': use csv or xlsx."),
        ("?from=20-01-2025", "'from' must be a date like 2025-01-31, not '20-01-2025'."),
        ("?from=2025-02-01&to=2025-01-01", "The 'from' date is after the 'to' date."),
        ("?include_open=yes", "'include_open' must be 1 or 0 (true or false), not 'yes'."),
        ("?include_open=2&format=csv", "'include_open' must be 1 or 0 (true or false), not '2'."),
    ],
)
def test_bad_parameters_are_explained(client: Client, teacher: User, term: Term, query: str, message: str) -> None:
    client.force_login(teacher)
    response = client.get(f"/reports/courses/{term.course.pk}/{query}")

    assert response.status_code == 400
    assert response.content.decode() == message


def test_session_and_course_pages_link_to_their_reports(client: Client, teacher: User, term: Term) -> None:
    client.force_login(teacher)

    assert f'href="/reports/courses/{term.course.pk}/"' in page(client, f"/courses/{term.course.pk}/")
    session = term.sessions[0]
    assert f'href="/reports/sessions/{session.pk}/"' in page(client, f"/sessions/{session.pk}/")


# --- Open, cancelled and scheduled sessions ----------------------------------------------------

# The term without the open session of 3 Feb (late weight 0.5): what the reports count by default.
#   Dijkstra E E - - -> -; Hopper P A -> 1/2; Johnson P P P P -> 4/4; Lovelace P L P E -> 2.5/3; Turing P A L L -> 2/4
WITHOUT_OPEN = [
    ["Edsger Dijkstra S004", DASH, "0", "0", "0", "2", "2", "E", "E", "·", "·"],
    ["Grace Hopper S003 Below 75%", "50%", "1", "0", "1", "0", "2", "·", "·", "P", "A"],
    ["Katherine Johnson S005", "100%", "4", "0", "0", "0", "4", "P", "P", "P", "P"],
    ["Ada Lovelace S001", "83.3%", "2", "1", "0", "1", "4", "P", "L", "P", "E"],
    ["Alan Turing S002 Below 75%", "50%", "1", "2", "1", "0", "4", "P", "A", "L", "L"],
]
OPEN_BADGE = "open — still taking attendance"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def rates(report: CourseReport) -> dict[str, float | None]:
    return {row.student.student_number: row.tally.rate for row in report.rows()}


@pytest.fixture
def cancelled(term: Term) -> ClassSession:
    """A cancelled session on 27 Jan in the afternoon, with a stray record that must not count."""
    session = ClassSession.objects.create(
        course=term.course, starts_at=at(DAYS[3], 14), ends_at=at(DAYS[3], 15), state=ClassSession.State.CANCELLED
    )
    AttendanceRecord.objects.create(session=session, student=term.students["S002"], status=A, source="manual")
    return session


def test_open_sessions_are_left_out_of_rates_unless_asked_for(term: Term, late_half: None) -> None:
    left_out = CourseReport(course=term.course)
    counted = CourseReport(course=term.course, include_open=True)

    assert left_out.sessions == term.sessions[:4] and left_out.open_left_out == [term.sessions[4]]
    assert counted.sessions == term.sessions and counted.open_left_out == []
    assert rates(left_out) == {"S004": None, "S003": 0.5, "S005": 1.0, "S001": 2.5 / 3, "S002": 0.5}
    assert rates(counted) == {"S004": None, "S003": 0.5, "S005": 0.9, "S001": 0.875, "S002": 0.4}
    assert [totals.rate for totals in counted.session_totals] == [1.0, 0.5, 0.875, 0.5, 0.5]


def test_the_course_page_leaves_the_open_session_out_by_default_and_marks_it(
    client: Client, teacher: User, term: Term, late_half: None
) -> None:
    client.force_login(teacher)
    html = page(client, f"/reports/courses/{term.course.pk}/")
    sections = tables(html)

    assert sections["thead"][0][7:] == ["6 Jan09:00", "13 Jan09:00", "20 Jan09:00", "27 Jan09:00"]
    assert sections["tbody"] == WITHOUT_OPEN
    assert sections["tfoot"][-1] == ["Rate", "", "100%", "50%", "87.5%", "50%"]
    assert "<strong>4</strong> sessions counted" in html
    assert f"Not counted yet: Mon 3 Feb 2025, 09:00 {OPEN_BADGE}." in text_of(html)
    assert f'href="/reports/sessions/{term.sessions[4].pk}/"' in html
    # The switch: a labelled checkbox in the filter form, off by default, on with ?include_open=1.
    checkbox = '<input type="checkbox" id="include_open" name="include_open" value="1">'
    assert checkbox in html and '<label class="checkbox" for="include_open">' in html
    included = page(client, f"/reports/courses/{term.course.pk}/?include_open=1")
    assert checkbox.replace(">", " checked>") in included
    assert f"Counted, provisional: Mon 3 Feb 2025, 09:00 {OPEN_BADGE}" in text_of(included)
    # The export links keep the switch.
    assert "?include_open=1&amp;format=csv" in included


def test_cancelled_and_scheduled_sessions_never_count(
    client: Client, teacher: User, term: Term, cancelled: ClassSession, late_half: None
) -> None:
    for include_open in (False, True):
        report = CourseReport(course=term.course, include_open=include_open)
        assert cancelled not in report.sessions and term.scheduled not in report.sessions
        assert report.cancelled == [cancelled]
    assert rates(CourseReport(course=term.course, include_open=True))["S002"] == 0.4  # the stray absence ignored
    history = next(student_history(student=term.students["S002"], courses=Course.objects.all(), include_open=True))
    assert [entry.session for entry in history.entries] == term.sessions

    client.force_login(teacher)
    html = page(client, f"/reports/courses/{term.course.pk}/?include_open=1")
    assert tables(html)["tbody"][-1] == [
        "Alan Turing S002 Below 75%",
        "40%",
        "1",
        "2",
        "2",
        "0",
        "5",
        "P",
        "A",
        "L",
        "L",
        "A",
    ]
    assert "Cancelled sessions Mon 27 Jan 2025, 14:00 Cancelled no attendance" in text_of(html)
    assert "cancelled: no attendance" in page(client, f"/reports/sessions/{cancelled.pk}/")


def test_the_student_page_marks_open_sessions_and_counts_them_when_asked(
    client: Client, teacher: User, term: Term, late_half: None
) -> None:
    client.force_login(teacher)
    url = f"/reports/students/{term.students['S003'].pk}/"

    html = page(client, url)
    assert [row[0] for row in tables(html)["tbody"]] == ["Mon 20 Jan 2025, 09:00", "Mon 27 Jan 2025, 09:00"]
    assert "1 present 0 late 1 absent 0 excused 50% attendance rate" in text_of(html)
    assert f"Not counted yet: Mon 3 Feb 2025, 09:00 {OPEN_BADGE}." in text_of(html)
    assert 'id="include_open" name="include_open" value="1">' in html
    included = text_of(page(client, url + "?include_open=1"))
    assert "1 present 1 late 1 absent 0 excused 50% attendance rate" in included  # (1 + 0.5) / 3
    assert "Not counted yet" not in included
    response = client.get(url + "?include_open=on")
    assert (response.status_code, response.content.decode()) == (
        400,
        "'include_open' must be 1 or 0 (true or false), not 'on'.",
    )


def test_the_session_report_of_an_open_session_says_its_figures_are_provisional(
    client: Client, teacher: User, term: Term
) -> None:
    client.force_login(teacher)
    open_text = text_of(page(client, f"/reports/sessions/{term.sessions[4].pk}/"))
    closed_text = text_of(page(client, f"/reports/sessions/{term.sessions[3].pk}/"))

    assert f"This session is still open {OPEN_BADGE} The figures are provisional" in open_text
    assert "provisional" not in closed_text


def test_the_report_api_honours_the_switch(client: Client, teacher: User, term: Term, cancelled: ClassSession) -> None:
    client.force_login(teacher)
    course_url, student_url = (
        f"/api/reports/courses/{term.course.pk}/",
        f"/api/reports/students/{term.students['S001'].pk}/",
    )

    body = client.get(course_url).json()
    assert body["include_open"] is False
    assert [column["session"]["id"] for column in body["sessions"]] == [session.pk for session in term.sessions[:4]]
    assert [session["id"] for session in body["open_sessions_left_out"]] == [term.sessions[4].pk]
    assert [(session["id"], session["state"]) for session in body["cancelled_sessions"]] == [
        (cancelled.pk, "cancelled")
    ]
    ada = next(row for row in body["rows"] if row["student"]["student_number"] == "S001")
    assert (ada["tally"]["counted"], ada["tally"]["rate"]) == (4, 1.0)  # P L P E, late as attended
    body = client.get(course_url + "?include_open=true").json()
    assert body["include_open"] is True and len(body["sessions"]) == 5 and body["open_sessions_left_out"] == []
    ada = next(row for row in body["rows"] if row["student"]["student_number"] == "S001")
    assert (ada["tally"]["counted"], ada["tally"]["rate"]) == (5, 1.0)

    history = client.get(student_url).json()["courses"][0]
    assert (len(history["entries"]), history["tally"]["counted"]) == (4, 4)
    assert [session["id"] for session in history["open_sessions_left_out"]] == [term.sessions[4].pk]
    history = client.get(student_url + "?include_open=1").json()["courses"][0]
    assert (len(history["entries"]), history["tally"]["counted"], history["open_sessions_left_out"]) == (5, 5, [])
    assert client.get(f"/api/reports/sessions/{term.sessions[4].pk}/").json()["provisional"] is True

    for url in (course_url, student_url):
        response = client.get(url + "?include_open=maybe")
        assert response.status_code == 400
        assert response.json() == {"include_open": ["'include_open' must be 1 or 0 (true or false), not 'maybe'."]}


def test_two_sessions_on_the_same_day_get_distinct_axis_labels(
    client: Client, teacher: User, term: Term, settings: Any
) -> None:
    """The labels are the school's local day and 24 h start time: 13:30 UTC is 14:30 in Paris."""
    settings.TIME_ZONE = "Europe/Paris"
    ClassSession.objects.create(
        course=term.course,
        starts_at=datetime.datetime(2025, 1, 6, 13, 30, tzinfo=datetime.UTC),
        ends_at=datetime.datetime(2025, 1, 6, 15, 0, tzinfo=datetime.UTC),
        state=ClassSession.State.CLOSED,
    )
    client.force_login(teacher)
    html = page(client, f"/reports/courses/{term.course.pk}/?to=2025-01-13")

    labels = [
        " ".join(re.findall(r"<tspan[^>]*>([^<]+)</tspan>", label))
        for label in re.findall(r'<text class="axis-label"[^>]*>(.*?)</text>', html)
    ]
    # The term's sessions are at 09:00 UTC, 10:00 in Paris.
    assert labels == ["Mon 6 Jan 10:00", "Mon 6 Jan 14:30", "Mon 13 Jan 10:00"]
