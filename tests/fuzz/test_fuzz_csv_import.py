"""Fuzzed CSV files at the roster import: the preview never raises and changes nothing, and applying
it either enrols exactly what it showed or raises ApplicationError and changes nothing.

Each case runs in a savepoint that is rolled back, so every case starts from the same enrolments.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from hypothesis import given, note, settings

from attendance.enrolment_import import EnrolmentPreview, enrolment_csv_apply, enrolment_csv_preview
from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from config.web import ApplicationError
from students.models import Student
from tests.fuzz.plugin import Budget, Tally, outcome_of
from tests.fuzz.strategies import Fuzzed, csv_files

pytestmark = pytest.mark.django_db

# S001 is the course fixture's student, enrolled since 2020-01-01; S002-S004 are enrolled too
# (S004 until mid-2030); the others are not enrolled yet.
NUMBERS = [f"S{index:03d}" for index in range(1, 13)]
ENROLLED_UNTIL = {"S002": None, "S003": None, "S004": datetime.date(2030, 6, 30)}


@pytest.fixture
def roster(course: Course) -> Course:
    for number in NUMBERS[1:]:
        student = Student.objects.create(student_number=number, first_name="Student", last_name=number)
        if number in ENROLLED_UNTIL:
            Enrollment.objects.create(
                course=course, student=student, start_date=datetime.date(2020, 1, 1), end_date=ENROLLED_UNTIL[number]
            )
    return course


def database_state() -> tuple[list[tuple[Any, ...]], ...]:
    """Every row the import could touch, in a stable order."""
    return tuple(
        list(model.objects.order_by("pk").values_list())
        for model in (Student, Course, Enrollment, ClassSession, AttendanceRecord)
    )


def lines_in(data: bytes) -> int:
    # The csv module starts a line at \n, \r and \r\n; counting both bounds it from above.
    return data.count(b"\n") + data.count(b"\r") + 1


def check_preview(preview: EnrolmentPreview, data: bytes) -> None:
    for error in preview.errors:
        assert isinstance(error.line, int) and 0 <= error.line <= lines_in(data), error
        message = error.message
        assert isinstance(message, str) and message[:1].isupper() and message.endswith("."), error
        # Values are cut short in messages: a huge line or cell does not make a huge message.
        assert len(message) <= 400, f"a {len(message):,}-character message: {message[:200]}…"
    for line in [*preview.to_add, *preview.to_update, *preview.unchanged]:
        assert line.student_number in NUMBERS
        assert line.end_date is None or line.end_date >= line.start_date


def check_applied(course: Course, preview: EnrolmentPreview, changed: int) -> None:
    assert changed == len(preview.to_add) + len(preview.to_update)
    enrolments = {
        e.student.student_number: e for e in Enrollment.objects.filter(course=course).select_related("student")
    }
    for line in [*preview.to_add, *preview.to_update, *preview.unchanged]:
        enrolment = enrolments[line.student_number]
        assert (enrolment.start_date, enrolment.end_date) == (line.start_date, line.end_date)


def test_fuzzed_roster_files_are_previewed_without_changes_and_applied_all_or_nothing(
    roster: Course,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    @fuzz_settings(fuzz_budget.csv)
    @given(fuzzed=csv_files(NUMBERS))
    def import_file(fuzzed: Fuzzed) -> None:
        note(repr(fuzzed))
        with transaction.atomic():
            before = database_state()

            preview = enrolment_csv_preview(course=roster, data=fuzzed.data)

            assert database_state() == before
            check_preview(preview, fuzzed.data)
            if fuzzed.kind == "valid":
                assert preview.errors == [], preview.errors
            if preview.errors:
                with pytest.raises(ApplicationError, match=r"^The file has \d+ error"):
                    enrolment_csv_apply(course=roster, preview=preview)
                assert database_state() == before
                outcome = f"refused, first error: {outcome_of(preview.errors[0].message)}"
            else:
                changed = enrolment_csv_apply(course=roster, preview=preview)
                check_applied(roster, preview, changed)
                outcome = "applied" if changed else "applied, nothing to change"
            target.record(injected=fuzzed.faults, outcome=outcome)
            transaction.set_rollback(True)

    with fuzz_tally.target("CSV roster import (enrolment_csv_preview / _apply)") as target:
        import_file()
