"""Students from a CSV file (students.csv): the one definition of its columns and rules, read by
`enrol_folder` and by the admin's students import (preview, then apply).

The header line has the columns number, first_name, last_name and email (in any order; "First
name" is first_name), then one student per line. Only the number is needed on a line; the other
values are checked against the model's limits, and an empty one keeps what an existing student
has. Reading and its limits (1 MB, 5,000 lines, UTF-8) are config/csv_import.py's.

`students_csv_preview` only reads, and turns every problem into a `LineError`; `students_csv_apply`
creates and changes the students of a preview without errors, in one transaction. Applying the
same file again changes nothing. Consent is never set here: it is recorded (and withdrawn) only
through students/consent.py.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.csv_import import (
    CsvFileError,
    LineError,
    chunks,
    column_names,
    csv_lines,
    refuse_duplicate_columns,
    rows_by,
    shown,
)
from config.web import ApplicationError
from students.models import Student

COLUMNS = ("number", "first_name", "last_name", "email")
FIELDS = ("first_name", "last_name", "email")
LABELS = {"number": "student number", "first_name": "first name", "last_name": "last name", "email": "email"}
MAX_LENGTHS = {
    "number": Student._meta.get_field("student_number").max_length or 0,
    "first_name": Student._meta.get_field("first_name").max_length or 0,
    "last_name": Student._meta.get_field("last_name").max_length or 0,
    "email": Student._meta.get_field("email").max_length or 0,
}
STUDENT_NUMBER_MAX = MAX_LENGTHS["number"]


@dataclass(frozen=True)
class StudentRow:
    """A line of the file that passed the checks; an empty value says nothing."""

    line: int
    student_number: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class StudentLine:
    """A student of the file as they will be (and were, if they exist)."""

    line: int
    student_number: str
    first_name: str
    last_name: str
    email: str
    old_first_name: str = ""
    old_last_name: str = ""
    old_email: str = ""


@dataclass
class StudentPreview:
    """What applying the file would do: students to create, to change, and what is wrong."""

    to_create: list[StudentLine] = field(default_factory=list)
    to_update: list[StudentLine] = field(default_factory=list)
    unchanged: list[StudentLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def changes(self) -> list[tuple[str, str, str, str]]:
        return [
            (line.student_number, line.first_name, line.last_name, line.email)
            for line in self.to_create + self.to_update
        ]


def students_csv_read(data: bytes) -> tuple[list[StudentRow], list[LineError]]:
    """The file's good lines and the problems of the others (line 0: the file); reads no database."""
    try:
        lines = csv_lines(bytes(data), needs="number, first_name, last_name and email", columns=_columns)
    except CsvFileError as exc:
        return [], [exc.error]
    rows: list[StudentRow] = []
    errors: list[LineError] = []
    first_line: dict[str, int] = {}
    for line, values, too_many in lines:
        if too_many:
            errors.append(LineError(line, "The line has more values than the header line has columns."))
            continue
        # A short line leaves its last columns empty.
        values = {column: values.get(column, "") for column in COLUMNS}
        problems = [LineError(line, problem) for problem in _problems(values)]
        number = values["number"]
        if not problems and number in first_line:
            problems.append(LineError(line, f"Student number {shown(number)} is already on line {first_line[number]}."))
        if problems:
            errors.extend(problems)
            continue
        first_line[number] = line
        rows.append(StudentRow(line, number, values["first_name"], values["last_name"], values["email"]))
    return rows, errors


def students_csv_preview(*, data: bytes) -> StudentPreview:
    """Parse and check a students CSV file against the students there are; changes nothing."""
    rows, errors = students_csv_read(data)
    preview = StudentPreview(errors=errors)
    existing = students_by_number([row.student_number for row in rows])
    for row in rows:
        student = existing.get(row.student_number)
        if student is None:
            preview.to_create.append(
                StudentLine(row.line, row.student_number, row.first_name, row.last_name, row.email)
            )
            continue
        result = StudentLine(
            row.line,
            row.student_number,
            # An empty value keeps the student's own.
            first_name=row.first_name or student.first_name,
            last_name=row.last_name or student.last_name,
            email=row.email or student.email,
            old_first_name=student.first_name,
            old_last_name=student.last_name,
            old_email=student.email,
        )
        if all(getattr(result, name) == getattr(student, name) for name in FIELDS):
            preview.unchanged.append(result)
        else:
            preview.to_update.append(result)
    return preview


