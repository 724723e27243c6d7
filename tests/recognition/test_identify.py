"""Who is in each real photo: the five people of ../shared/faces/enroll/ enrolled with `enrol_folder`,
then `identify` run on the photos whose expected people are in manifest.json.

Enrolment runs once for this module (it costs a few seconds of inference) and is committed, so
every test here sees the same students; each test still runs in its own transaction.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from attendance.models import Course, Enrollment
from students.models import StudentPhoto
from tests.faces import FACES, faces_enrolled, manifest

MAYBE_OBAMA = "obama or unknown"
PEOPLE = sorted(name for name in manifest()["enroll"])


def expected_photos() -> dict[str, list[str]]:
    """Photo -> the people in it ("unknown" for each stranger), for probe/, edge/ and distractors/."""
    expected: dict[str, list[str]] = {}
    for section in ("probe", "edge"):
        expected |= {relative: people for relative, people in manifest()[section].items() if relative != "about"}
    expected |= {relative: ["unknown"] for relative in manifest()["distractors"]["files"]}
    return expected


EXPECTED = expected_photos()


def identify(*paths: Path, course: str | None = None) -> dict[str, dict[str, Any]]:
    """Run the command; its JSON lines by image path."""
    out = io.StringIO()
    options = {"course": course} if course else {}
    call_command("identify", *[str(path) for path in paths], stdout=out, **options)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    return {result["image"]: result for result in results}


def found(result: dict[str, Any]) -> list[str]:
    return sorted(face["student_number"] for face in result["faces"] if face["student_number"] is not None)


@pytest.fixture(scope="module")
def enrolled(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """The five people enrolled (folder names as student numbers); {student number: id}."""
    with faces_enrolled(django_db_blocker, tmp_path_factory.mktemp("media")) as ids:
        yield ids


@pytest.fixture(scope="module")
def results(enrolled: dict[str, int], django_db_blocker: Any) -> dict[str, dict[str, Any]]:
    """`identify` run once on every photo with expected results."""
    with django_db_blocker.unblock():
        by_path = identify(*(FACES / relative for relative in EXPECTED))
    return {str(Path(path).relative_to(FACES)): result for path, result in by_path.items()}


def test_every_enrolment_photo_is_ready(enrolled: dict[str, int], db: None) -> None:
    assert sorted(enrolled) == PEOPLE
    photos = StudentPhoto.objects.filter(student__student_number__in=PEOPLE)
    assert photos.count() == sum(len(paths) for paths in manifest()["enroll"].values())
    assert set(photos.values_list("status", flat=True)) == {StudentPhoto.Status.READY}


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_exactly_the_expected_people_are_found(relative: str, results: dict[str, dict[str, Any]], db: None) -> None:
    result = results[relative]
    expected = [person for person in EXPECTED[relative] if person != "unknown"]

    assert "error" not in result
    # Every name given, so nobody else in the picture has one and no name is given twice.
    people = found(result)
    if expected == [MAYBE_OBAMA]:
        assert people in (["obama"], [])
    else:
        assert people == sorted(expected), result
    if "unknown" in EXPECTED[relative]:
        # The strangers were seen, and stayed unknown.
        assert len(result["faces"]) > len(people), result


def test_nobody_is_found_among_strangers(results: dict[str, dict[str, Any]], db: None) -> None:
    strangers = [*manifest()["distractors"]["files"], "probe/multiface.jpg"]

    assert {relative: found(results[relative]) for relative in strangers} == {relative: [] for relative in strangers}
    assert len(results["probe/multiface.jpg"]["faces"]) == 6


def test_each_face_has_a_box_probability_and_distance(results: dict[str, dict[str, Any]], db: None) -> None:
    [biden, obama] = sorted(results["probe/two_people.jpg"]["faces"], key=lambda face: face["student_number"])

    assert obama["student_number"] == "obama"
    assert biden["student_number"] == "biden"
    for face in (obama, biden):
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= 1126
        assert 0 <= y1 < y2 <= 661
        assert face["probability"] > 0.9
        assert 0 < face["distance"] < 1.0


def make_course(code: str, *students: int) -> Course:
    course = Course.objects.create(code=code, name=code)
    for student_id in students:
        Enrollment.objects.create(course=course, student_id=student_id, start_date=datetime.date(2020, 1, 1))
    return course


def test_course_restricts_matching_to_its_students(enrolled: dict[str, int], db: None) -> None:
    make_course("POL101", enrolled["obama"])
    path = FACES / "probe/two_people.jpg"

    result = identify(path, course="POL101")[str(path)]

    assert found(result) == ["obama"]
    assert len(result["faces"]) == 2  # Biden is still seen, but is not in this course


def test_a_course_without_students_knows_nobody(db: None, enrolled: dict[str, int]) -> None:
    make_course("EMPTY1")
    path = FACES / "probe/obama_and_biden.jpg"

    result = identify(path, course="EMPTY1")[str(path)]

    assert found(result) == []
    assert result["faces"]


def test_an_unknown_course_is_an_error(db: None, enrolled: dict[str, int]) -> None:
    with pytest.raises(CommandError, match=r"No course with code 'NOPE'\."):
        identify(FACES / "probe/obama1.jpg", course="NOPE")


def test_an_unreadable_image_is_reported_and_the_others_still_identified(
    db: None, enrolled: dict[str, int], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    photo = FACES / "probe/obama1.jpg"

    results = identify(notes, tmp_path / "missing.jpg", photo)

    assert results[str(notes)]["error"] == "The file is not a JPEG, PNG or WebP image."
    assert "No such file" in results[str(tmp_path / "missing.jpg")]["error"]
    assert found(results[str(photo)]) == ["obama"]
