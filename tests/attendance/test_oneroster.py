"""Rosters from the school's information system: the OneRoster 1.1 bundle of tests/fixtures/oneroster
imported (and again, changing nothing), bad lines reported by file and line, the upload's limits,
the admin's import page, and the attendance export keyed by the same sourcedIds."""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment, TeacherRosterId
from attendance.oneroster import (
    MAX_ZIP_ENTRIES,
    Bundle,
    BundleError,
    RosterLine,
    RosterPreview,
    bundle_encode,
    bundle_read,
    roster_apply,
    roster_preview,
)
from attendance.oneroster_export import COLUMNS, attendance_csv_write, export_range
from config.csv_import import MAX_BYTES
from config.web import ApplicationError
from students.models import Student
from tests.students.builders import staff_with_model_permissions

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "oneroster"
IMPORT_URL = "/admin/attendance/course/oneroster/import/"
EXPORT_URL = "/admin/attendance/course/oneroster/export/"
STUDENT_IDS = {"user-s-ada", "user-s-alan", "user-s-emmy", "user-s-zoe", "user-s-kurt", "user-s-sofia"}


def fixture_files(**replaced: str) -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in sorted(FIXTURE.glob("*.csv"))}
    files.update({name: text.encode() for name, text in replaced.items()})
    return files


