"""The admin: enrolment import from CSV, counts on the course list, rejected photos, the read-only audit trail."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course, Enrollment
from attendance.services import attendance_set_status
from students.models import Student, StudentPhoto

pytestmark = pytest.mark.django_db

D = datetime.date


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def import_url(course: Course) -> str:
    return reverse("admin:attendance_course_import_enrolments", args=[course.pk])


def upload(text: str) -> dict[str, SimpleUploadedFile]:
    return {"file": SimpleUploadedFile("enrolments.csv", text.encode(), content_type="text/csv")}


def signed_field(page: str) -> str:
    match = re.search(r'name="signed" value="([^"]+)"', page)
    assert match, "no confirm button"
    return html.unescape(match.group(1))


def enrolled_numbers(course: Course) -> set[str]:
    return set(course.enrollments.values_list("student__student_number", flat=True))


@pytest.fixture
def pupils(course: Course) -> dict[str, Student]:
    return {
        number: Student.objects.create(
            student_number=number, first_name=first, last_name="Pupil", consent_given_at=timezone.now()
        )
        for number, first in [("S002", "Bea"), ("S003", "Cy"), ("S004", "Di")]
    }


def photo(student: Student, status: str, reason: str = "") -> StudentPhoto:
    return StudentPhoto.objects.create(
        student=student,
        image=f"student_photos/{student.student_number}-{status}.jpg",
        sha256=status,
        status=status,
        reason=reason,
        # A ready photo has its embedding (the task writes both at once).
        embedding=bytes(4 * 512) if status == StudentPhoto.Status.READY else None,
    )


# --- Enrolment import ----------------------------------------------------------------------


def test_the_course_page_links_to_the_import(admin_client: Client, course: Course) -> None:
    response = admin_client.get(reverse("admin:attendance_course_change", args=[course.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{import_url(course)}">Import enrolments from CSV</a>' in page
    # The enrolment inline with its dates.
    assert 'name="enrollments-0-start_date"' in page
    assert 'name="enrollments-0-end_date"' in page


def test_upload_preview_then_confirm_enrols_the_students(
    admin_client: Client, course: Course, pupils: dict[str, Student]
) -> None:
    assert admin_client.get(import_url(course)).status_code == 200

    response = admin_client.post(
        import_url(course), upload("student_number,start_date\nS002,2025-09-01\nS001,2020-01-01\nS003,2025-09-02\n")
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>2</strong> to enrol" in page
    assert "<strong>1</strong> unchanged" in page
    assert "<td>2</td><td>S002</td><td>Bea Pupil</td><td>2025-09-01</td>" in page
    assert "<td>4</td><td>S003</td><td>Cy Pupil</td><td>2025-09-02</td>" in page
    assert enrolled_numbers(course) == {"S001"}, "the preview changes nothing"

    response = admin_client.post(import_url(course), {"signed": signed_field(page)}, follow=True)

    assert response.redirect_chain == [(reverse("admin:attendance_course_change", args=[course.pk]), 302)]
    assert "2 enrolment(s) saved: 2 added, 0 with new dates." in response.content.decode()
    assert enrolled_numbers(course) == {"S001", "S002", "S003"}
    assert course.enrollments.get(student__student_number="S003").start_date == D(2025, 9, 2)
    entry = LogEntry.objects.get(object_id=str(course.pk))
    assert entry.get_change_message() == "Imported enrolments from a CSV file: 2 added, 0 with new dates."


def test_a_file_with_errors_shows_them_by_line_and_cannot_be_confirmed(
    admin_client: Client, course: Course, pupils: dict[str, Student]
) -> None:
    response = admin_client.post(
        import_url(course), upload("student_number,start_date\nS002,2025-09-01\nS999,\nS002,\n")
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert '<td>3</td><td class="errors">Unknown student number “S999”.</td>' in page
    assert '<td>4</td><td class="errors">Student number “S002” is already on line 2.</td>' in page
    assert 'name="signed"' not in page
    assert enrolled_numbers(course) == {"S001"}


def test_a_file_that_is_not_csv_is_one_error(admin_client: Client, course: Course) -> None:
    response = admin_client.post(
        import_url(course), {"file": SimpleUploadedFile("list.xlsx", b"PK\x03\x04\x00\x00binary")}
    )

    assert response.status_code == 400
    assert "The file is not a CSV text file" in response.content.decode()


def test_an_altered_confirmation_applies_nothing(
    admin_client: Client, course: Course, pupils: dict[str, Student]
) -> None:
    page = admin_client.post(import_url(course), upload("student_number\nS002\n")).content.decode()
    signed = signed_field(page)

    response = admin_client.post(import_url(course), {"signed": signed[:-2] + "xx"})

    assert response.status_code == 400
    assert "This preview has expired or was altered; upload the file again." in response.content.decode()
    assert enrolled_numbers(course) == {"S001"}


def test_a_confirmation_for_another_course_applies_nothing(
    admin_client: Client, course: Course, pupils: dict[str, Student]
) -> None:
    other = Course.objects.create(code="CS102", name="More computing")
    page = admin_client.post(import_url(course), upload("student_number\nS002\n")).content.decode()

    response = admin_client.post(import_url(other), {"signed": signed_field(page)})

    assert response.status_code == 400
    assert not other.enrollments.exists()
    assert enrolled_numbers(course) == {"S001"}


def test_a_confirmation_after_the_enrolments_changed_shows_the_new_preview(
    admin_client: Client, course: Course, pupils: dict[str, Student]
) -> None:
    page = admin_client.post(import_url(course), upload("student_number,end_date\nS002,2030-01-01\n")).content.decode()
    Enrollment.objects.create(course=course, student=pupils["S002"], start_date=D(2024, 1, 1))

    response = admin_client.post(import_url(course), {"signed": signed_field(page)})

    assert response.status_code == 409
    page = response.content.decode()
    assert "changed since the preview; check this preview." in page
    assert "<strong>1</strong> with new dates" in page
    assert course.enrollments.get(student=pupils["S002"]).end_date is None


def test_people_who_are_not_staff_cannot_import(teacher: User, course: Course, pupils: dict[str, Student]) -> None:
    client = logged_in(teacher)

    for response in (client.get(import_url(course)), client.post(import_url(course), upload("student_number\nS002\n"))):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert Client().get(import_url(course)).status_code == 302
    assert enrolled_numbers(course) == {"S001"}


def test_staff_without_permission_to_change_courses_get_403(course: Course, pupils: dict[str, Student]) -> None:
    clerk = User.objects.create_user("clerk", password="clerk-pass-123", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_course"))

    response = logged_in(clerk).post(import_url(course), upload("student_number\nS002\n"))

    assert response.status_code == 403
    assert enrolled_numbers(course) == {"S001"}


# --- Course list counts ----------------------------------------------------------------------


def test_the_course_list_counts_enrolled_students_and_those_without_a_ready_photo(
    admin_client: Client, course: Course, student: Student, pupils: dict[str, Student]
) -> None:
    photo(student, StudentPhoto.Status.READY)
    photo(pupils["S003"], StudentPhoto.Status.READY)
    photo(pupils["S004"], StudentPhoto.Status.REJECTED, "2 faces found")
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    Enrollment.objects.create(course=course, student=pupils["S002"])  # no photo at all
    Enrollment.objects.create(course=course, student=pupils["S003"], end_date=yesterday)  # left
    Enrollment.objects.create(course=course, student=pupils["S004"], start_date=D(2099, 1, 1))  # starts later
    Course.objects.create(code="EMPTY", name="Nobody")
    students = reverse("admin:students_student_changelist")

    response = admin_client.get(reverse("admin:attendance_course_changelist"))

    assert response.status_code == 200
    page = response.content.decode()
    assert f'<a href="{students}?enrolled_in={course.pk}">3</a>' in page
    assert f'<a href="{students}?enrolled_in={course.pk}&amp;ready_photo=no">2</a>' in page
    assert page.count(">0</a>") == 2  # the empty course

    linked = admin_client.get(f"{students}?enrolled_in={course.pk}&ready_photo=no").content.decode()
    assert "S002" in linked and "S004" in linked
    assert "S001" not in linked and "S003" not in linked


# --- Rejected photos ------------------------------------------------------------------------


def test_rejected_photos_are_listed_with_their_reasons(admin_client: Client, pupils: dict[str, Student]) -> None:
    rejected = photo(pupils["S002"], StudentPhoto.Status.REJECTED, "2 faces found; take a photo of the student alone")
    failed = photo(pupils["S003"], StudentPhoto.Status.FAILED, "The image file is missing; upload it again.")
    photo(pupils["S004"], StudentPhoto.Status.READY)
    photos = reverse("admin:students_studentphoto_changelist")

    assert 'href="?status=rejected_or_failed">Rejected photos</a>' in admin_client.get(photos).content.decode()
    response = admin_client.get(f"{photos}?status=rejected_or_failed")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Rejected photos: upload a new photo of these students" in page
    assert "2 faces found; take a photo of the student alone" in page
    assert "The image file is missing; upload it again." in page
    for shown in (rejected, failed):
        assert reverse("photo-image", args=[shown.pk]) + "?size=thumb" in page
    assert reverse("admin:students_student_change", args=[pupils["S002"].pk]) in page
    assert "Di Pupil" not in page


# --- Read-only audit trail ------------------------------------------------------------------


@pytest.fixture
def change(open_session: ClassSession, student: Student, teacher: User) -> AttendanceChange:
    attendance_set_status(session=open_session, student=student, status="excused", changed_by=teacher, note="Doctor")
    return AttendanceChange.objects.get()


@pytest.mark.parametrize("model", ["attendancechange", "logentry"])
def test_the_audit_trails_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    admin_client: Client, change: AttendanceChange, model: str
) -> None:
    app = "attendance" if model == "attendancechange" else "admin"
    entry = (
        change
        if model == "attendancechange"
        else LogEntry.objects.create(
            user=User.objects.get(username="admin"), action_flag=DELETION, object_repr="Student S009"
        )
    )
    changelist = reverse(f"admin:{app}_{model}_changelist")
    change_url = reverse(f"admin:{app}_{model}_change", args=[entry.pk])

    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(change_url).status_code == 200
    assert admin_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:{app}_{model}_add"), {}).status_code == 403
    assert admin_client.post(change_url, {"note": "rewritten", "change_message": "rewritten"}).status_code == 403
    assert admin_client.get(reverse(f"admin:{app}_{model}_delete", args=[entry.pk])).status_code == 403
    assert (
        admin_client.post(reverse(f"admin:{app}_{model}_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    )
    bulk = admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert type(entry).objects.filter(pk=entry.pk).exists()
    entry.refresh_from_db()
    assert "rewritten" not in str(entry.__dict__)


def test_the_audit_trail_filters_and_searches(admin_client: Client, change: AttendanceChange, course: Course) -> None:
    changelist = reverse("admin:attendance_attendancechange_changelist")

    page = admin_client.get(f"{changelist}?q=Lovelace&session__course__id__exact={course.pk}&source=manual")

    assert page.status_code == 200
    assert "Doctor" in page.content.decode()
    assert "Doctor" not in admin_client.get(f"{changelist}?q=Nobody").content.decode()


def test_a_deletion_in_the_admin_is_in_the_admin_log(admin_client: Client, pupils: dict[str, Student]) -> None:
    victim = pupils["S004"]
    admin_client.post(reverse("admin:students_student_delete", args=[victim.pk]), {"post": "yes"})

    page = admin_client.get(reverse("admin:admin_logentry_changelist") + "?action_flag=3").content.decode()

    assert "Deleted" in page
    assert html.escape(str(victim)) in page


def test_a_record_corrected_in_the_admin_is_in_the_audit_trail(
    admin_client: Client, admin_user: User, open_session: ClassSession, student: Student
) -> None:
    attendance_set_status(session=open_session, student=student, status="absent", changed_by=None)
    record = AttendanceRecord.objects.get()

    response = admin_client.post(
        reverse("admin:attendance_attendancerecord_change", args=[record.pk]),
        {"status": "excused", "note": "Sick note"},
    )

    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.status, record.note, record.changed_by) == ("excused", "Sick note", admin_user)
    latest = AttendanceChange.objects.order_by("-pk").first()
    assert latest is not None
    assert (latest.old_status, latest.new_status, latest.source, latest.changed_by) == (
        "absent",
        "excused",
        "manual",
        admin_user,
    )


def test_closing_a_session_in_the_admin_marks_the_unseen_absent(
    admin_client: Client, open_session: ClassSession, student: Student
) -> None:
    response = admin_client.post(
        reverse("admin:attendance_classsession_changelist"),
        {"action": "close_sessions", "_selected_action": [open_session.pk]},
    )

    assert response.status_code == 302
    open_session.refresh_from_db()
    assert open_session.state == ClassSession.State.CLOSED
    assert AttendanceRecord.objects.get(student=student).status == "absent"


# --- Every admin list searches and filters ----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("attendance_course", "q=CS&teachers__id__exact=1"),
        ("attendance_enrollment", "q=S001&end_date__isempty=1"),
        ("attendance_classsession", "q=CS101&state__exact=open"),
        ("attendance_attendancerecord", "q=S001&status__exact=present"),
        ("attendance_attendancechange", "q=S001&source__exact=face"),
        ("attendance_sessionchange", "q=CS101&created_at__gte=2020-01-01"),
        ("admin_logentry", "q=S001&action_flag__exact=2"),
        ("students_student", "q=S001&ready_photo=yes&enrolled_in=1&is_active__exact=1"),
        ("students_studentphoto", "q=S001&status=ready"),
    ],
)
def test_every_admin_list_searches_and_filters(
    admin_client: Client, open_session: ClassSession, change: AttendanceChange, model: str, query: str
) -> None:
    url = reverse(f"admin:{model}_changelist")

    response = admin_client.get(f"{url}?{query}")

    assert response.status_code == 200, response.content[:500]
    assert "?e=1" not in response.get("Location", "")
    assert 'id="searchbar"' in response.content.decode()
    assert 'id="changelist-filter"' in response.content.decode()
