"""Who may do what: every page, export and API endpoint against the five people that matter.

The table below is the permission rules at a glance. Each row is one request; its five columns
say what each person gets:

- a status code, or LOGIN (a redirect to the login page);
- SEES / HIDDEN on an API list: 200, with or without the course's own object in the results.

A refused request and every read leave the database and the stored files as they were; an
allowed write changes them (what each write sends is in BODIES, under the table).
`test_every_url_is_in_the_matrix` fails when a URL pattern has no row, so a new endpoint cannot
be forgotten.

The teacher teaches CS101 (the objects in the URLs); the other teacher teaches only MA201; staff
are staff users without superuser status holding the model permissions (add, change, delete) of
the apps' models: staff status lets them see everything, the permissions let them change it
through the API. "bare" is a staff user without any model permission: they see what staff see,
and every API write is refused (403).
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from knox.models import AuthToken
from PIL import Image

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student, StudentPhoto
from students.services import photo_create
from tests.students.builders import files_under, staff_with_model_permissions

LOGIN = "login"  # 302 to the login page (pages, exports, the photo image)
SEES = "sees"  # 200, and the list holds the course's object
HIDDEN = "hidden"  # 200, and the list does not hold it
# An anonymous API request gets 401 with WWW-Authenticate: Token (knox's TokenAuthentication
# comes first in DEFAULT_AUTHENTICATION_CLASSES).
API_ANON = 401

Expected = int | str
PEOPLE = ("anonymous", "teacher", "other", "staff", "bare")


@dataclass(frozen=True)
class World:
    course: Course  # CS101, taught by the teacher
    student: Student  # enrolled in CS101
    held: ClassSession  # a closed CS101 session with the student's record
    upcoming: ClassSession  # a scheduled CS101 session
    record: AttendanceRecord
    photo: StudentPhoto
    teacher: User
    other_course: Course  # MA201, taught by the other teacher
    newcomer: Student  # enrolled in CS101, consent not recorded yet

    def ids(self) -> dict[str, int]:
        return {
            "course": self.course.pk,
            "student": self.student.pk,
            "session": self.held.pk,
            "upcoming": self.upcoming.pk,
            "record": self.record.pk,
            "photo": self.photo.pk,
            "newcomer": self.newcomer.pk,
        }


# --- The matrix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {course}, {session}, ... from World.ids()
    expected: dict[str, Expected]

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def row(
    method: str, path: str, anonymous: Expected, teacher: Expected, other: Expected, staff: Expected, bare: Expected
) -> Case:
    return Case(method, path, dict(zip(PEOPLE, (anonymous, teacher, other, staff, bare), strict=True)))


# fmt: off
MATRIX: list[Case] = [
    #   method    path                                          anonymous  teacher  other   staff  bare
    # Pages
    row("GET",    "/",                                          LOGIN,     200,     200,    200,    200),
    row("GET",    "/courses/{course}/",                         LOGIN,     200,     404,    200,    200),
    row("POST",   "/courses/{course}/",                         LOGIN,     302,     404,    302,    302),
    row("POST",   "/courses/{course}/sessions/start/",          LOGIN,     302,     404,    302,    302),
    # Check-in cards (PDF): a course's, and one student's for whoever sees the student
    row("GET",    "/courses/{course}/cards.pdf",                LOGIN,     200,     404,    200,    200),
    row("GET",    "/students/{student}/card.pdf",               LOGIN,     200,     404,    200,    200),
    row("GET",    "/sessions/{session}/",                       LOGIN,     200,     404,    200,    200),
    # Door mode: only while the session is open (this one is closed: a page that says so)
    row("GET",    "/sessions/{session}/door/",                  LOGIN,     409,     404,    409,    409),
    row("POST",   "/sessions/{upcoming}/state/",                LOGIN,     302,     404,    302,    302),
    row("POST",   "/sessions/{session}/records/",               LOGIN,     200,     404,    200,    200),
    row("POST",   "/sessions/{session}/records/unseen/",        LOGIN,     200,     404,    200,    200),
    row("GET",    "/sessions/{upcoming}/edit/",                 LOGIN,     200,     404,    200,    200),
    row("POST",   "/sessions/{upcoming}/edit/",                 LOGIN,     302,     404,    302,    302),
    row("POST",   "/sessions/{upcoming}/cancel/",               LOGIN,     302,     404,    302,    302),
    row("POST",   "/sessions/{upcoming}/delete/",               LOGIN,     302,     404,    302,    302),
    # The upcoming session was scheduled alone: it has no series to delete.
    row("POST",   "/sessions/{upcoming}/delete-series/",        LOGIN,     400,     404,    400,    400),
    row("GET",    "/students/photos/{photo}/image/",            LOGIN,     200,     404,    200,    200),
    row("GET",    "/students/photos/{photo}/image/?size=thumb", LOGIN,     200,     404,    200,    200),
    # Checking who recognition sees in a photo: staff only; it stores nothing (an empty POST: 400)
    row("GET",    "/check-image/",                              LOGIN,     403,     403,    200,    200),
    row("POST",   "/check-image/",                              LOGIN,     403,     403,    400,    400),
    # Report pages and their exports
    row("GET",    "/reports/sessions/{session}/",               LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/sessions/{session}/?format=csv",    LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/sessions/{session}/?format=xlsx",   LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/courses/{course}/",                 LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/courses/{course}/?format=csv",      LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/courses/{course}/?format=xlsx",     LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/students/{student}/",               LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/students/{student}/?format=csv",    LOGIN,     200,     404,    200,    200),
    row("GET",    "/reports/students/{student}/?format=xlsx",   LOGIN,     200,     404,    200,    200),
    # API: the root
    row("GET",    "/api/",                                      API_ANON,  200,     200,    200,    200),
    # API: courses (staff manage them; a teacher reads the ones they teach)
    row("GET",    "/api/courses/",                              API_ANON,  SEES,    HIDDEN, SEES,   SEES),
    row("POST",   "/api/courses/",                              API_ANON,  403,     403,    201,    403),
    row("GET",    "/api/courses/{course}/",                     API_ANON,  200,     404,    200,    200),
    row("PUT",    "/api/courses/{course}/",                     API_ANON,  403,     403,    200,    403),
    row("PATCH",  "/api/courses/{course}/",                     API_ANON,  403,     403,    200,    403),
    row("DELETE", "/api/courses/{course}/",                     API_ANON,  403,     403,    204,    403),
    # API: sessions (the course's teacher schedules, changes, opens and closes; only staff delete)
    row("GET",    "/api/sessions/",                             API_ANON,  SEES,    HIDDEN, SEES,   SEES),
    row("POST",   "/api/sessions/",                             API_ANON,  201,     400,    201,    403),
    row("GET",    "/api/sessions/{session}/",                   API_ANON,  200,     404,    200,    200),
    row("PUT",    "/api/sessions/{upcoming}/",                  API_ANON,  200,     404,    200,    403),
    row("PATCH",  "/api/sessions/{upcoming}/",                  API_ANON,  200,     404,    200,    403),
    row("DELETE", "/api/sessions/{session}/",                   API_ANON,  403,     403,    204,    403),
    row("POST",   "/api/sessions/{upcoming}/open/",             API_ANON,  200,     404,    200,    403),
    row("POST",   "/api/sessions/{upcoming}/close/",            API_ANON,  200,     404,    200,    403),
    # API: attendance records (changed only by POSTing a decision)
    row("GET",    "/api/records/",                              API_ANON,  SEES,    HIDDEN, SEES,   SEES),
    row("POST",   "/api/records/",                              API_ANON,  200,     404,    200,    403),
    row("GET",    "/api/records/{record}/",                     API_ANON,  200,     404,    200,    200),
    row("PATCH",  "/api/records/{record}/",                     API_ANON,  405,     405,    405,    403),
    row("DELETE", "/api/records/{record}/",                     API_ANON,  405,     405,    405,    403),
    # API: students (staff manage them; a teacher reads the students of their courses)
    row("GET",    "/api/students/",                             API_ANON,  SEES,    HIDDEN, SEES,   SEES),
    row("POST",   "/api/students/",                             API_ANON,  403,     403,    201,    403),
    row("GET",    "/api/students/{student}/",                   API_ANON,  200,     404,    200,    200),
    row("PUT",    "/api/students/{student}/",                   API_ANON,  403,     403,    200,    403),
    row("PATCH",  "/api/students/{student}/",                   API_ANON,  403,     403,    200,    403),
    row("DELETE", "/api/students/{student}/",                   API_ANON,  403,     403,    204,    403),
    row("POST",   "/api/students/{newcomer}/consent/",          API_ANON,  403,     403,    200,    403),
    row("DELETE", "/api/students/{student}/consent/",           API_ANON,  403,     403,    200,    403),
    # API: photos (staff only, even for a teacher's own students)
    row("GET",    "/api/photos/",                               API_ANON,  403,     403,    SEES,   SEES),
    row("GET",    "/api/photos/{photo}/",                       API_ANON,  403,     403,    200,    200),
    row("POST",   "/api/students/{student}/photos/",            API_ANON,  403,     403,    202,    403),
    # API: reports (the JSON of the report pages)
    row("GET",    "/api/reports/sessions/{session}/",           API_ANON,  200,     404,    200,    200),
    row("GET",    "/api/reports/courses/{course}/",             API_ANON,  200,     404,    200,    200),
    row("GET",    "/api/reports/students/{student}/",           API_ANON,  200,     404,    200,    200),
    # API tokens: issued to a logged-in browser session; revoked only with the token itself (a
    # session is not a token: 401)
    row("POST",   "/api/auth/login/",                           403,       200,     200,    200,    200),
    row("POST",   "/api/auth/logout/",                          401,       401,     401,    401,    401),
    row("POST",   "/api/auth/logoutall/",                       401,       401,     401,    401,    401),
    # The API schema and its docs: logged-in users only (API_SCHEMA_PUBLIC off)
    row("GET",    "/api/schema/",                               API_ANON,  200,     200,    200,    200),
    row("GET",    "/api/docs/",                                 LOGIN,     200,     200,    200,    200),
]
# fmt: on

# Not in the matrix: the admin (Django's own staff checks), login and logout, and the health check.
UNCHECKED_NAMES = {"login", "logout", "healthz"}
UNCHECKED_PREFIXES = ("admin/", "static/", "media/")

# For SEES / HIDDEN: the object of World.ids() each list is checked for.
LIST_PROBES = {
    "/api/courses/": "course",
    "/api/sessions/": "session",
    "/api/records/": "record",
    "/api/students/": "student",
    "/api/photos/": "photo",
}


# --- What the writes send -------------------------------------------------------------------

Body = Callable[[World], dict[str, Any]]


def png_bytes(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


# (how it is encoded, the body): a form (also for file uploads) or JSON. Writes not listed send nothing.
BODIES: dict[tuple[str, str], tuple[str, Body]] = {
    ("POST", "/courses/{course}/"): (
        "form",
        lambda w: {"first_date": "2030-03-04", "start_time": "09:00", "duration_minutes": 90, "late_after_minutes": 10},
    ),
    ("POST", "/sessions/{upcoming}/state/"): ("form", lambda w: {"action": "open"}),
    ("POST", "/sessions/{upcoming}/edit/"): (
        "form",
        lambda w: {"date": "2030-03-05", "start_time": "10:00", "duration_minutes": 60, "late_after_minutes": 5},
    ),
    ("POST", "/sessions/{upcoming}/cancel/"): ("form", lambda w: {"confirmed": "yes"}),
    ("POST", "/sessions/{upcoming}/delete/"): ("form", lambda w: {"confirmed": "yes"}),
    ("POST", "/sessions/{upcoming}/delete-series/"): ("form", lambda w: {"confirmed": "yes"}),
    ("POST", "/sessions/{session}/records/"): ("json", lambda w: {"student_id": w.student.pk, "status": "late"}),
    ("POST", "/sessions/{session}/records/unseen/"): ("json", lambda w: {"status": "absent"}),
    ("POST", "/api/courses/"): ("json", lambda w: {"code": "PH301", "name": "Physics"}),
    ("PUT", "/api/courses/{course}/"): (
        "json",
        lambda w: {"code": "CS101", "name": "Computing, renamed", "teachers": [w.teacher.pk]},
    ),
    ("PATCH", "/api/courses/{course}/"): ("json", lambda w: {"name": "Computing, patched"}),
    ("POST", "/api/sessions/"): (
        "json",
        lambda w: {"course": w.course.pk, "starts_at": "2030-03-04T09:00:00Z", "ends_at": "2030-03-04T10:30:00Z"},
    ),
    ("PUT", "/api/sessions/{upcoming}/"): (
        "json",
        lambda w: {"course": w.course.pk, "starts_at": "2030-03-05T09:00:00Z", "ends_at": "2030-03-05T11:00:00Z"},
    ),
    ("PATCH", "/api/sessions/{upcoming}/"): ("json", lambda w: {"late_after_minutes": 5}),
    ("POST", "/api/records/"): (
        "json",
        lambda w: {"session": w.held.pk, "student": w.student.pk, "status": "late", "note": "Bus"},
    ),
    ("PATCH", "/api/records/{record}/"): ("json", lambda w: {"status": "late"}),
    ("POST", "/api/students/"): ("json", lambda w: {"student_number": "S900", "first_name": "Grace"}),
    ("PUT", "/api/students/{student}/"): (
        "json",
        lambda w: {"student_number": "S001", "first_name": "Augusta", "last_name": "King"},
    ),
    ("PATCH", "/api/students/{student}/"): ("json", lambda w: {"first_name": "Augusta"}),
    ("POST", "/api/students/{student}/photos/"): (
        "form",
        lambda w: {"image": SimpleUploadedFile("photo.png", png_bytes("blue"))},
    ),
}


# --- The world every case runs against -------------------------------------------------------


@pytest.fixture
def staff(db: None) -> User:
    return staff_with_model_permissions("staff", "attendance", "students")


@pytest.fixture
def bare(db: None) -> User:
    return User.objects.create_user("bare", password="bare-pass-123", is_staff=True)


@pytest.fixture
def world(teacher: User, other_teacher: User, course: Course, student: Student) -> World:
    now = timezone.now()
    held = ClassSession.objects.create(
        course=course,
        starts_at=now - datetime.timedelta(days=1),
        ends_at=now - datetime.timedelta(days=1) + datetime.timedelta(minutes=90),
        state=ClassSession.State.CLOSED,
    )
    upcoming = ClassSession.objects.create(
        course=course,
        starts_at=now + datetime.timedelta(days=1),
        ends_at=now + datetime.timedelta(days=1, minutes=90),
    )
    record = AttendanceRecord.objects.create(
        session=held, student=student, status=AttendanceRecord.Status.PRESENT, source=AttendanceRecord.Source.FACE
    )
    photo, _ = photo_create(student=student, data=png_bytes())
    # The other teacher has a course, a student and a session of their own, so their lists are
    # not empty merely because they teach nothing.
    other_course = Course.objects.create(code="MA201", name="Mathematics")
    other_course.teachers.add(other_teacher)
    other_student = Student.objects.create(student_number="S002", first_name="Emmy", last_name="Noether")
    Enrollment.objects.create(course=other_course, student=other_student, start_date=datetime.date(2020, 1, 1))
    ClassSession.objects.create(
        course=other_course,
        starts_at=now - datetime.timedelta(days=1),
        ends_at=now - datetime.timedelta(days=1) + datetime.timedelta(minutes=90),
        state=ClassSession.State.CLOSED,
    )
    newcomer = Student.objects.create(student_number="S004", first_name="Mary", last_name="Somerville")
    Enrollment.objects.create(course=course, student=newcomer, start_date=datetime.date(2020, 1, 1))
    return World(
        newcomer=newcomer,
        course=course,
        student=student,
        held=held,
        upcoming=upcoming,
        record=record,
        photo=photo,
        teacher=teacher,
        other_course=other_course,
    )


@dataclass
class Snapshot:
    """Every row the app writes, and the files under MEDIA_ROOT."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