def students_csv_apply(*, preview: StudentPreview) -> tuple[list[Student], list[Student]]:
    """Create and change the students of a preview without errors, all or nothing; (created, changed).

    A student created since the preview is changed instead, keeping the values the file leaves empty.
    """
    if preview.errors:
        raise ApplicationError(
            f"The file has {len(preview.errors)} error(s); correct them and upload it again. Nothing was changed."
        )
    wanted = {line.student_number: line for line in preview.to_create + preview.to_update}
    if not wanted:
        return [], []
    now = timezone.now()
    try:
        with transaction.atomic():
            existing: dict[str, Student] = {}
            for chunk in chunks(list(wanted)):
                existing.update(
                    (student.student_number, student)
                    for student in Student.objects.select_for_update().filter(student_number__in=chunk)
                )
            created: list[Student] = []
            changed: list[Student] = []
            for number, line in wanted.items():
                student = existing.get(number)
                if student is None:
                    created.append(
                        Student(
                            student_number=number,
                            first_name=line.first_name,
                            last_name=line.last_name,
                            email=line.email,
                        )
                    )
                    continue
                values = {name: getattr(line, name) or getattr(student, name) for name in FIELDS}
                if any(getattr(student, name) != value for name, value in values.items()):
                    for name, value in values.items():
                        setattr(student, name, value)
                    student.updated_at = now
                    changed.append(student)
            Student.objects.bulk_create(created, batch_size=500)
            Student.objects.bulk_update(changed, [*FIELDS, "updated_at"], batch_size=500)
    except IntegrityError:
        # Somebody added one of these students at the same moment (on the student page).
        raise ApplicationError("Students were added while the file was being applied; upload it again.") from None
    return created, changed


def _columns(line: int, header: list[str]) -> list[str]:
    """The header's column names: all four, no other (a column the import would ignore, such as
    consent, would look imported)."""
    columns = column_names(header)
    missing = [name for name in COLUMNS if name not in columns]
    unknown = [shown(cell.strip()) for cell, name in zip(header, columns, strict=True) if name and name not in COLUMNS]
    if missing or unknown:
        problems = [f"missing column(s) {', '.join(missing)}"] if missing else []
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown[:5])}" + (" and more" if len(unknown) > 5 else ""))
        raise CsvFileError(
            line,
            f"The first line must be a header with the columns number, first_name, last_name and email; "
            f"{'; '.join(problems)}.",
        )
    refuse_duplicate_columns(line, columns)
    return columns


def _problems(values: dict[str, str]) -> list[str]:
    """What is wrong with a line's values, each in a sentence."""
    problems: list[str] = []
    if not values["number"]:
        problems.append("The student number is empty.")
    for column in COLUMNS:
        value, label = values[column], LABELS[column]
        if any(unicodedata.category(char) == "Cc" for char in value):
            problems.append(f"The {label} contains a control character (such as a line break or a tab).")
        elif len(value) > MAX_LENGTHS[column]:
            problems.append(f"The {label} {shown(value)} is longer than {MAX_LENGTHS[column]} characters.")
        elif column == "email" and value:
            try:
                validate_email(value)
            except ValidationError:
                problems.append(f"The email {shown(value)} is not a valid email address.")
    return problems


def students_by_number(numbers: list[str]) -> dict[str, Student]:
    """The students with these numbers (a file may have thousands)."""
    # Longer strings cannot be a student number: no need to send them to the database.
    return rows_by(
        Student.objects.all(), "student_number", [number for number in numbers if len(number) <= STUDENT_NUMBER_MAX]
    )
