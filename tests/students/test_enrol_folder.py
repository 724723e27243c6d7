"""`enrol_folder` on real photos. The command waits for the embeddings, so these tests commit
(transactional_db): the embedding task then runs in-process as soon as each photo is stored."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from students.models import Student, StudentPhoto
from tests.faces import FACES
from tests.students.builders import files_under

pytestmark = pytest.mark.usefixtures("transactional_db")

TWO_FACES = "2 faces found: upload a photo of one person."
CONSENT = "Consent to face recognition is not recorded for this student; record it, then re-check the photo."


def enrol_folder(folder: Path, *options: str) -> tuple[str, str]:
    """Run the command; (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("enrol_folder", str(folder), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def make_folder(root: Path, photos: dict[str, list[str]], csv: str | None = None) -> Path:
    """root/<number>/<photos copied from ../shared/faces>, and students.csv if given."""
    for number, relatives in photos.items():
        (root / number).mkdir(parents=True)
        for relative in relatives:
            shutil.copy(FACES / relative, root / number / Path(relative).name)
    if csv is not None:
        (root / "students.csv").write_text(csv)
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two students with good photos, one also with a photo of two people, and one file that is no image."""
    root = make_folder(
        tmp_path / "class",
        {
            "S001": ["enroll/obama/obama.jpg"],
            "S002": ["enroll/biden/biden2.jpg", "probe/two_people.jpg"],
        },
        csv="number,first_name,last_name,email\nS001,Barack,Obama,barack@example.com\nS002,Joe,Biden,\n",
    )
    (root / "S002" / "notes.jpg").write_text("not a photo")
    (root / "S002" / "notes.txt").write_text("ignored: not an image name")
    return root


def test_enrols_the_folder_with_names_from_the_csv_and_lists_what_needs_a_look(folder: Path, media_root: Path) -> None:
    out, _ = enrol_folder(folder, "--consent-given")

    assert out.splitlines()[0] == (
        "Students created: 2. Photos ready: 2, to review: 0, rejected: 1, failed: 0, refused: 1, already enrolled: 0."
    )
    rejected = StudentPhoto.objects.get(status=StudentPhoto.Status.REJECTED)
    assert f"  rejected: S002 (photo {rejected.pk}): {TWO_FACES}" in out.splitlines()
    assert "  refused: S002/notes.jpg: The file is not a JPEG, PNG or WebP image." in out.splitlines()
    assert StudentPhoto.objects.filter(status=StudentPhoto.Status.READY).count() == 2
    assert rejected.student.student_number == "S002"
    assert len(files_under(media_root)) == 3  # rejected photos are kept for the admin to see
    students = {s.student_number: (s.first_name, s.last_name, s.email) for s in Student.objects.all()}
    assert students == {"S001": ("Barack", "Obama", "barack@example.com"), "S002": ("Joe", "Biden", "")}
    assert Student.objects.filter(consent_given_at__isnull=False).count() == 2


def test_without_consent_no_photo_is_embedded_and_the_summary_says_why(folder: Path, media_root: Path) -> None:
    out, _ = enrol_folder(folder)

    assert out.splitlines()[0] == (
        "Students created: 2. Photos ready: 0, to review: 0, rejected: 3, failed: 0, refused: 1, already enrolled: 0."
    )
    assert sorted(line for line in out.splitlines() if line.startswith("  rejected: ")) == sorted(
        f"  rejected: {p.student.student_number} (photo {p.pk}): {CONSENT}" for p in StudentPhoto.objects.all()
    )
    assert not StudentPhoto.objects.filter(embedding__isnull=False).exists()
    assert not Student.objects.filter(consent_given_at__isnull=False).exists()
    assert len(files_under(media_root)) == 3  # kept, to embed once consent is recorded


def test_running_it_again_adds_nothing_twice(folder: Path, media_root: Path) -> None:
    enrol_folder(folder)
    photos = set(StudentPhoto.objects.values_list("pk", "status"))

    out, _ = enrol_folder(folder)

    assert out.splitlines()[0] == (
        "Students created: 0. Photos ready: 0, to review: 0, rejected: 0, failed: 0, refused: 1, already enrolled: 3."
    )
    assert Student.objects.count() == 2
    assert set(StudentPhoto.objects.values_list("pk", "status")) == photos
    assert len(files_under(media_root)) == 3


def test_consent_given_records_consent_also_for_students_already_enrolled(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a", {"S001": ["enroll/obama/obama.jpg"]})
    enrol_folder(folder)
    assert Student.objects.get(student_number="S001").consent_given_at is None
    assert StudentPhoto.objects.get().reason == CONSENT
    make_folder(tmp_path / "a", {"S002": ["enroll/biden/biden2.jpg"]})

    enrol_folder(folder, "--consent-given")

    assert Student.objects.filter(consent_given_at__isnull=False).count() == 2
    # The photo that waited for consent is embedded once it is recorded.
    assert set(StudentPhoto.objects.values_list("student__student_number", "status")) == {
        ("S001", "ready"),
        ("S002", "ready"),
    }


def test_folder_names_are_student_numbers_without_a_csv(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a", {"obama": ["enroll/obama/obama.jpg"]})

    enrol_folder(folder)

    student = Student.objects.get()
    assert (student.student_number, student.first_name, student.last_name) == ("obama", "", "")
    assert student.full_name == "obama"


def test_a_folder_name_too_long_for_a_student_number_is_skipped(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a", {"x" * 33: ["enroll/obama/obama.jpg"], "S001": ["enroll/biden/biden2.jpg"]})

    out, err = enrol_folder(folder, "--consent-given")

    assert f"Skipped {'x' * 33}: a student number has at most 32 characters." in err
    assert list(Student.objects.values_list("student_number", flat=True)) == ["S001"]
    assert out.startswith("Students created: 1. Photos ready: 1,")


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=re.escape(f"{tmp_path / 'missing'} is not a folder.")):
        enrol_folder(tmp_path / "missing")


def test_a_folder_without_student_folders(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "photo.jpg").write_bytes(b"")

    with pytest.raises(CommandError, match="has no sub-folders; expected one folder per student number"):
        enrol_folder(tmp_path / "flat")


def test_a_csv_without_the_expected_columns_stops_before_anything_is_stored(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a", {"S001": ["enroll/obama/obama.jpg"]}, csv="id,name\nS001,Barack Obama\n")

    with pytest.raises(CommandError, match="missing column"):
        enrol_folder(folder)

    assert not Student.objects.exists()
