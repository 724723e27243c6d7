"""Students from a CSV file: what the preview finds line by line, what apply writes, and the admin's
"Import students from CSV" page (upload, preview, confirm)."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from attendance.models import Course
from config.csv_import import MAX_BYTES, MAX_ROWS, LineError
from config.web import ApplicationError
from students.models import Student
from students.student_import import StudentPreview, students_csv_apply, students_csv_preview, students_csv_read

pytestmark = pytest.mark.django_db

HEADER = "number,first_name,last_name,email\n"
HEADER_NEEDED = "The first line must be a header with the columns number, first_name, last_name and email"


def preview_of(text: str | bytes) -> StudentPreview:
    return students_csv_preview(data=text.encode() if isinstance(text, str) else text)


def numbers(lines: list) -> list[tuple[int, str]]:
    return [(line.line, line.student_number) for line in lines]


def everyone() -> dict[str, tuple[str, str, str]]:
    return {s.student_number: (s.first_name, s.last_name, s.email) for s in Student.objects.all()}


# --- A good file --------------------------------------------------------------------------


GOOD = (
    HEADER + "S001,Ada,Lovelace,\n"  # the fixture's student, as she is
    "S002,Alan,Turing,alan@example.com\n"
    "\n"
    "S003,Grace,,\n"
    "S004,,,\n"
)


@pytest.fixture
def existing(student: Student) -> dict[str, Student]:
    """S001 Ada Lovelace (the fixture's, with consent) and S003 Grace Hopper without an email."""
    hopper = Student.objects.create(student_number="S003", first_name="G.", last_name="Hopper")
    return {"S001": student, "S003": hopper}


def test_preview_sorts_the_lines_into_creates_changes_and_unchanged(existing: dict[str, Student]) -> None:
    preview = preview_of(GOOD)

    assert preview.errors == []
    assert numbers(preview.to_create) == [(3, "S002"), (6, "S004")]
    assert (preview.to_create[0].first_name, preview.to_create[0].email) == ("Alan", "alan@example.com")
    assert numbers(preview.unchanged) == [(2, "S001")]
    # An empty value keeps the student's own: Hopper stays, only the first name changes.
    assert numbers(preview.to_update) == [(5, "S003")]
    update = preview.to_update[0]
    assert (update.old_first_name, update.first_name, update.last_name) == ("G.", "Grace", "Hopper")


def test_preview_only_reads(existing: dict[str, Student]) -> None:
    before = everyone()

    with CaptureQueriesContext(connection) as queries:
        preview_of(GOOD)

    assert everyone() == before
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)


def test_apply_writes_the_preview_and_applying_it_again_changes_nothing(existing: dict[str, Student]) -> None:
    consent = existing["S001"].consent_given_at

    created, changed = students_csv_apply(preview=preview_of(GOOD))

    assert sorted(s.student_number for s in created) == ["S002", "S004"]
    assert [s.student_number for s in changed] == ["S003"]
    assert everyone() == {
        "S001": ("Ada", "Lovelace", ""),
        "S002": ("Alan", "Turing", "alan@example.com"),
        "S003": ("Grace", "Hopper", ""),
        "S004": ("", "", ""),
    }
    # Consent is not the import's: nobody new has it, and Ada keeps hers.
    assert Student.objects.get(student_number="S001").consent_given_at == consent
    assert Student.objects.filter(consent_given_at__isnull=False).count() == 1

    again = preview_of(GOOD)
    assert (again.to_create, again.to_update, again.errors) == ([], [], [])
    assert students_csv_apply(preview=again) == ([], [])


def test_a_student_added_since_the_preview_is_changed_not_duplicated(db: None) -> None:
    preview = preview_of(HEADER + "S002,Alan,,\n")
    Student.objects.create(student_number="S002", first_name="A.", last_name="Turing")

    created, changed = students_csv_apply(preview=preview)

    assert (created, [s.student_number for s in changed]) == ([], ["S002"])
    assert everyone() == {"S002": ("Alan", "Turing", "")}


