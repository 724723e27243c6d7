"""Enrolling students in a course from a CSV file of student numbers: preview, then apply.

The file has a header row with `student_number` and optionally `start_date` and `end_date`
(YYYY-MM-DD), then one student per line; UTF-8 with or without a byte order mark, commas (or
semicolons, as some spreadsheets save them). An empty date keeps what an existing enrolment has;
a new enrolment starts today and has no end unless the file says otherwise.

`enrolment_csv_preview` only reads: whatever the bytes are, every problem becomes a `LineError`
(line 0 when it concerns the whole file) and nothing is raised. `enrolment_csv_apply` writes
what a preview without errors found, in one transaction. Reading the file and its limits
(MAX_BYTES, MAX_ROWS) are config/csv_import.py's, shared with the students import.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from attendance.models import Course, Enrollment, validate_supported_date
from config.csv_import import MAX_BYTES as MAX_BYTES  # the limits, for the callers of this module
from config.csv_import import MAX_ROWS as MAX_ROWS
from config.csv_import import (
    CsvFileError,
    LineError,
    chunks,
    column_names,
    csv_lines,
    header_found,
    refuse_duplicate_columns,
    shown,
)
from config.web import ApplicationError
from students.models import Student
from students.student_import import students_by_number

COLUMNS = ("student_number", "start_date", "end_date")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class EnrolmentLine:
    """One student of the file and the dates their enrolment will have (and had, if it exists)."""

    line: int
    student_id: int
    student_number: str
    student_name: str
    start_date: datetime.date
    end_date: datetime.date | None
    old_start_date: datetime.date | None = None
    old_end_date: datetime.date | None = None


@dataclass
class EnrolmentPreview:
    """What applying the file would do: enrolments to create, dates to change, and what is wrong."""

    to_add: list[EnrolmentLine] = field(default_factory=list)
    to_update: list[EnrolmentLine] = field(default_factory=list)
    unchanged: list[EnrolmentLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    course_id: int | None = None

    @property
    def changes(self) -> list[tuple[int, datetime.date, datetime.date | None]]:
        return [(line.student_id, line.start_date, line.end_date) for line in self.to_add + self.to_update]


@dataclass(frozen=True)
class _Row:
    line: int
    student_number: str
    start_date: datetime.date | None
    end_date: datetime.date | None


def enrolment_csv_preview(*, course: Course, data: bytes) -> EnrolmentPreview:
    """Parse and check a CSV file of enrolments against the course; changes nothing."""
    preview = EnrolmentPreview(course_id=course.pk)
    try:
        lines = csv_lines(bytes(data), needs="student_number", columns=_columns)
    except CsvFileError as exc:
        preview.errors.append(exc.error)
        return preview

    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    for line, values, too_many in lines:
        number = values.get("student_number", "")
        if too_many:
            preview.errors.append(LineError(line, "The line has more values than the header line has columns."))
            continue
        if not number:
            preview.errors.append(LineError(line, "The student number is empty."))
            continue
        if number in first_line:
            preview.errors.append(
                LineError(line, f"Student number {shown(number)} is already on line {first_line[number]}.")
            )
            continue
        first_line[number] = line
        start_date, end_date = csv_date(values, "start_date", line), csv_date(values, "end_date", line)
        if isinstance(start_date, LineError) or isinstance(end_date, LineError):
            preview.errors.extend(error for error in (start_date, end_date) if isinstance(error, LineError))
            continue
        rows.append(_Row(line, number, start_date, end_date))

    students = students_by_number([row.student_number for row in rows])
    enrolments = {enrolment.student_id: enrolment for enrolment in Enrollment.objects.filter(course=course)}
    today = timezone.localdate()
    for row in rows:
        student = students.get(row.student_number)
        if student is None:
            preview.errors.append(LineError(row.line, f"Unknown student number {shown(row.student_number)}."))
            continue
        existing = enrolments.get(student.pk)
        if existing is None:
            start, end = row.start_date or today, row.end_date
            why = "" if row.start_date else " (today, as the line has no start date)"
        else:
            start = row.start_date or existing.start_date
            end = row.end_date if row.end_date is not None else existing.end_date
            kept = [label for label, given in (("start", row.start_date), ("end", row.end_date)) if given is None]
            why = f" (an empty {' and '.join(kept)} date keeps the current one)" if kept else ""
        if end is not None and end < start:
            preview.errors.append(
                LineError(
                    row.line, f"The end date {end.isoformat()} is before the start date {start.isoformat()}{why}."
                )
            )
            continue
        result = EnrolmentLine(
            line=row.line,
            student_id=student.pk,
            student_number=student.student_number,
            student_name=student.full_name,
            start_date=start,
            end_date=end,
            old_start_date=existing.start_date if existing else None,
            old_end_date=existing.end_date if existing else None,
        )
        if existing is None:
            preview.to_add.append(result)
        elif (existing.start_date, existing.end_date) == (start, end):
            preview.unchanged.append(result)
        else:
            preview.to_update.append(result)
    preview.errors.sort(key=lambda error: error.line)
    return preview


def enrolment_csv_apply(*, course: Course, preview: EnrolmentPreview) -> int:
    """Create and change the enrolments of a preview without errors, all or nothing.

    Returns how many enrolments were created or had their dates changed. Students deleted since
    the preview are skipped.
    """
    if preview.errors:
        raise ApplicationError(
            f"The file has {len(preview.errors)} error(s); correct them and upload it again. Nothing was changed."
        )
    if preview.course_id is not None and preview.course_id != course.pk:
        raise ApplicationError("This preview was made for another course.")
    wanted = {line.student_id: (line.start_date, line.end_date) for line in [*preview.to_add, *preview.to_update]}
    if not wanted:
        return 0
    try:
        with transaction.atomic():
            # One import per course at a time.
            Course.objects.select_for_update().filter(pk=course.pk).first()
            existing = {e.student_id: e for e in Enrollment.objects.select_for_update().filter(course=course)}
            alive: set[int] = set()
            for chunk in chunks(list(wanted)):
                alive.update(Student.objects.filter(pk__in=chunk).values_list("pk", flat=True))
            created: list[Enrollment] = []
            changed: list[Enrollment] = []
            for student_id, (start, end) in wanted.items():
                if student_id not in alive:
                    continue
                enrolment = existing.get(student_id)
                if enrolment is None:
                    created.append(Enrollment(course=course, student_id=student_id, start_date=start, end_date=end))
                elif (enrolment.start_date, enrolment.end_date) != (start, end):
                    enrolment.start_date, enrolment.end_date = start, end
                    changed.append(enrolment)
            Enrollment.objects.bulk_create(created, batch_size=500)
            Enrollment.objects.bulk_update(changed, ["start_date", "end_date"], batch_size=500)
    except IntegrityError:
        # Somebody enrolled one of these students at the same moment (on the course page).
        raise ApplicationError(
            "The course's enrolments changed while the file was being applied; upload it again."
        ) from None
    return len(created) + len(changed)


def _columns(line: int, header: list[str]) -> list[str]:
    """The header's column names; empty names are ignored."""
    columns = column_names(header)
    unknown = [name for name in columns if name and name not in COLUMNS]
    if "student_number" not in columns or unknown:
        raise CsvFileError(
            line,
            f"The first line must be a header with the columns student_number and optionally start_date and "
            f"end_date; found {header_found(header)}.",
        )
    refuse_duplicate_columns(line, columns)
    return columns


def csv_date(values: dict[str, str], column: str, line: int) -> datetime.date | LineError | None:
    """The line's date in `column` (YYYY-MM-DD, one the app supports); None when empty."""
    raw = values.get(column, "")
    if not raw:
        return None
    label = column.replace("_", " ")
    if _DATE.fullmatch(raw):
        try:
            day = datetime.date.fromisoformat(raw)
            validate_supported_date(day)
        except ValidationError as exc:
            return LineError(line, f"The {label} {shown(raw)}: {exc.messages[0]}")
        except ValueError:
            pass
        else:
            return day
    return LineError(line, f"The {label} {shown(raw)} is not a date in the form YYYY-MM-DD.")