WRITTEN_MODELS: tuple[type[models.Model], ...] = (
    AuthToken,
    Course,
    Course.teachers.through,
    Enrollment,
    ClassSession,
    AttendanceRecord,
    AttendanceChange,
    Student,
    StudentPhoto,
)


def snapshot(media_root: Path) -> Snapshot:
    rows = {model.__name__: list(model._default_manager.order_by("pk").values()) for model in WRITTEN_MODELS}
    return Snapshot(rows=rows, files=files_under(media_root))


def person_client(person: str, users: dict[str, User | None]) -> Client:
    client = Client()
    user = users[person]
    if user is not None:
        client.force_login(user)
    return client


def send(client: Client, case: Case, world: World) -> Any:
    path = case.path.format(**world.ids())
    method = getattr(client, case.method.lower())
    if (case.method, case.path) not in BODIES:
        return method(path)
    encoding, body = BODIES[(case.method, case.path)]
    if encoding == "json":
        return method(path, json.dumps(body(world)), content_type="application/json")
    return method(path, body(world))


def drain(response: Any) -> None:
    """Read a streamed download (an export, a photo) to its end: the test client closes it then."""
    response.getvalue()


# --- The tests ----------------------------------------------------------------------------


def cases() -> Iterator[Any]:
    for case in MATRIX:
        for person in PEOPLE:
            yield pytest.param(case, person, id=f"{case.id} as {person}")


