"""axe-core finds nothing wrong on any page of the app, on the admin pages the app adds or
customises, or on the API docs: daphne and headless Chromium at desktop size (1400 x 1000).

axe-core is installed from the npm registry by bin/test and injected into each page; every
violation is listed with its rule, impact and element. Each page's screenshot is saved as
test-output/accessibility-<page>.png.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import Browser, FilePayload, ViewportSize, expect

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student, StudentPhoto
from tests.attendance.builders import session_open_now
from tests.faces import face_bytes
from tests.integration.browser import AXE_JS, ROOT, LivePage, axe_violations, log_in, save_screenshot
from tests.integration.processes import skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DESKTOP: ViewportSize = {"width": 1400, "height": 1000}
PASSWORD = "accessible-pass-123"
# The axe rules the API docs page is not checked against: see test_the_api_docs_have_no_accessibility_violations.
SWAGGER_UI_MARKUP = ("nested-interactive", "heading-order", "region")
Status = AttendanceRecord.Status
# How the app records each status: its source, and when the student was first seen (minutes after the start).
RECORDED = {
    Status.PRESENT: (AttendanceRecord.Source.FACE, 2),
    Status.LATE: (AttendanceRecord.Source.FACE, 12),
    Status.ABSENT: (AttendanceRecord.Source.SYSTEM, None),
    Status.EXCUSED: (AttendanceRecord.Source.MANUAL, None),
}


@dataclass
class School:
    course: Course
    students: list[Student]
    open_session: ClassSession
    closed_session: ClassSession


def _photo(student: Student, status: str, *, reason: str = "", with_file: bool = True) -> StudentPhoto:
    photo = StudentPhoto(student=student, status=status, reason=reason, sha256=f"{status}-{student.pk}")
    if status == StudentPhoto.Status.READY:
        photo.face_probability = 0.999
        photo.face_box = [10, 10, 90, 110]
        photo.embedding = bytes(4 * StudentPhoto.EMBEDDING_DIM)
        photo.embedding_model = "facenet-test"
    if with_file:
        photo.image.save(f"{student.student_number}-{status}.jpg", ContentFile(face_bytes("enroll/biden/biden.jpg")))
    else:
        # A rejected photo whose file has been deleted after PHOTO_REJECTED_FILE_HOURS.
        photo.save()
    return photo


@pytest.fixture
def school(transactional_db: None) -> School:
    """A course taught by "teacher" with four students, a ready, a rejected and a failed photo, two
    held sessions with a record of each status, one open now and one scheduled; and "admin"."""
    teacher = User.objects.create_user("teacher", password=PASSWORD, first_name="Tess", last_name="Teacher")
    User.objects.create_superuser("admin", email="admin@example.com", password=PASSWORD)
    course = Course.objects.create(code="CS101", name="Computing")
    course.teachers.add(teacher)
    students = [
        Student.objects.create(student_number=number, first_name=first, last_name=last, consent_given_at=timezone.now())
        for number, first, last in [
            ("S001", "Ada", "Lovelace"),
            ("S002", "Alan", "Turing"),
            ("S003", "Grace", "Hopper"),
            ("S004", "Edsger", "Dijkstra"),
        ]
    ]
    for student in students:
        Enrollment.objects.create(course=course, student=student, start_date=datetime.date(2020, 1, 1))
    _photo(students[0], StudentPhoto.Status.READY)
    _photo(students[0], StudentPhoto.Status.REJECTED, reason="More than one face in the photo.")
    _photo(students[1], StudentPhoto.Status.FAILED, reason="No face found.", with_file=False)

    now = timezone.now()
    held = []
    for days_ago, statuses in [
        (7, [Status.PRESENT, Status.LATE, Status.ABSENT, Status.EXCUSED]),
        (2, [Status.PRESENT, Status.PRESENT, Status.ABSENT, Status.ABSENT]),
    ]:
        starts_at = now - datetime.timedelta(days=days_ago)
        session = ClassSession.objects.create(
            course=course,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=90),
            state=ClassSession.State.CLOSED,
        )
        for student, status in zip(students, statuses, strict=True):
            source, minutes = RECORDED[status]
            AttendanceRecord.objects.create(
                session=session,
                student=student,
                status=status,
                source=source,
                first_seen_at=None if minutes is None else starts_at + datetime.timedelta(minutes=minutes),
            )
        held.append(session)
    ClassSession.objects.create(
        course=course, starts_at=now + datetime.timedelta(days=1), ends_at=now + datetime.timedelta(days=1, hours=1)
    )
    open_session = session_open_now(course)
    AttendanceRecord.objects.create(
        session=open_session,
        student=students[0],
        status=Status.PRESENT,
        source=AttendanceRecord.Source.FACE,
        first_seen_at=now,
    )
    return School(course, students, open_session, held[-1])


@pytest.fixture
def axe() -> None:
    """axe-core is installed (bin/test does it); without it the test is skipped, except in CI."""
    if not AXE_JS.exists():
        skip_or_fail(f"no {AXE_JS.relative_to(ROOT)}: bin/test installs axe-core from npm")


class Audit:
    """Runs axe-core on the pages a browser context visits and keeps what it finds."""

    def __init__(self, browser: Browser, tmp_path: Path) -> None:
        # The pages' Content-Security-Policy would refuse axe's inline script.
        self.live = LivePage(browser.new_context(viewport=DESKTOP, bypass_csp=True))
        self.page = self.live.page
        self.tmp_path = tmp_path
        self.found: list[str] = []

    def check(self, name: str, *, disabled: Sequence[str] = ()) -> None:
        """axe-core on the page as it is now (without the `disabled` rules); its screenshot as
        test-output/accessibility-<name>.png."""
        save_screenshot(self.live, self.tmp_path, f"accessibility-{name}.png")
        violations = axe_violations(self.page, disabled=disabled)
        self.found.extend(f"{name} ({self.page.url}): {violation}" for violation in violations)

    def visit(self, name: str, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.ok, f"{name}: {url} answered {response and response.status}"
        self.check(name)

    def assert_nothing_found(self) -> None:
        assert not self.found, f"axe-core violations on {len(self.found)} element(s):\n" + "\n".join(self.found)


def test_the_teacher_pages_have_no_accessibility_violations(
    axe: None, school: School, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path)
    page = audit.page

    audit.visit("login", f"{base_url}/login/")
    page.fill("#id_username", "teacher")
    page.fill("#id_password", "wrong password")
    with page.expect_navigation():
        page.click("form button[type=submit]")
    audit.check("login-failed")

    log_in(page, base_url, username="teacher", password=PASSWORD)
    audit.check("home")
    course, session = school.course, school.closed_session
    audit.visit("course", f"{base_url}/courses/{course.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Schedule").click()
    expect(page.locator(".schedule-form .error").first).to_be_visible()
    audit.check("course-schedule-errors")

    page.goto(f"{base_url}/sessions/{school.open_session.pk}/")
    expect(page.locator("#roster-body tr[data-student-id]")).to_have_count(len(school.students))
    audit.check("session")

    audit.visit("report-course", f"{base_url}/reports/courses/{course.pk}/")
    audit.visit("report-session", f"{base_url}/reports/sessions/{session.pk}/")
    audit.visit("report-student", f"{base_url}/reports/students/{school.students[0].pk}/")

    audit.assert_nothing_found()


def test_the_admin_pages_of_the_app_have_no_accessibility_violations(
    axe: None, school: School, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path)
    page = audit.page
    log_in(page, base_url, username="admin", password=PASSWORD)
    course = school.course

    audit.visit("admin-course", f"{base_url}/admin/attendance/course/{course.pk}/change/")
    audit.visit("admin-enrolment-import", f"{base_url}/admin/attendance/course/{course.pk}/import-enrolments/")
    # A preview with every table: an error, a new enrolment, new dates and an unchanged line.
    Student.objects.create(student_number="S005", first_name="Barbara", last_name="Liskov")
    csv = "student_number,start_date,end_date\nS005,2025-09-01,\nS001,2021-01-01,\nS002,,\nNOBODY,,\n"
    upload: FilePayload = {"name": "enrolments.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    page.set_input_files("input[type=file]", files=[upload])
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    expect(page.locator(".import-errors")).to_be_visible()
    audit.check("admin-enrolment-preview")

    audit.visit("admin-student", f"{base_url}/admin/students/student/{school.students[0].pk}/change/")
    audit.visit("admin-photos", f"{base_url}/admin/students/studentphoto/")
    # Each thumbnail is the link to its photo's page (axe's link-name: it was an empty link beside it).
    ready = StudentPhoto.objects.get(status=StudentPhoto.Status.READY)
    thumbnail_link = page.get_by_role("link", name=f"Photo {ready.pk}", exact=True)
    expect(thumbnail_link).to_have_attribute("href", f"/admin/students/studentphoto/{ready.pk}/change/")
    with page.expect_navigation():
        page.get_by_role("link", name="Rejected photos").click()
    audit.check("admin-rejected-photos")
    audit.visit("admin-session", f"{base_url}/admin/attendance/classsession/{school.closed_session.pk}/change/")

    audit.assert_nothing_found()


def test_the_api_docs_have_no_accessibility_violations(
    axe: None, school: School, asgi_server: Callable[..., str], chromium: Browser, tmp_path: Path
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path)
    page = audit.page
    log_in(page, base_url, username="teacher", password=PASSWORD)

    page.goto(f"{base_url}/api/docs/")
    # Swagger UI draws the page from the schema once it has fetched it.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    # Not checked: Swagger UI's own markup, which this page cannot change. Each operation's summary
    # is a button holding the operation's deep link (nested-interactive; turning deepLinking off in
    # SWAGGER_UI_SETTINGS would drop the deep links too), its headings go from the title (h1) to the
    # tags (h3) (heading-order), and the API's title is outside its <main> (region). The rest,
    # contrast and `lang` among it, is checked, also with an operation open.
    audit.check("api-docs", disabled=SWAGGER_UI_MARKUP)
    page.locator(".opblock-summary-control").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    audit.check("api-docs-operation", disabled=SWAGGER_UI_MARKUP)

    audit.assert_nothing_found()