def zipped(files: dict[str, bytes], *, folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(folder + name, data)
    return buffer.getvalue()


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signed_field(page: str) -> str:
    match = re.search(r'name="signed" value="([^"]+)"', page)
    assert match, "no apply button"
    return html.unescape(match.group(1))


def preview_of(files: dict[str, bytes]) -> RosterPreview:
    return roster_preview(data=bundle_encode(bundle_read(list(files.items()))))


def imported(files: dict[str, bytes] | None = None) -> RosterPreview:
    preview = preview_of(files or fixture_files())
    assert preview.errors == []
    roster_apply(preview=preview)
    return preview


def errors_of(preview: RosterPreview) -> list[tuple[str, int, str]]:
    return [(error.file, error.line, error.message) for error in preview.errors if isinstance(error, RosterLine)]


def snapshot() -> dict[str, object]:
    """Everything the import writes, to compare before and after."""
    return {
        "students": sorted(
            Student.objects.values_list(
                "sourced_id", "student_number", "first_name", "last_name", "email", "is_active", "consent_given_at"
            ),
            key=str,
        ),
        "users": sorted(User.objects.values_list("username", "first_name", "last_name", "email", "is_staff")),
        "rosters": sorted(TeacherRosterId.objects.values_list("sourced_id", "user__username")),
        "courses": sorted(Course.objects.values_list("sourced_id", "code", "name"), key=str),
        "teaching": sorted(Course.teachers.through.objects.values_list("course__code", "user__username")),
        "enrolments": sorted(
            Enrollment.objects.values_list(
                "sourced_id", "course__code", "student__student_number", "start_date", "end_date"
            ),
            key=str,
        ),
    }


# --- The sample bundle ----------------------------------------------------------------------


def test_the_sample_bundle_imports_students_teachers_courses_and_enrolments(db: None) -> None:
    today = timezone.localdate()
    preview = imported()

    assert preview.ignored_files == []
    students = {s.sourced_id: s for s in Student.objects.all()}
    assert set(students) == STUDENT_IDS
    # The number: identifier, else username, else the sourcedId.
    assert students["user-s-ada"].student_number == "1001"
    assert students["user-s-kurt"].student_number == "kurt.g"
    assert students["user-s-sofia"].student_number == "user-s-sofia"
    assert (students["user-s-zoe"].first_name, students["user-s-zoe"].last_name) == ("Zoë", "Kovač")
    assert students["user-s-ada"].email == "ada@school.example"
    assert all(s.is_active and s.consent_given_at is None for s in students.values())

    hopper = User.objects.get(username="ghopper")
    assert (hopper.first_name, hopper.last_name, hopper.email) == ("Grace", "Hopper", "ghopper@school.example")
    assert not hopper.is_staff and not hopper.is_superuser and not hopper.has_usable_password()
    assert hopper.roster_id.sourced_id == "user-t-hopper"
    assert not User.objects.filter(username="abyron").exists()  # a guardian is not imported

    math, cs = Course.objects.get(sourced_id="class-math-1"), Course.objects.get(sourced_id="class-cs-1")
    assert (math.code, math.name) == ("MATH-1", "Mathematics period 1")
    assert (cs.code, cs.name) == ("CS", "Computing")  # no classCode: the course's courseCode
    assert list(math.teachers.values_list("username", flat=True)) == ["ghopper"]
    assert list(cs.teachers.values_list("username", flat=True)) == ["dknuth"]

    dates = {e.sourced_id: (e.start_date, e.end_date) for e in Enrollment.objects.all()}
    assert dates["enr-math-alan"] == (datetime.date(2030, 9, 15), datetime.date(2030, 12, 20))  # its own dates
    assert dates["enr-math-ada"] == (datetime.date(2030, 9, 2), datetime.date(2030, 12, 20))  # the term's
    assert dates["enr-cs-ada"] == (datetime.date(2030, 9, 1), datetime.date(2031, 6, 30))  # both terms'
    # A tobedeleted enrolment not in the system is not created; teachers' lines make no enrolment.
    assert "enr-cs-alan" not in dates and "enr-math-hopper" not in dates
    assert len(dates) == 7
    assert ("enrollments.csv", 11) in [(note.file, note.line) for note in preview.skipped]
    assert ("users.csv", 10) in [(note.file, note.line) for note in preview.skipped]
    assert today  # the fixture's enrolments all have dates


def test_importing_the_same_bundle_again_changes_nothing(db: None) -> None:
    imported()
    before = snapshot()

    again = preview_of(fixture_files())

    assert again.errors == [] and again.changes == []
    assert again.unchanged == {"students": 6, "teachers": 2, "courses": 2, "enrolments": 7, "teaching": 2}
    assert roster_apply(preview=again) == dict.fromkeys(again.unchanged, 0)
    assert snapshot() == before


def test_a_zip_in_a_folder_with_other_files_is_read_and_the_others_ignored(db: None) -> None:
    data = zipped({**fixture_files(), "orgs.csv": b"sourcedId\norg-school\n"}, folder="oneroster/")
    bundle = bundle_read([("roster.zip", data)])
    assert set(bundle.files) == set(fixture_files()) and bundle.ignored == ("orgs.csv",)
    assert roster_preview(data=bundle_encode(bundle)).errors == []


def test_an_existing_student_course_and_teacher_without_sourced_ids_are_linked(db: None) -> None:
    ada = Student.objects.create(student_number="1001", first_name="Ada", consent_given_at=timezone.now())
    consent = ada.consent_given_at
    old_math = Course.objects.create(code="MATH-1", name="Maths")
    Enrollment.objects.create(course=old_math, student=ada, start_date=datetime.date(2030, 9, 1))
    hopper = User.objects.create_user("ghopper", password="kept-password-123", is_staff=True)

    preview = preview_of(fixture_files())

    assert [(p.action, p.student_number) for p in preview.students if p.action == "link"] == [("link", "1001")]
    assert [(p.action, p.code) for p in preview.courses if p.action == "link"] == [("link", "MATH-1")]
    assert [(p.action, p.username) for p in preview.teachers if p.action == "link"] == [("link", "ghopper")]
    assert [p.action for p in preview.enrolments if p.sourced_id == "enr-math-ada"] == ["link"]
    roster_apply(preview=preview)

    ada.refresh_from_db()
    hopper.refresh_from_db()
    assert (ada.sourced_id, ada.last_name, ada.consent_given_at) == ("user-s-ada", "Lovelace", consent)
    assert Course.objects.get(pk=old_math.pk).sourced_id == "class-math-1"
    assert hopper.roster_id.sourced_id == "user-t-hopper"
    assert hopper.is_staff and hopper.check_password("kept-password-123")  # what the import does not set
    assert Enrollment.objects.get(course=old_math, student=ada).sourced_id == "enr-math-ada"
    assert preview_of(fixture_files()).changes == []


def test_tobedeleted_ends_the_enrolment_removes_the_teacher_and_deactivates_the_student(db: None) -> None:
    imported()
    ada = Student.objects.get(sourced_id="user-s-ada")
    today = timezone.localdate()
    users = (
        fixture_files()["users.csv"]
        .decode()
        .replace("user-s-emmy,active", "user-s-emmy,tobedeleted")
        .replace("user-t-knuth,active", "user-t-knuth,tobedeleted")
    )
    enrollments = (
        fixture_files()["enrollments.csv"]
        .decode()
        .replace(
            "enr-math-ada,class-math-1,org-school,user-s-ada,student,active",
            "enr-math-ada,class-math-1,org-school,user-s-ada,student,tobedeleted",
        )
        .replace("user-t-knuth,teacher,active", "user-t-knuth,teacher,tobedeleted")
    )

    preview = preview_of(fixture_files(**{"users.csv": users, "enrollments.csv": enrollments}))

    assert preview.errors == []
    assert [(p.action, p.sourced_id) for p in preview.students] == [("deactivate", "user-s-emmy")]
    assert [(p.action, p.sourced_id) for p in preview.enrolments] == [("end", "enr-math-ada")]
    assert {(p.action, p.course_code, p.username) for p in preview.teaching} == {("remove", "CS", "dknuth")}
    roster_apply(preview=preview)

    emmy = Student.objects.get(sourced_id="user-s-emmy")
    assert not emmy.is_active
    ended = Enrollment.objects.get(sourced_id="enr-math-ada")
    assert ended.end_date == max(today, ended.start_date) and ended.student == ada
    assert not Course.objects.get(code="CS").teachers.exists()
    assert User.objects.filter(username="dknuth").exists()  # removed from the course, not deleted
    assert preview_of(fixture_files(**{"users.csv": users, "enrollments.csv": enrollments})).changes == []


def test_a_class_or_student_marked_tobedeleted_is_not_created_nor_their_enrolments(db: None) -> None:
    users = fixture_files()["users.csv"].decode().replace("user-s-zoe,active", "user-s-zoe,tobedeleted")
    classes = fixture_files()["classes.csv"].decode().replace("class-math-1,active", "class-math-1,tobedeleted")
    preview = imported(fixture_files(**{"users.csv": users, "classes.csv": classes}))

    assert not Student.objects.filter(sourced_id="user-s-zoe").exists()
    assert list(Course.objects.values_list("sourced_id", flat=True)) == ["class-cs-1"]
    assert set(Enrollment.objects.values_list("sourced_id", flat=True)) == {"enr-cs-ada", "enr-cs-kurt", "enr-cs-sofia"}
    assert {(note.file, note.line) for note in preview.skipped} >= {("users.csv", 7), ("classes.csv", 2)}


def test_two_classes_with_one_code_get_a_suffix_that_a_reimport_keeps(db: None) -> None:
    classes = fixture_files()["classes.csv"].decode() + (
        "class-math-2,active,2030-06-01T08:00:00.000Z,Mathematics period 2,09,course-math,MATH-1,scheduled,"
        "Room 5,org-school,term-2030-fall,Mathematics,,2\n"
    )
    files = fixture_files(**{"classes.csv": classes})
    imported(files)
    assert Course.objects.get(sourced_id="class-math-2").code == "MATH-1-2"
    assert preview_of(files).changes == []


def test_a_changed_name_is_an_update_and_an_empty_email_keeps_the_student_s(db: None) -> None:
    imported()
    users = (
        fixture_files()["users.csv"]
        .decode()
        .replace(
            "ada.l,{SIS:1001},Ada,Lovelace,,1001,ada@school.example", "ada.l,{SIS:1001},Augusta Ada,Lovelace,,1001,"
        )
    )
    preview = preview_of(fixture_files(**{"users.csv": users}))
    assert [(p.action, p.first_name, p.email, p.was) for p in preview.students] == [
        ("update", "Augusta Ada", "ada@school.example", "first name Ada")
    ]


# --- Bad lines ------------------------------------------------------------------------------


BAD_USERS = (
    "sourcedId,status,role,username,givenName,familyName,identifier,email\n"
    "user-s-ada,active,student,ada.l,Ada,Lovelace,1001,ada@school.example\n"
    ",active,student,nobody,No,Body,1009,\n"  # 3: no sourcedId
    "user-s-ada,active,student,ada2,Ada,Again,1010,\n"  # 4: the same sourcedId again
    "user-s-x,active,wizard,wiz,W,Z,1011,\n"  # 5: unknown role
    "user-s-y,active,student,yy,Y,Y,1012,not-an-email\n"  # 6: bad email
    "user-t-z,active,teacher,,Zed,Teacher,,\n"  # 7: a teacher without a username
    "=cmd,active,student,evil,E,Vil,1013,\n"  # 8: a formula
    "user-s-two,active,student,two,T,Wo,1001,\n"  # 9: Ada's number again
    "user-s-w,maybe,student,w,W,W,1014,\n"  # 10: unknown status
)
BAD_ENROLLMENTS = (
    "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,status,dateLastModified,primary,beginDate,endDate\n"
    "e1,class-math-1,org,user-s-ada,student,active,,,2030-02-30,\n"  # 2: a bad date
    "e2,class-nope,org,user-s-ada,student,active,,,,\n"  # 3: unknown class
    "e3,class-math-1,org,user-s-nope,student,active,,,,\n"  # 4: unknown user
    "e4,class-math-1,org,user-s-ada,student,active,,,2030-10-01,2030-09-01\n"  # 5: ends before it begins
    "e5,class-math-1,org,user-s-ada,teacher,active,,,,\n"  # 6: a student as a teacher
    "e6,class-math-1,org,user-s-ada,student,active,,,1999-09-01,\n"  # 7: outside the supported years
    "e7,class-math-1,org,user-s-x,student,active,,,,\n"  # 8: the user's line has an error: not reported again
)
BAD_CLASSES = (
    "sourcedId,title,courseSourcedId,classCode,termSourcedIds\n"
    "class-math-1,Maths,course-math,MATH-1,term-2030-fall\n"
    "class-x,,course-math,X,\n"  # 3: no title
    "class-y,Y,course-nope,Y,\n"  # 4: unknown course
    "class-z,Z,course-math,Z,term-nope\n"  # 5: unknown term
)


def test_each_bad_line_is_reported_with_its_file_and_line_and_nothing_can_be_applied(db: None) -> None:
    preview = preview_of(
        fixture_files(**{"users.csv": BAD_USERS, "enrollments.csv": BAD_ENROLLMENTS, "classes.csv": BAD_CLASSES})
    )
    errors = errors_of(preview)
    lines = [(file, line) for file, line, _ in errors]

    assert lines == [
        ("users.csv", 3),
        ("users.csv", 4),
        ("users.csv", 5),
        ("users.csv", 6),
        ("users.csv", 7),
        ("users.csv", 8),
        ("users.csv", 9),
        ("users.csv", 10),
        ("classes.csv", 3),
        ("classes.csv", 4),
        ("classes.csv", 5),
        ("enrollments.csv", 2),
        ("enrollments.csv", 3),
        ("enrollments.csv", 4),
        ("enrollments.csv", 5),
        ("enrollments.csv", 6),
        ("enrollments.csv", 7),
    ]
    messages = dict(((file, line), message) for file, line, message in errors)
    assert messages[("users.csv", 3)] == "The sourcedId is empty."
    assert messages[("users.csv", 4)] == "The sourcedId “user-s-ada” is already on line 2."
    assert messages[("users.csv", 5)].startswith("The role “wizard” is not one of administrator")
    assert messages[("users.csv", 6)] == "The email “not-an-email” is not a valid email address."
    assert messages[("users.csv", 7)] == "A teacher needs a username."
    assert messages[("users.csv", 8)] == "The sourcedId “=cmd” starts with '='."
    assert messages[("users.csv", 9)] == "The student number “1001” is already on line 2."
    assert messages[("users.csv", 10)].startswith("The status “maybe” is not one of active, tobedeleted")
    assert messages[("classes.csv", 3)] == "The title is empty."
    assert messages[("classes.csv", 4)] == "Unknown courseSourcedId “course-nope”: not in courses.csv."
    assert messages[("classes.csv", 5)] == "Unknown termSourcedIds “term-nope”: not in academicSessions.csv."
    assert messages[("enrollments.csv", 2)] == "The beginDate “2030-02-30” is not a date in the form YYYY-MM-DD."
    assert messages[("enrollments.csv", 3)].startswith("Unknown classSourcedId “class-nope”")
    assert messages[("enrollments.csv", 4)].startswith("Unknown userSourcedId “user-s-nope”")
    assert messages[("enrollments.csv", 5)] == "The endDate 2030-09-01 is before the beginDate 2030-10-01."
    assert messages[("enrollments.csv", 6)] == "The user “user-s-ada” is not a teacher in users.csv."
    assert "years 2000 to 2100" in messages[("enrollments.csv", 7)]
    with pytest.raises(ApplicationError, match="error"):
        roster_apply(preview=preview)
    assert not Student.objects.exists() and not Course.objects.exists()


def test_a_file_without_the_needed_columns_or_not_utf8_is_one_error_for_the_file(db: None) -> None:
    preview = preview_of(
        fixture_files(**{"users.csv": "id,name\n1,Ada\n"}) | {"classes.csv": b"sourcedId,title\n\xff\n"}
    )
    assert errors_of(preview)[:2] == [
        (
            "users.csv",
            1,
            "The header line needs the column(s) sourcedId, role, username, givenName, familyName of OneRoster 1.1; "
            "found “id”, “name”.",
        ),
        ("classes.csv", 2, "Line 2 is not UTF-8 text; save the file from the spreadsheet as “CSV UTF-8”."),
    ]


def test_a_student_number_held_by_a_student_with_another_sourced_id_is_an_error(db: None) -> None:
    Student.objects.create(student_number="1001", sourced_id="other-sis-id")
    preview = preview_of(fixture_files())
    assert ("users.csv", 4) in [(file, line) for file, line, _ in errors_of(preview)]


# --- The upload's limits -------------------------------------------------------------------


def test_a_zip_bomb_is_refused_before_it_is_inflated(db: None) -> None:
    bomb = zipped({"users.csv": b"sourcedId," + b"0" * (20 * MAX_BYTES)})
    assert len(bomb) < 100_000
    with pytest.raises(BundleError, match=r"users.csv is larger than 1 MB"):
        bundle_read([("bomb.zip", bomb)])


def test_a_zip_whose_header_lies_about_its_size_is_read_no_further_than_allowed(db: None) -> None:
    data = bytearray(zipped({"users.csv": b"x" * (2 * MAX_BYTES)}))
    # The sizes in the central directory say 10 bytes; the entry holds 2 MB.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(BundleError):
        bundle_read([("liar.zip", bytes(data))])


def test_too_many_entries_too_large_an_upload_damaged_zips_and_unknown_files_are_refused(db: None) -> None:
    many = zipped({f"extra{n}.csv": b"" for n in range(MAX_ZIP_ENTRIES + 1)})
    cases = [
        ([("many.zip", many)], f"more than {MAX_ZIP_ENTRIES} files"),
        ([("big.zip", b"PK\x03\x04" + b"0" * (5 * 1024 * 1024))], "larger than 4 MB"),
        ([("roster.zip", b"PK\x03\x04 not really")], "not a zip file"),
        ([("notes.txt", b"hello"), ("orgs.csv", b"sourcedId\n")], "has none of users.csv"),
        ([("users.csv", b"a"), ("USERS.CSV", b"b")], "users.csv more than once"),
        ([("roster.zip", zipped(fixture_files())), ("users.csv", b"a")], "not both"),
        ([], "Choose the bundle"),
    ]
    for uploads, message in cases:
        with pytest.raises(BundleError, match=message):
            bundle_read(uploads)


def test_separate_csv_files_are_a_bundle_too(db: None) -> None:
    bundle = bundle_read(list(fixture_files().items()))
    assert bundle == Bundle(fixture_files(), ())


# --- The admin's page -----------------------------------------------------------------------


def upload(files: dict[str, bytes] | bytes) -> dict[str, object]:
    if isinstance(files, bytes):
        return {"file": SimpleUploadedFile("roster.zip", files, content_type="application/zip")}
    return {"file": [SimpleUploadedFile(name, data, content_type="text/csv") for name, data in files.items()]}


def test_the_course_list_links_to_the_pages(admin_client: Client, db: None) -> None:
    page = admin_client.get(reverse("admin:attendance_course_changelist")).content.decode()
    assert f'href="{IMPORT_URL}">Import OneRoster bundle' in page
    assert f'href="{EXPORT_URL}">Export attendance for OneRoster' in page
    assert reverse("admin:attendance_course_oneroster_import") == IMPORT_URL


def test_upload_preview_apply_and_a_second_upload_has_nothing_to_apply(admin_client: Client, db: None) -> None:
    response = admin_client.post(IMPORT_URL, upload(zipped(fixture_files())))
    page = response.content.decode()
    assert response.status_code == 200
    assert "6 to create" in page and "user-s-sofia" in page and "MATH-1" in page
    assert not Student.objects.exists()  # a preview writes nothing

    response = admin_client.post(IMPORT_URL, {"signed": signed_field(page)}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:attendance_course_changelist")
    assert "Roster imported: 6 student(s), 2 teacher(s), 2 course(s), 7 enrolment(s)" in response.content.decode()
    assert Student.objects.count() == 6

    again = admin_client.post(IMPORT_URL, upload(fixture_files())).content.decode()
    assert "Nothing to change: the system already holds this roster." in again
    assert 'name="signed"' not in again


def test_a_bundle_with_errors_shows_them_and_cannot_be_applied(admin_client: Client, db: None) -> None:
    response = admin_client.post(IMPORT_URL, upload(fixture_files(**{"users.csv": BAD_USERS})))
    page = response.content.decode()
    assert response.status_code == 400
    assert "<td>users.csv</td><td>6</td>" in page and "is not a valid email address" in page
    assert 'name="signed"' not in page


def test_a_refused_upload_is_a_400_with_the_reason(admin_client: Client, db: None) -> None:
    bomb = zipped({"users.csv": b"0" * (20 * MAX_BYTES)})
    response = admin_client.post(IMPORT_URL, upload(bomb))
    assert response.status_code == 400
    assert "users.csv is larger than 1 MB" in response.content.decode()
    assert admin_client.post(IMPORT_URL, {}).status_code == 400


def test_a_tampered_confirmation_is_refused_and_changes_nothing(admin_client: Client, db: None) -> None:
    page = admin_client.post(IMPORT_URL, upload(fixture_files())).content.decode()
    signed = signed_field(page)
    for altered in (signed[:-2] + "xx", signed.replace(signed[:8], signed[:8][::-1], 1), ""):
        response = admin_client.post(IMPORT_URL, {"signed": altered})
        assert response.status_code == 400
        assert "expired or was altered" in response.content.decode()
    assert not Student.objects.exists() and not Course.objects.exists()


def test_only_staff_who_may_add_and_change_courses_and_students_may_import(db: None, teacher: User) -> None:
    clerk = staff_with_model_permissions("clerk", "attendance", "students")
    bare = User.objects.create_user("bare", password="bare-pass-123", is_staff=True)
    courses_only = staff_with_model_permissions("courses-only", "attendance")
    assert logged_in(clerk).get(IMPORT_URL).status_code == 200
    for user in (bare, courses_only):
        client = logged_in(user)
        assert client.get(IMPORT_URL).status_code == 403
        assert client.post(IMPORT_URL, upload(fixture_files())).status_code == 403
        assert (
            "Import OneRoster bundle" not in client.get(reverse("admin:attendance_course_changelist")).content.decode()
        )
    # Not staff: the admin's login page.
    assert logged_in(teacher).get(IMPORT_URL).status_code == 302
    assert Client().get(EXPORT_URL).status_code == 302
    assert logged_in(bare).get(EXPORT_URL).status_code == 403
    assert not Student.objects.exists()


# --- The export -------------------------------------------------------------------------------


def test_the_export_round_trips_the_sourced_ids(db: None, tmp_path: Path) -> None:
    imported()
    math = Course.objects.get(sourced_id="class-math-1")
    untracked = Student.objects.create(student_number="S999")  # no sourcedId: not exported
    Enrollment.objects.create(course=math, student=untracked, start_date=datetime.date(2030, 9, 1))
    tz = timezone.get_current_timezone()
    starts = datetime.datetime(2030, 10, 7, 9, 0, tzinfo=tz)
    held = ClassSession.objects.create(
        course=math, starts_at=starts, ends_at=starts + datetime.timedelta(hours=1), state=ClassSession.State.CLOSED
    )
    tomorrow = starts + datetime.timedelta(days=1)
    ClassSession.objects.create(  # open: not counted yet
        course=math, starts_at=tomorrow, ends_at=tomorrow + datetime.timedelta(hours=1), state=ClassSession.State.OPEN
    )
    ada, alan = Student.objects.get(sourced_id="user-s-ada"), Student.objects.get(sourced_id="user-s-alan")
    AttendanceRecord.objects.create(session=held, student=ada, status="present", source="face")
    AttendanceRecord.objects.create(session=held, student=alan, status="late", source="card", note="=bus late")

    output = tmp_path / "attendance.csv"
    call_command("export_oneroster_attendance", "--from", "2030-10-01", "--to", "2030-10-31", "--output", str(output))
    with output.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))

    assert tuple(rows[0]) == COLUMNS
    assert {(row["classSourcedId"], row["userSourcedId"], row["status"], row["source"]) for row in rows} == {
        ("class-math-1", "user-s-ada", "present", "face"),
        ("class-math-1", "user-s-alan", "late", "card"),
        ("class-math-1", "user-s-emmy", "absent", ""),  # never seen
    }
    assert {row["sessionDate"] for row in rows} == {"2030-10-07"}
    assert {datetime.datetime.fromisoformat(row["sessionStart"]) for row in rows} == {starts}
    assert [row["note"] for row in rows if row["userSourcedId"] == "user-s-alan"] == ["'=bus late"]
    # What the school takes back names what it sent.
    assert {row["userSourcedId"] for row in rows} <= STUDENT_IDS
    assert {row["classSourcedId"] for row in rows} <= set(Course.objects.values_list("sourced_id", flat=True))