def test_a_spreadsheet_export_with_bom_semicolons_crlf_spaced_header_and_any_order_is_read(db: None) -> None:
    data = "\ufeffEmail ; Last name;First name;Number\r\n r@example.com ;Noël;Renée; S010 \r\n".encode()

    preview = preview_of(data)

    assert preview.errors == []
    line = preview.to_create[0]
    assert (line.line, line.student_number, line.first_name, line.last_name, line.email) == (
        2,
        "S010",
        "Renée",
        "Noël",
        "r@example.com",
    )


def test_a_short_line_leaves_its_last_values_empty(db: None) -> None:
    preview = preview_of(HEADER + "S010,Ada\nS011\n")

    assert preview.errors == []
    assert [(line.student_number, line.first_name, line.last_name) for line in preview.to_create] == [
        ("S010", "Ada", ""),
        ("S011", "", ""),
    ]


def test_a_header_without_rows_changes_nothing(db: None) -> None:
    preview = preview_of(HEADER)

    assert preview == StudentPreview()
    assert students_csv_apply(preview=preview) == ([], [])


# --- Errors per line ----------------------------------------------------------------------


def test_each_problem_is_reported_with_its_line(student: Student) -> None:
    bad = (
        HEADER + "S002,Alan,Turing,\n"
        ",Nobody,,\n"
        "S002,Alan,Again,\n"
        "S003,Grace,Hopper,not-an-email\n"
        f"{'x' * 33},,,\n"
        f"S004,{'y' * 101},,\n"
        'S005,"Line\nbreak",,\n'
        "S006,Tab\tbed,,\n"
        "S007,,,,extra\n"
        "S008,,,a@b@example.com\n"
    )

    preview = preview_of(bad)

    assert preview.errors == [
        LineError(3, "The student number is empty."),
        LineError(4, "Student number “S002” is already on line 2."),
        LineError(5, "The email “not-an-email” is not a valid email address."),
        LineError(6, f"The student number “{'x' * 33}” is longer than 32 characters."),
        LineError(7, f"The first name “{'y' * 39}…” is longer than 100 characters."),
        LineError(8, "The first name contains a control character (such as a line break or a tab)."),
        LineError(10, "The first name contains a control character (such as a line break or a tab)."),
        LineError(11, "The line has more values than the header line has columns."),
        LineError(12, "The email “a@b@example.com” is not a valid email address."),
    ]
    # The good line is still previewed, but nothing can be applied.
    assert numbers(preview.to_create) == [(2, "S002")]
    with pytest.raises(ApplicationError, match=r"^The file has 9 error\(s\); correct them"):
        students_csv_apply(preview=preview)
    assert everyone() == {"S001": ("Ada", "Lovelace", "")}


def test_a_line_with_several_problems_lists_each(db: None) -> None:
    preview = preview_of(HEADER + f",{'z' * 101},,{'e' * 250}@example.com\n")

    assert [error.message for error in preview.errors] == [
        "The student number is empty.",
        f"The first name “{'z' * 39}…” is longer than 100 characters.",
        f"The email “{'e' * 39}…” is longer than 254 characters.",
    ]


