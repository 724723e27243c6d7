"""axe-core finds nothing wrong on any page of the app, on the admin pages the app adds or
customises, or on the API docs, and no page is wider than the screen: daphne and headless
Chromium on a laptop (1400 x 1000), a tablet (820 x 1180) and a phone (390 x 844).

axe-core is installed from the npm registry by bin/test and injected into each page; every
violation is listed with its rule, impact and element. Each page's screenshot is saved as
test-output/accessibility-<page>-<screen>.png.
"""

from __future__ import annotations

import datetime
import re
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
from tests.integration.browser import (
    AXE_JS,
    DESKTOP_VIEWPORT,
    PHONE_VIEWPORT,
    ROOT,
    TABLET_VIEWPORT,
    LivePage,
    axe_violations,
    log_in,
    preview_csv,
    save_screenshot,
)
from tests.integration.processes import skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SCREENS = pytest.mark.parametrize(
    "screen",
    [("laptop", DESKTOP_VIEWPORT), ("tablet", TABLET_VIEWPORT), ("phone", PHONE_VIEWPORT)],
    ids=lambda screen: screen[0],
)
# How far the page is wider than the screen (0: it never scrolls sideways), and its widest element.
OVERFLOW = """() => {
  const extra = document.documentElement.scrollWidth - window.innerWidth;
  if (extra <= 0) return null;
  const wide = [...document.body.querySelectorAll("*")].find(
    (element) => element.getBoundingClientRect().right > window.innerWidth + 1
  );
  return `${extra} px wider than the screen, e.g. ${wide ? wide.outerHTML.slice(0, 120) : "?"}`;
}"""
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

    def __init__(self, browser: Browser, tmp_path: Path, screen: tuple[str, ViewportSize]) -> None:
        self.screen, viewport = screen
        # The pages' Content-Security-Policy would refuse axe's inline script.
        self.live = LivePage(browser.new_context(viewport=viewport, bypass_csp=True))
        self.page = self.live.page
        self.tmp_path = tmp_path
        self.found: list[str] = []

    def check(self, name: str, *, disabled: Sequence[str] = ()) -> None:
        """axe-core on the page as it is now (without the `disabled` rules), and whether it fits the
        screen's width; its screenshot as test-output/accessibility-<name>-<screen>.png."""
        save_screenshot(self.live, self.tmp_path, f"accessibility-{name}-{self.screen}.png")
        where = f"{name} on a {self.screen} ({self.page.url})"
        violations = axe_violations(self.page, disabled=disabled)
        self.found.extend(f"{where}: {violation}" for violation in violations)
        overflow = self.page.evaluate(OVERFLOW)
        if overflow:
            self.found.append(f"{where}: {overflow}")

    def visit(self, name: str, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.ok, f"{name}: {url} answered {response and response.status}"
        self.check(name)

    def assert_nothing_found(self) -> None:
        assert not self.found, f"axe-core violations on {len(self.found)} element(s):\n" + "\n".join(self.found)


@SCREENS
def test_the_teacher_pages_have_no_accessibility_violations(
    axe: None,
    school: School,
    asgi_server: Callable[..., str],
    chromium: Browser,
    tmp_path: Path,
    screen: tuple[str, ViewportSize],
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path, screen)
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
    # The course page's session pages: editing a scheduled session, the question before cancelling
    # it (its row's menu open first), and the one before starting a session while one is open.
    scheduled = ClassSession.objects.get(course=course, state=ClassSession.State.SCHEDULED)
    audit.visit("session-edit", f"{base_url}/sessions/{scheduled.pk}/edit/")
    page.goto(f"{base_url}/courses/{course.pk}/")
    page.locator(f'tr[data-session-id="{scheduled.pk}"] summary').click()
    audit.check("course-session-menu")
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel the session").click()
    audit.check("session-cancel-confirm")
    page.goto(f"{base_url}/courses/{course.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Start a session now").click()
    audit.check("session-start-overlap")

    page.goto(f"{base_url}/sessions/{school.open_session.pk}/")
    expect(page.locator("#roster-body tr[data-student-id]")).to_have_count(len(school.students))
    audit.check("session")
    page.get_by_role("button", name="End session…").click()
    expect(page.get_by_role("dialog", name="End this session?")).to_be_visible()
    audit.check("session-end-dialog")
    page.get_by_role("button", name="Keep it open").click()
    page.get_by_role("button", name="Change the record of Ada Lovelace with a note").click()
    expect(page.get_by_role("dialog", name="Change the record of Ada Lovelace")).to_be_visible()
    audit.check("session-note-dialog")
    page.get_by_role("button", name="Cancel", exact=True).click()

    # Door mode: before and after Start (its websocket kept from the server, which needs no face
    # model then), and the page of a session that is not open.
    page.route_web_socket(re.compile(r"/door/$"), lambda socket: None)
    audit.visit("door", f"{base_url}/sessions/{school.open_session.pk}/door/")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Look at the camera")).to_be_visible()
    audit.check("door-started")
    page.goto(f"{base_url}/sessions/{session.pk}/door/")
    expect(page.locator("#door-not-open")).to_be_visible()
    audit.check("door-not-open")

    audit.visit("report-course", f"{base_url}/reports/courses/{course.pk}/")
    audit.visit("report-session", f"{base_url}/reports/sessions/{session.pk}/")
    audit.visit("report-student", f"{base_url}/reports/students/{school.students[0].pk}/")

    audit.assert_nothing_found()


@SCREENS
def test_the_admin_pages_of_the_app_have_no_accessibility_violations(
    axe: None,
    school: School,
    asgi_server: Callable[..., str],
    chromium: Browser,
    tmp_path: Path,
    screen: tuple[str, ViewportSize],
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path, screen)
    page = audit.page
    log_in(page, base_url, username="admin", password=PASSWORD)
    course = school.course

    audit.visit("admin-course", f"{base_url}/admin/attendance/course/{course.pk}/change/")
    audit.visit("admin-enrolment-import", f"{base_url}/admin/attendance/course/{course.pk}/import-enrolments/")
    # A preview with every table: an error, a new enrolment, new dates and an unchanged line.
    Student.objects.create(student_number="S005", first_name="Barbara", last_name="Liskov")
    csv = "student_number,start_date,end_date\nS005,2025-09-01,\nS001,2021-01-01,\nS002,,\nNOBODY,,\n"
    preview_csv(page, name="enrolments.csv", text=csv)
    expect(page.locator(".import-errors")).to_be_visible()
    audit.check("admin-enrolment-preview")

    # The student list's import: a preview with every table (an error, a new student, a change and
    # an unchanged line), then one without errors, with its Apply button.
    audit.visit("admin-students", f"{base_url}/admin/students/student/")
    with page.expect_navigation():
        page.get_by_role("link", name="Import students from CSV").click()
    audit.check("admin-student-import")
    csv = "number,first_name,last_name,email\nS006,Margaret,Hamilton,\nS001,Augusta,,\nS003,Grace,Hopper,\nS004,,,bad\n"
    preview_csv(page, name="students.csv", text=csv)
    expect(page.locator(".import-errors")).to_be_visible()
    audit.check("admin-student-import-preview")
    preview_csv(page, name="students.csv", text="number,first_name,last_name,email\nS006,Margaret,Hamilton,\n")
    expect(page.get_by_role("button", name="Apply: create 1, change 0")).to_be_visible()
    audit.check("admin-student-import-apply")

    # The course list's OneRoster pages: the sample bundle's preview (every kind of change), one with
    # errors, and the export's form, also with a bad range.
    audit.visit("admin-courses", f"{base_url}/admin/attendance/course/")
    with page.expect_navigation():
        page.get_by_role("link", name="Import OneRoster bundle").click()
    audit.check("admin-oneroster-import")
    bundle = sorted(str(path) for path in (ROOT / "tests" / "fixtures" / "oneroster").glob("*.csv"))
    page.set_input_files("input[type=file]", files=bundle)
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("button", name=re.compile(r"^Apply the \d+ changes$"))).to_be_visible()
    audit.check("admin-oneroster-preview")
    preview_csv(page, name="users.csv", text="sourcedId,role,username,givenName,familyName\nu-1,wizard,w,W,Z\n")
    expect(page.locator(".import-errors")).to_be_visible()
    audit.check("admin-oneroster-errors")
    audit.visit("admin-oneroster-export", f"{base_url}/admin/attendance/course/oneroster/export/")
    page.goto(f"{base_url}/admin/attendance/course/oneroster/export/?from=2030-02-01&to=2030-01-01")
    expect(page.get_by_role("alert")).to_contain_text("is before the from date")
    audit.check("admin-oneroster-export-error")

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
    # Staff check who recognition sees in a photo (the school's photo has no real embedding: nobody is named).
    audit.visit("check-image", f"{base_url}/check-image/")
    photo: FilePayload = {"name": "two.jpg", "mimeType": "image/jpeg", "buffer": face_bytes("probe/two_people.jpg")}
    page.set_input_files("#id_image", files=[photo])
    with page.expect_navigation():
        page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".check-table tbody tr")).to_have_count(2)
    audit.check("check-image-result")

    audit.assert_nothing_found()


@SCREENS
def test_the_api_docs_have_no_accessibility_violations(
    axe: None,
    school: School,
    asgi_server: Callable[..., str],
    chromium: Browser,
    tmp_path: Path,
    screen: tuple[str, ViewportSize],
) -> None:
    base_url = asgi_server()
    audit = Audit(chromium, tmp_path, screen)
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