def test_the_admin_download_is_the_same_csv(admin_client: Client, db: None) -> None:
    imported()
    cs = Course.objects.get(sourced_id="class-cs-1")
    starts = datetime.datetime(2030, 10, 8, 10, 0, tzinfo=datetime.UTC)
    ClassSession.objects.create(
        course=cs, starts_at=starts, ends_at=starts + datetime.timedelta(hours=1), state=ClassSession.State.CLOSED
    )
    assert admin_client.get(EXPORT_URL).status_code == 200
    response = admin_client.get(EXPORT_URL, {"from": "2030-10-01", "to": "2030-10-31"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    expected = io.StringIO()
    attendance_csv_write(expected, first=datetime.date(2030, 10, 1), last=datetime.date(2030, 10, 31))
    assert text == expected.getvalue()
    assert len(text.splitlines()) == 1 + 4  # Ada, Zoë, Kurt and Sofia in CS


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("", "2030-01-31", "The from date is needed"),
        ("2030-01-31", "2030-01-01", "The to date 2030-01-01 is before the from date 2030-01-31."),
        ("2030-01-01", "2031-06-01", "an export covers at most 366 days"),
        ("2030-13-01", "2030-12-31", "The from date “2030-13-01” is not a date in the form YYYY-MM-DD."),
        ("20300101", "2030-12-31", "is not a date in the form YYYY-MM-DD"),
        ("1999-12-01", "2000-01-31", "Dates must be in the years 2000 to 2100"),
    ],
)
def test_a_bad_range_is_refused_with_a_clear_message(
    admin_client: Client, db: None, first: str, last: str, message: str
) -> None:
    with pytest.raises(ApplicationError, match=message.replace("(", r"\(")):
        export_range(first=first, last=last)
    response = admin_client.get(EXPORT_URL, {"from": first, "to": last})
    assert response.status_code == 400 and message in response.content.decode()
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("export_oneroster_attendance", "--from", first, "--to", last)


# --- Whatever the files hold ----------------------------------------------------------------

CELLS = st.sampled_from(
    [
        "",
        "user-s-ada",
        "class-math-1",
        "student",
        "teacher",
        "tobedeleted",
        "2030-09-01",
        "=x",
        "a,b",
        "\t",
        "Zoë",
        "x" * 300,
    ]
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["users.csv", "classes.csv", "enrollments.csv", "academicSessions.csv", "courses.csv"]),
    lines=st.lists(st.lists(CELLS, max_size=20), max_size=6),
    raw=st.binary(max_size=200),
)
def test_any_file_gives_a_preview_with_sentences_and_never_raises(
    db: None, name: str, lines: list[list[str]], raw: bytes
) -> None:
    header = fixture_files()[name].splitlines()[0]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    for data in (header + b"\n" + buffer.getvalue().encode(), raw):
        preview = preview_of({**fixture_files(), name: data})
        for error in preview.errors:
            assert error.message[:1].isupper() and error.message.endswith("."), error
            assert len(error.message) <= 400, error
        assert not Student.objects.exists()