# --- Files that are not what they should be -------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            b"",
            LineError(
                0,
                "The file is empty; it needs a header line with number, first_name, last_name and email and a "
                "line per student.",
            ),
        ),
        (
            (HEADER + "S001,Ada,,\n").encode("utf-16"),
            LineError(0, "The file is not a CSV text file (save it from the spreadsheet as “CSV UTF-8”)."),
        ),
        (
            HEADER.encode() + b"S001,Ada\x00,,\n",
            LineError(0, "The file is not a CSV text file (save it from the spreadsheet as “CSV UTF-8”)."),
        ),
        (
            (HEADER + "S001,Ada,,\nS002,Renée,,\n").encode("latin-1"),
            LineError(3, "Line 3 is not UTF-8 text; save the file from the spreadsheet as “CSV UTF-8”."),
        ),
        (
            # A UTF-16 surrogate encoded as if it were a character ("CESU-8"): not UTF-8.
            HEADER.encode() + b"S001,\xed\xa0\x80,,\n",
            LineError(2, "Line 2 is not UTF-8 text; save the file from the spreadsheet as “CSV UTF-8”."),
        ),
        (
            b"number,first_name,last_name\nS001,Ada,Lovelace\n",
            LineError(1, f"{HEADER_NEEDED}; missing column(s) email."),
        ),
        (
            b"S001,Ada,Lovelace,\n",
            LineError(
                1,
                f"{HEADER_NEEDED}; missing column(s) number, first_name, last_name, email; "
                "unknown column(s) “S001”, “Ada”, “Lovelace”.",
            ),
        ),
        (
            b"number,first_name,last_name,email,consent\nS001,Ada,Lovelace,,yes\n",
            LineError(1, f"{HEADER_NEEDED}; unknown column(s) “consent”."),
        ),
        (
            b"number,first_name,last_name,email,Email\n",
            LineError(1, "The header line has the column email more than once."),
        ),
        (HEADER.encode() + b'"S001,,,\n', LineError(2, 'Line 2 opens a quote (") that is never closed.')),
    ],
    ids=["empty", "utf-16", "nul", "latin-1", "surrogate", "missing", "no-header", "consent", "twice", "quote"],
)
def test_a_file_that_is_not_a_students_csv_gives_one_clear_error(
    student: Student, data: bytes, error: LineError
) -> None:
    preview = preview_of(data)

    assert preview.errors == [error]
    assert (preview.to_create, preview.to_update, preview.unchanged) == ([], [], [])


def test_a_file_over_the_size_limit_is_refused_whole(db: None) -> None:
    preview = preview_of(HEADER.encode() + b"S002,,,\n" * (MAX_BYTES // 8))

    assert preview.errors == [LineError(0, "The file is larger than 1 MB; split it into smaller files.")]


def test_the_row_limit_is_checked(db: None) -> None:
    rows = "".join(f"X{index},,,\n" for index in range(MAX_ROWS))

    at_limit = preview_of(HEADER + rows)
    over_limit = preview_of(HEADER + rows + "X-last,,,\n")

    assert at_limit.errors == [] and len(at_limit.to_create) == MAX_ROWS
    assert over_limit.errors == [
        LineError(MAX_ROWS + 2, "The file has more than 5,000 students; split it into files of at most 5,000.")
    ]


cells = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["S001", "S002", "", "a@example.com", '"'])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=200)
    | st.lists(st.lists(cells, min_size=3, max_size=5), max_size=6).map(
        lambda rows: (HEADER + "".join(",".join(row) + "\n" for row in rows)).encode()
    )
)
def test_any_file_is_previewed_without_raising_and_applying_it_twice_changes_nothing_the_second_time(
    student: Student, data: bytes
) -> None:
    note(repr(data))
    with transaction.atomic():
        preview = students_csv_preview(data=data)
        if preview.errors:
            with pytest.raises(ApplicationError):
                students_csv_apply(preview=preview)
        else:
            students_csv_apply(preview=preview)
            again = students_csv_preview(data=data)
            assert (again.errors, again.changes) == ([], [])
            assert students_csv_apply(preview=again) == ([], [])
        transaction.set_rollback(True)


def test_reading_needs_no_database() -> None:
    """enrol_folder's students.csv is read by the same rules, before anything is stored."""
    rows, errors = students_csv_read((HEADER + "S001,Ada,,\nS001,Ada,,\n").encode())

    assert [(row.line, row.student_number, row.first_name) for row in rows] == [(2, "S001", "Ada")]
    assert errors == [LineError(3, "Student number “S001” is already on line 2.")]