@pytest.mark.parametrize(("case", "person"), list(cases()))
def test_exactly_the_allowed_people_succeed(
    case: Case, person: str, world: World, other_teacher: User, staff: User, bare: User, media_root: Path
) -> None:
    users: dict[str, User | None] = {
        "anonymous": None,
        "teacher": world.teacher,
        "other": other_teacher,
        "staff": staff,
        "bare": bare,
    }
    client = person_client(person, users)
    before = snapshot(media_root)

    response = send(client, case, world)
    drain(response)

    expected = case.expected[person]
    if expected == LOGIN:
        assert response.status_code == 302
        location = urlsplit(response["Location"])
        assert location.path == "/login/"
        assert location.query.startswith("next=")
    elif expected in (SEES, HIDDEN):
        assert response.status_code == 200
        listed = {item["id"] for item in response.json()["results"]}
        probe = world.ids()[LIST_PROBES[case.path]]
        assert (probe in listed) is (expected == SEES), f"{LIST_PROBES[case.path]} {probe} in {sorted(listed)}"
    else:
        assert response.status_code == expected

    allowed = expected in (SEES, HIDDEN) or (isinstance(expected, int) and expected < 400)
    after = snapshot(media_root)
    if allowed and case.method != "GET":
        assert after != before, "an allowed write changed nothing"
    else:
        assert after == before, "a read or a refused request changed the database or the files"


def url_patterns(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    """(route, view name with its namespace) of every URL pattern of the project."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace or "") if part)
            yield from url_patterns(pattern.url_patterns, route, inner)
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
            yield route, name


def test_every_url_is_in_the_matrix() -> None:
    covered_names = {resolve(urlsplit(sample_path(case)).path).view_name for case in MATRIX}
    missing = sorted(
        f"{route} ({name or 'unnamed'})"
        for route, name in url_patterns()
        if not route.lstrip("^").startswith(UNCHECKED_PREFIXES)
        and name not in UNCHECKED_NAMES
        and name not in covered_names
    )
    assert missing == [], "URL patterns with no row in MATRIX (add them, with the rules for each person)"


def sample_path(case: Case) -> str:
    return case.path.format(course=1, student=1, session=1, upcoming=1, record=1, photo=1, newcomer=1)


def test_every_body_and_list_probe_belongs_to_a_row() -> None:
    rows = {(case.method, case.path) for case in MATRIX}
    assert set(BODIES) <= rows
    assert {("GET", path) for path in LIST_PROBES} <= rows