def test_enrol_folder_stops_on_a_students_csv_the_import_would_refuse(tmp_path: Path, db: None) -> None:
    (tmp_path / "S001").mkdir()
    (tmp_path / "students.csv").write_text(HEADER + "S001,Ada,,\nS001,Ada,,\nS002,,,ada@\n")

    with pytest.raises(CommandError) as raised:
        call_command("enrol_folder", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())

    assert str(raised.value) == (
        f"{tmp_path / 'students.csv'}: Line 3: Student number “S001” is already on line 2. "
        "Line 4: The email “ada@” is not a valid email address."
    )
    assert not Student.objects.exists()


# --- The admin page -----------------------------------------------------------------------


IMPORT_URL = "/admin/students/student/import/"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(text: str) -> dict[str, SimpleUploadedFile]:
    return {"file": SimpleUploadedFile("students.csv", text.encode(), content_type="text/csv")}


def signed_field(page: str) -> str:
    match = re.search(r'name="signed" value="([^"]+)"', page)
    assert match, "no confirm button"
    return html.unescape(match.group(1))


def test_the_url_is_the_admin_s_and_the_student_list_links_to_it(admin_client: Client, db: None) -> None:
    assert reverse("admin:students_student_import") == IMPORT_URL

    page = admin_client.get(reverse("admin:students_student_changelist")).content.decode()

    assert f'<a href="{IMPORT_URL}">Import students from CSV</a>' in page


def test_upload_preview_and_confirm_creates_the_students_and_again_changes_nothing(
    admin_client: Client, existing: dict[str, Student]
) -> None:
    page = admin_client.get(IMPORT_URL).content.decode()
    assert '<label class="required" for="id_file">CSV file:</label>' in page
    assert "This import does not record consent to face recognition" in page

    response = admin_client.post(IMPORT_URL, upload(GOOD))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<strong>2</strong> to create" in page
    assert "<strong>1</strong> to change" in page
    assert "<td>3</td><td>S002</td><td>Alan</td><td>Turing</td><td>alan@example.com</td>" in page
    assert "G. &rarr; <strong>Grace</strong>" in page
    assert set(everyone()) == {"S001", "S003"}, "the preview changes nothing"

    response = admin_client.post(IMPORT_URL, {"signed": signed_field(page)}, follow=True)

    assert response.redirect_chain == [(reverse("admin:students_student_changelist"), 302)]
    assert "2 student(s) created, 1 changed." in response.content.decode()
    assert everyone()["S002"] == ("Alan", "Turing", "alan@example.com")
    assert everyone()["S003"] == ("Grace", "Hopper", "")
    logged = {(e.object_repr, e.action_flag, e.get_change_message()) for e in LogEntry.objects.all()}
    assert logged == {
        ("Alan Turing (S002)", ADDITION, "Created from a CSV file."),
        ("S004 (S004)", ADDITION, "Created from a CSV file."),
        ("Grace Hopper (S003)", CHANGE, "Changed from a CSV file."),
    }

    again = admin_client.post(IMPORT_URL, upload(GOOD)).content.decode()

    assert "<strong>0</strong> to create" in again and "<strong>0</strong> to change" in again
    assert "Nothing to change: every student in the file already exists with these values." in again
    assert 'name="signed"' not in again


def test_a_file_with_errors_shows_them_by_line_and_cannot_be_confirmed(admin_client: Client, db: None) -> None:
    response = admin_client.post(IMPORT_URL, upload(HEADER + "S002,Alan,,\nS002,,,\nS003,,,bad\n"))

    assert response.status_code == 400
    page = response.content.decode()
    assert '<td>3</td><td class="errors">Student number “S002” is already on line 2.</td>' in page
    assert '<td>4</td><td class="errors">The email “bad” is not a valid email address.</td>' in page
    assert "Nothing can be applied while the file has errors" in page
    assert 'name="signed"' not in page
    assert not Student.objects.exists()


def test_no_file_is_a_400_with_the_form_error(admin_client: Client, db: None) -> None:
    response = admin_client.post(IMPORT_URL, {})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_a_tampered_confirmation_is_refused_and_changes_nothing(admin_client: Client, db: None) -> None:
    page = admin_client.post(IMPORT_URL, upload(HEADER + "S002,Alan,,\n")).content.decode()
    signed = signed_field(page)

    for altered in (signed[:-2] + "xx", signed.replace(signed[:8], signed[:8][::-1], 1), ""):
        response = admin_client.post(IMPORT_URL, {"signed": altered})

        assert response.status_code == 400
        assert "This preview has expired or was altered; upload the file again." in response.content.decode()
    assert not Student.objects.exists()


def test_an_enrolment_import_confirmation_is_refused_here(admin_client: Client, course: Course) -> None:
    Student.objects.create(student_number="S002")
    page = admin_client.post(
        reverse("admin:attendance_course_import_enrolments", args=[course.pk]),
        {"file": SimpleUploadedFile("e.csv", b"student_number\nS002\n")},
    ).content.decode()

    response = admin_client.post(IMPORT_URL, {"signed": signed_field(page)})

    assert response.status_code == 400
    assert set(everyone()) == {"S001", "S002"}


def test_a_confirmation_after_the_students_changed_shows_the_new_preview(admin_client: Client, db: None) -> None:
    page = admin_client.post(IMPORT_URL, upload(HEADER + "S002,Alan,,\n")).content.decode()
    Student.objects.create(student_number="S002", first_name="Alan", last_name="Turing", email="a@example.com")

    response = admin_client.post(IMPORT_URL, {"signed": signed_field(page)})

    assert response.status_code == 409
    page = response.content.decode()
    assert "Students were added or changed since the preview; check this preview." in page
    assert "<strong>0</strong> to create" in page
    assert everyone() == {"S002": ("Alan", "Turing", "a@example.com")}


@pytest.mark.parametrize("codenames", [[], ["view_student"], ["add_student"], ["change_student"]])
def test_staff_without_permission_to_add_and_change_students_get_403(codenames: list[str], db: None) -> None:
    clerk = User.objects.create_user("clerk", password="clerk-pass-123", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=codenames, content_type__app_label="students"))
    client = logged_in(clerk)

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, upload(HEADER + "S002,,,\n")).status_code == 403
    assert not Student.objects.exists()
    if "view_student" in codenames:
        changelist = client.get(reverse("admin:students_student_changelist")).content.decode()
        assert "Import students from CSV" not in changelist


def test_staff_with_both_permissions_import(db: None) -> None:
    clerk = User.objects.create_user("clerk", password="clerk-pass-123", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_student", "change_student"], content_type__app_label="students")
    )
    client = logged_in(clerk)

    page = client.post(IMPORT_URL, upload(HEADER + "S002,Alan,,\n")).content.decode()
    response = client.post(IMPORT_URL, {"signed": signed_field(page)})

    assert response.status_code == 302
    assert everyone() == {"S002": ("Alan", "", "")}
    assert Student.objects.get().consent_given_at is None


def test_people_who_are_not_staff_are_sent_to_the_login(teacher: User) -> None:
    for client in (logged_in(teacher), Client()):
        for response in (client.get(IMPORT_URL), client.post(IMPORT_URL, upload(HEADER + "S002,,,\n"))):
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
    assert not Student.objects.exists()


def test_consent_is_left_as_it_is(admin_client: Client, student: Student) -> None:
    given = timezone.now()
    Student.objects.filter(pk=student.pk).update(consent_given_at=given)
    page = admin_client.post(IMPORT_URL, upload(HEADER + "S001,Augusta,,\n")).content.decode()

    admin_client.post(IMPORT_URL, {"signed": signed_field(page)})

    student.refresh_from_db()
    assert (student.first_name, student.consent_given_at) == ("Augusta", given)
