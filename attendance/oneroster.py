"""Rosters from the school's information system: a OneRoster 1.1 CSV bundle read, planned against
the database (preview), then applied.

The bundle is users.csv, classes.csv, enrollments.csv, and courses.csv, academicSessions.csv and
manifest.csv when present, uploaded as one .zip or as the files themselves (`bundle_read`, which
bounds the zip: its size, its number of entries, what it holds uncompressed; other files are
ignored). Each CSV file is read by config/csv_import.py, with its limits (1 MB, 5,000 lines).

What becomes what, matched by sourcedId first:

- a user with role student is a Student: the number is `identifier`, else `username`, else the
  sourcedId; a student without a sourcedId who has that number is linked to it. A user with role
  teacher is a Django user (not staff, without a usable password: the school sets one) with a
  TeacherRosterId; a user with that username and no sourcedId is linked. Other roles are skipped.
- a class is a Course: the code is `classCode`, else its courses.csv `courseCode`, else the
  sourcedId, cut to 32 characters and given a suffix (-2, -3...) when another course has it; a
  course without a sourcedId that has that code is linked. The name is the title.
- an enrolment with role student is an Enrollment from `beginDate` to `endDate`, else the dates
  of the class's terms (academicSessions.csv), else (new) from today with no end, or (existing)
  the dates it has; role teacher makes the user a teacher of the course.
- status tobedeleted: an enrolment ends today (on its start date if it has not started), a
  teacher leaves the course (a teacher user leaves every course imported from the roster), a
  student is deactivated (what follows from that is the usual rule for inactive students); a class
  is not created, and an existing course is kept with its history.

An empty name or email keeps what the person has. Consent is never touched. `roster_preview`
only reads and turns every problem into a `RosterLine` error naming the file and the line;
`roster_apply` writes a preview without errors in one transaction. Applying the same bundle again
changes nothing.
"""

from __future__ import annotations

import datetime
import io
import json
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TypeVar

from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from attendance.enrolment_import import csv_date
from attendance.exports import FORMULA_PREFIXES
from attendance.models import Course, Enrollment, TeacherRosterId
from config.csv_import import (
    MAX_BYTES,
    CsvFileError,
    CsvLine,
    LineError,
    chunks,
    csv_lines,
    header_found,
    refuse_duplicate_columns,
    rows_by,
    shown,
)
from config.web import ApplicationError
from students.models import Student

USERS, CLASSES, COURSES, ENROLLMENTS, SESSIONS, MANIFEST = (
    "users.csv",
    "classes.csv",
    "courses.csv",
    "enrollments.csv",
    "academicSessions.csv",
    "manifest.csv",
)
FILE_NAMES = (USERS, CLASSES, COURSES, ENROLLMENTS, SESSIONS, MANIFEST)
# A zip or the files together, as uploaded; and what the known files may hold once uncompressed.
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_BUNDLE_BYTES = 4 * MAX_BYTES
MAX_ZIP_ENTRIES = 50

USER_ROLES = ("administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher")
ENROLMENT_ROLES = ("administrator", "aide", "proctor", "student", "teacher")
STATUSES = ("active", "tobedeleted")
SOURCED_ID_MAX = 255
NUMBER_MAX = Student._meta.get_field("student_number").max_length or 0
NAME_MAX = Student._meta.get_field("first_name").max_length or 0
CODE_MAX = Course._meta.get_field("code").max_length or 0
TITLE_MAX = Course._meta.get_field("name").max_length or 0
USERNAME_MAX = User._meta.get_field("username").max_length or 0

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)


class BundleError(Exception):
    """What is wrong with the upload as a whole."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RosterLine(LineError):
    """A problem (or a note) on one line of one file of the bundle (line 0: the file, or the bundle)."""

    file: str = ""


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]  # by the specification's file name
    ignored: tuple[str, ...] = ()  # the other files' names


# --- The upload -----------------------------------------------------------------------------


def bundle_read(uploads: Sequence[tuple[str, bytes]]) -> Bundle:
    """The bundle of one .zip upload or of CSV files uploaded together; raises BundleError."""
    if not uploads:
        raise BundleError("Choose the bundle's .zip file, or its CSV files.")
    if sum(len(data) for _, data in uploads) > MAX_UPLOAD_BYTES:
        raise BundleError(f"The upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    zips = [
        (name, data) for name, data in uploads if name.lower().endswith(".zip") or zipfile.is_zipfile(io.BytesIO(data))
    ]
    if zips and len(uploads) > 1:
        raise BundleError("Upload either the bundle's .zip file or its CSV files, not both.")
    if zips:
        return _bundle_from_zip(zips[0][1])
    return _bundle_from(uploads)


def _bundle_from_zip(data: bytes) -> Bundle:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = [entry for entry in archive.infolist() if not entry.is_dir()]
            if len(entries) > MAX_ZIP_ENTRIES:
                raise BundleError(f"The zip file holds more than {MAX_ZIP_ENTRIES} files; a bundle has at most six.")
            known = [entry for entry in entries if _known_name(entry.filename)]
            for entry in known:
                if entry.file_size > MAX_BYTES:
                    raise BundleError(f"{_known_name(entry.filename)} is larger than {MAX_BYTES // (1024 * 1024)} MB.")
            if sum(entry.file_size for entry in known) > MAX_BUNDLE_BYTES:
                raise BundleError(
                    f"The bundle's files are larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB together."
                )
            files: list[tuple[str, bytes]] = []
            for entry in entries:
                if not _known_name(entry.filename):
                    files.append((entry.filename, b""))
                    continue
                with archive.open(entry) as member:
                    # Read no more than allowed, whatever the entry's header claims.
                    content = member.read(MAX_BYTES + 1)
                if len(content) > MAX_BYTES:
                    raise BundleError(f"{_known_name(entry.filename)} is larger than {MAX_BYTES // (1024 * 1024)} MB.")
                files.append((entry.filename, content))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
        raise BundleError("The file is not a zip file that can be read (or it is damaged).") from None
    except (RuntimeError, NotImplementedError):
        # Encrypted, or compressed by a method zipfile does not know.
        raise BundleError("The zip file is encrypted or compressed in a way that cannot be read.") from None
    return _bundle_from(files)


def _known_name(path: str) -> str | None:
    """The specification's name of a file of the bundle (in any folder, in any case), or None."""
    name = PurePosixPath(path.replace("\\", "/")).name
    by_lower = {known.lower(): known for known in FILE_NAMES}
    return by_lower.get(name.lower())


def _bundle_from(uploads: Iterable[tuple[str, bytes]]) -> Bundle:
    files: dict[str, bytes] = {}
    ignored: list[str] = []
    for path, data in uploads:
        name = _known_name(path)
        if name is None:
            ignored.append(PurePosixPath(path.replace("\\", "/")).name[:100])
            continue
        if name in files:
            raise BundleError(f"The bundle has {name} more than once.")
        files[name] = data
    if not any(name in files for name in (USERS, CLASSES, COURSES, ENROLLMENTS, SESSIONS)):
        raise BundleError(
            "The bundle has none of users.csv, classes.csv, courses.csv, enrollments.csv and academicSessions.csv."
        )
    return Bundle(files, tuple(sorted(ignored)))


def bundle_encode(bundle: Bundle) -> bytes:
    """The bundle as ASCII text (what the import page signs): any bytes, exactly."""
    files = {name: data.decode("latin-1") for name, data in bundle.files.items()}
    return json.dumps({"files": files, "ignored": list(bundle.ignored)}, sort_keys=True).encode("ascii")


def bundle_decode(data: bytes) -> Bundle:
    try:
        payload = json.loads(data)
        files = {str(name): str(text).encode("latin-1") for name, text in payload["files"].items()}
        ignored = tuple(str(name) for name in payload["ignored"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeError):
        raise BundleError("The bundle could not be read; upload it again.") from None
    if any(name not in FILE_NAMES for name in files):
        raise BundleError("The bundle could not be read; upload it again.")
    return Bundle(files, ignored)


# --- Reading the files ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...]


SPECS = {
    spec.name: spec
    for spec in (
        _Spec(
            USERS,
            (
                "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username",
                "userIds", "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
                "agentSourcedIds", "grades", "password",
            ),
            ("sourcedId", "role", "username", "givenName", "familyName"),
        ),
        _Spec(
            CLASSES,
            (
                "sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId", "classCode",
                "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods",
            ),
            ("sourcedId", "title"),
        ),
        _Spec(
            COURSES,
            (
                "sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title", "courseCode", "grades",
                "orgSourcedId", "subjects", "subjectCodes",
            ),
            ("sourcedId", "title"),
        ),
        _Spec(
            ENROLLMENTS,
            (
                "sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role", "status",
                "dateLastModified", "primary", "beginDate", "endDate",
            ),
            ("sourcedId", "classSourcedId", "userSourcedId", "role"),
        ),
        _Spec(
            SESSIONS,
            (
                "sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate",
                "parentSourcedId", "schoolYear",
            ),
            ("sourcedId", "startDate", "endDate"),
        ),
        _Spec(MANIFEST, ("propertyName", "value"), ("propertyName", "value")),
    )
}  # fmt: skip


def _header(spec: _Spec) -> Callable[[int, list[str]], list[str]]:
    """The header's column names, the specification's spelling for its columns (in any case);
    other columns (extensions) are read and ignored."""
    by_lower = {column.lower(): column for column in spec.columns}

    def columns(line: int, header: list[str]) -> list[str]:
        names = [by_lower.get(cell.strip().lower(), cell.strip()) for cell in header]
        missing = [column for column in spec.required if column not in names]
        if missing:
            raise CsvFileError(
                line,
                f"The header line needs the column(s) {', '.join(missing)} of OneRoster 1.1; "
                f"found {header_found(header)}.",
            )
        refuse_duplicate_columns(line, names)
        return names

    return columns


class _Values:
    """One line's values, checked as they are read; the problems gather in `problems`."""

    def __init__(self, line: CsvLine) -> None:
        self.line = line.line
        self.values = line.values
        self.problems: list[str] = (
            [] if not line.too_many else ["The line has more values than the header line has columns."]
        )

    def text(self, column: str, *, max_length: int = SOURCED_ID_MAX, required: bool = False) -> str:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.problems.append(f"The {column} is empty.")
        elif any(unicodedata.category(char) == "Cc" for char in value):
            self.problems.append(f"The {column} contains a control character (such as a line break or a tab).")
        elif len(value) > max_length:
            self.problems.append(f"The {column} {shown(value)} is longer than {max_length} characters.")
        else:
            return value
        return ""

    def sourced_id(self, column: str = "sourcedId") -> str:
        value = self.text(column, required=True)
        # The export hands these back in CSV; one a spreadsheet would run as a formula is refused.
        if value.startswith(FORMULA_PREFIXES):
            self.problems.append(f"The {column} {shown(value)} starts with {value[0]!r}.")
            return ""
        return value

    def choice(self, column: str, allowed: tuple[str, ...], *, default: str = "") -> str:
        value = self.text(column, required=not default).lower() or default
        if value and value not in allowed:
            self.problems.append(f"The {column} {shown(value)} is not one of {', '.join(allowed)}.")
            return ""
        return value

    def deleted(self) -> bool:
        return self.choice("status", STATUSES, default="active") == "tobedeleted"

    def email(self) -> str:
        value = self.text("email", max_length=Student._meta.get_field("email").max_length or 0)
        if value:
            try:
                validate_email(value)
            except ValidationError:
                self.problems.append(f"The email {shown(value)} is not a valid email address.")
                return ""
        return value

    def date(self, column: str) -> datetime.date | None:
        day = csv_date(self.values, column, self.line)
        if isinstance(day, LineError):
            self.problems.append(day.message)
            return None
        return day


@dataclass(frozen=True)
class _User:
    line: int
    sourced_id: str
    deleted: bool
    role: str
    username: str
    first_name: str
    last_name: str
    email: str
    identifier: str

    @property
    def student_number(self) -> str:
        return self.identifier or self.username or self.sourced_id


@dataclass(frozen=True)
class _Class:
    line: int
    sourced_id: str
    deleted: bool
    title: str
    class_code: str
    course_sourced_id: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class _CourseRow:
    line: int
    sourced_id: str
    code: str


@dataclass(frozen=True)
class _Enrolment:
    line: int
    sourced_id: str
    deleted: bool
    class_sourced_id: str
    user_sourced_id: str
    role: str
    begin: datetime.date | None
    end: datetime.date | None


@dataclass(frozen=True)
class _Term:
    line: int
    sourced_id: str
    start: datetime.date
    end: datetime.date


@dataclass
class _Parsed:
    users: list[_User] = field(default_factory=list)
    classes: list[_Class] = field(default_factory=list)
    courses: dict[str, _CourseRow] = field(default_factory=dict)
    enrolments: list[_Enrolment] = field(default_factory=list)
    terms: dict[str, _Term] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    # The sourcedIds of lines with errors: what refers to them is not reported again.
    broken: set[tuple[str, str]] = field(default_factory=set)


def _read_file(
    bundle: Bundle, name: str, errors: list[LineError], parsed: _Parsed, row: Callable[[_Values], T | None]
) -> list[T]:
    """A file's good lines as `row` makes them (None: the line has problems); duplicates refused."""
    if name not in bundle.files:
        return []
    parsed.present.add(name)
    try:
        lines = csv_lines(bundle.files[name], needs=", ".join(SPECS[name].required), columns=_header(SPECS[name]))
    except CsvFileError as exc:
        errors.append(RosterLine(exc.error.line, exc.error.message, name))
        return []
    rows: list[T] = []
    first_line: dict[str, int] = {}
    for line in lines:
        values = _Values(line)
        result = row(values)
        sourced_id = values.values.get("sourcedId", "")
        # What refers to a line with problems is not reported again (unless another line has its sourcedId).
        if (values.problems or result is None) and sourced_id and sourced_id not in first_line:
            parsed.broken.add((name, sourced_id))
        if sourced_id and sourced_id in first_line:
            values.problems.append(f"The sourcedId {shown(sourced_id)} is already on line {first_line[sourced_id]}.")
        if values.problems or result is None:
            errors.extend(RosterLine(line.line, problem, name) for problem in values.problems)
            continue
        first_line[sourced_id] = line.line
        rows.append(result)
    return rows


def _user(values: _Values) -> _User | None:
    user = _User(
        values.line,
        sourced_id=values.sourced_id(),
        deleted=values.deleted(),
        role=values.choice("role", USER_ROLES),
        username=values.text("username", max_length=USERNAME_MAX),
        first_name=values.text("givenName", max_length=NAME_MAX),
        last_name=values.text("familyName", max_length=NAME_MAX),
        email=values.email(),
        identifier=values.text("identifier", max_length=NUMBER_MAX),
    )
    if user.role == "teacher" and not user.deleted:
        if not user.username:
            values.problems.append("A teacher needs a username.")
        else:
            try:
                UnicodeUsernameValidator()(user.username)
            except ValidationError:
                values.problems.append(
                    f"The username {shown(user.username)} may have only letters, digits and @ . + - _."
                )
    if user.role == "student" and len(user.student_number) > NUMBER_MAX:
        values.problems.append(
            f"The student's number would be the sourcedId {shown(user.sourced_id)}, longer than {NUMBER_MAX} "
            "characters: give the student an identifier or a username."
        )
    return user


def _class(values: _Values) -> _Class:
    terms = values.text("termSourcedIds", max_length=MAX_BYTES)
    return _Class(
        values.line,
        sourced_id=values.sourced_id(),
        deleted=values.deleted(),
        title=values.text("title", max_length=TITLE_MAX, required=True),
        class_code=values.text("classCode"),
        course_sourced_id=values.text("courseSourcedId"),
        terms=tuple(term.strip() for term in terms.split(",") if term.strip()),
    )


def _course(values: _Values) -> _CourseRow:
    values.text("title", required=True, max_length=TITLE_MAX)
    return _CourseRow(values.line, values.sourced_id(), values.text("courseCode"))


def _enrolment(values: _Values) -> _Enrolment:
    enrolment = _Enrolment(
        values.line,
        sourced_id=values.sourced_id(),
        deleted=values.deleted(),
        class_sourced_id=values.sourced_id("classSourcedId"),
        user_sourced_id=values.sourced_id("userSourcedId"),
        role=values.choice("role", ENROLMENT_ROLES),
        begin=values.date("beginDate"),
        end=values.date("endDate"),
    )
    if enrolment.begin and enrolment.end and enrolment.end < enrolment.begin:
        values.problems.append(f"The endDate {enrolment.end} is before the beginDate {enrolment.begin}.")
    return enrolment


def _term(values: _Values) -> _Term | None:
    sourced_id, start, end = values.sourced_id(), values.date("startDate"), values.date("endDate")
    if start is None or end is None:
        if not values.problems:
            values.problems.append("The startDate and the endDate are needed.")
        return None
    if end < start:
        values.problems.append(f"The endDate {end} is before the startDate {start}.")
    return _Term(values.line, sourced_id, start, end)


def _manifest(values: _Values) -> tuple[str, str]:
    name, value = values.text("propertyName"), values.text("value")
    if name == "oneroster.version" and value != "1.1":
        values.problems.append(f"The bundle is OneRoster {shown(value)}; this import reads OneRoster 1.1.")
    return name, value


def _parse(bundle: Bundle, errors: list[LineError]) -> _Parsed:
    parsed = _Parsed()
    # Only the manifest's problems count: the files say what the bundle holds.
    _read_file(bundle, MANIFEST, errors, parsed, _manifest)
    parsed.users = _read_file(bundle, USERS, errors, parsed, _user)
    parsed.classes = _read_file(bundle, CLASSES, errors, parsed, _class)
    parsed.courses = {row.sourced_id: row for row in _read_file(bundle, COURSES, errors, parsed, _course)}
    parsed.enrolments = _read_file(bundle, ENROLLMENTS, errors, parsed, _enrolment)
    parsed.terms = {term.sourced_id: term for term in _read_file(bundle, SESSIONS, errors, parsed, _term)}
    return parsed


# --- The plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentPlan:
    action: str  # create, update, link, deactivate
    line: int
    sourced_id: str
    student_id: int | None
    student_number: str
    first_name: str
    last_name: str
    email: str
    was: str = ""  # what changes, as it was


@dataclass(frozen=True)
class TeacherPlan:
    action: str  # create, update, link
    line: int
    sourced_id: str
    user_id: int | None
    username: str
    first_name: str
    last_name: str
    email: str
    was: str = ""


@dataclass(frozen=True)
class CoursePlan:
    action: str  # create, update, link
    line: int
    sourced_id: str
    course_id: int | None
    code: str
    name: str
    was: str = ""


@dataclass(frozen=True)
class EnrolmentPlan:
    action: str  # create, update, link, end
    line: int
    sourced_id: str
    enrollment_id: int | None
    course_sourced_id: str
    course_code: str
    student_sourced_id: str
    student_number: str
    start_date: datetime.date
    end_date: datetime.date | None
    was: str = ""


@dataclass(frozen=True)
class TeachingPlan:
    action: str  # add, remove
    file: str
    line: int
    course_sourced_id: str
    course_code: str
    teacher_sourced_id: str
    username: str


Plan = TypeVar("Plan", StudentPlan, TeacherPlan, CoursePlan)
# The values a plan of each kind may change, compared with what the system has.
_COMPARED = {
    "students": ("student_number", "first_name", "last_name", "email"),
    "teachers": ("username", "first_name", "last_name", "email"),
    "courses": ("code", "name"),
}


@dataclass
class RosterPreview:
    """What applying the bundle would do, entity by entity, what it leaves as it is, and what is wrong."""

    students: list[StudentPlan] = field(default_factory=list)
    teachers: list[TeacherPlan] = field(default_factory=list)
    courses: list[CoursePlan] = field(default_factory=list)
    enrolments: list[EnrolmentPlan] = field(default_factory=list)
    teaching: list[TeachingPlan] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=dict)
    skipped: list[RosterLine] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def changes(self) -> list[object]:
        return [*self.students, *self.teachers, *self.courses, *self.enrolments, *self.teaching]

    @property
    def summary(self) -> list[tuple[str, str, int]]:
        """(what, the counts of its actions in words, unchanged) for each kind of thing."""
        kinds = (
            ("Students", "students", self.students),
            ("Teachers", "teachers", self.teachers),
            ("Courses", "courses", self.courses),
            ("Enrolments", "enrolments", self.enrolments),
            ("Teachers of courses", "teaching", self.teaching),
        )
        rows = []
        for label, key, plans in kinds:
            actions = Counter(plan.action for plan in plans)
            words = ", ".join(f"{count} to {action}" for action, count in actions.items()) or "nothing to change"
            rows.append((label, words, self.unchanged.get(key, 0)))
        return rows


def roster_preview(*, data: bytes) -> RosterPreview:
    """Read and check a bundle (`bundle_encode`'s bytes) against the database; changes nothing."""
    preview = RosterPreview()
    try:
        bundle = bundle_decode(data)
    except BundleError as exc:
        preview.errors.append(RosterLine(0, exc.message))
        return preview
    preview.ignored_files = list(bundle.ignored)
    parsed = _parse(bundle, preview.errors)
    _Planner(parsed, preview).plan()
    order = {name: index for index, name in enumerate(FILE_NAMES)}
    preview.errors.sort(key=lambda error: (order.get(getattr(error, "file", ""), -1), error.line))
    return preview


class _Planner:
    """Compares the parsed bundle with the database, filling the preview."""

    def __init__(self, parsed: _Parsed, preview: RosterPreview) -> None:
        self.parsed, self.preview = parsed, preview
        self.today = timezone.localdate()
        # sourcedId -> (student number or code or username) of what the plan leaves there.
        self.students: dict[str, str] = {}
        self.teachers: dict[str, str] = {}
        self.courses: dict[str, tuple[str, Course | None]] = {}
        # What the bundle's users are in the database (linked ones have no sourcedId there yet).
        self.matched_students: dict[str, Student] = {}
        self.matched_teachers: dict[str, User] = {}
        self.unchanged = {"students": 0, "teachers": 0, "courses": 0, "enrolments": 0, "teaching": 0}

    def error(self, file: str, line: int, message: str, *, sourced_id: str = "") -> None:
        self.preview.errors.append(RosterLine(line, message, file))
        if sourced_id:
            self.parsed.broken.add((file, sourced_id))

    def skip(self, file: str, line: int, message: str) -> None:
        self.preview.skipped.append(RosterLine(line, message, file))

    def plan(self) -> None:
        self.plan_students([user for user in self.parsed.users if user.role == "student"])
        self.plan_teachers([user for user in self.parsed.users if user.role == "teacher"])
        for user in self.parsed.users:
            if user.role not in ("student", "teacher"):
                self.skip(USERS, user.line, f"Role {user.role}: not imported.")
        self.plan_courses()
        self.plan_enrolments()
        self.preview.unchanged = self.unchanged

    # Students

    def plan_students(self, users: list[_User]) -> None:
        by_sid = rows_by(Student.objects.all(), "sourced_id", [user.sourced_id for user in users])
        by_number = rows_by(Student.objects.all(), "student_number", [user.student_number for user in users])
        first_line: dict[str, int] = {}
        for user in users:
            number = user.student_number
            student = by_sid.get(user.sourced_id)
            if user.deleted:
                if student is None:
                    self.skip(USERS, user.line, "Marked tobedeleted, and not in the system: nothing to deactivate.")
                    # Nor are their enrolments created.
                    self.parsed.broken.add((USERS, user.sourced_id))
                    continue
                if student.is_active:
                    self.preview.students.append(self._student("deactivate", user, student, was="active"))
                else:
                    self.unchanged["students"] += 1
                self.students[user.sourced_id] = student.student_number
                self.matched_students[user.sourced_id] = student
                continue
            if number in first_line:
                self.error(
                    USERS,
                    user.line,
                    f"The student number {shown(number)} is already on line {first_line[number]}.",
                    sourced_id=user.sourced_id,
                )
                continue
            first_line[number] = user.line
            holder = by_number.get(number)
            if student is None and holder is not None and holder.sourced_id is not None:
                self.error(
                    USERS,
                    user.line,
                    f"The student number {shown(number)} belongs to the student with the sourcedId "
                    f"{shown(holder.sourced_id)}.",
                    sourced_id=user.sourced_id,
                )
                continue
            if student is not None and holder is not None and holder.pk != student.pk:
                self.error(
                    USERS,
                    user.line,
                    f"The student number {shown(number)} belongs to another student ({holder}).",
                    sourced_id=user.sourced_id,
                )
                continue
            self.students[user.sourced_id] = number
            if student is None and holder is None:
                self.preview.students.append(self._student("create", user, None))
                continue
            current = student or holder
            assert current is not None
            self.matched_students[user.sourced_id] = current
            plan = self._student("update" if student else "link", user, current)
            self._add_plan("students", self.preview.students, plan, current)

    def _add_plan(self, kind: str, plans: list[Plan], plan: Plan, current: models.Model | None) -> None:
        """The plan, with the values it changes as they are (`was`); an update that changes nothing is
        counted as unchanged instead."""
        was = _was(current, plan, _COMPARED[kind]) if current is not None else ""
        if plan.action == "update" and not was:
            self.unchanged[kind] += 1
        else:
            plans.append(replace(plan, was=was))

    @staticmethod
    def _student(action: str, user: _User, student: Student | None, *, was: str = "") -> StudentPlan:
        if action == "deactivate" and student is not None:
            user = _User(user.line, user.sourced_id, True, "student", "", "", "", "", student.student_number)
        return StudentPlan(
            action=action,
            line=user.line,
            sourced_id=user.sourced_id,
            student_id=student.pk if student else None,
            student_number=user.student_number,
            **_names(user, student),
            was=was,
        )

    # Teachers

    def plan_teachers(self, users: list[_User]) -> None:
        rosters = rows_by(
            TeacherRosterId.objects.select_related("user"), "sourced_id", [user.sourced_id for user in users]
        )
        by_name = rows_by(
            User.objects.select_related("roster_id"), "username", [user.username for user in users if user.username]
        )
        first_line: dict[str, int] = {}
        for user in users:
            roster = rosters.get(user.sourced_id)
            if user.deleted:
                if roster is None:
                    self.skip(USERS, user.line, "Marked tobedeleted, and not in the system: nothing to remove.")
                    self.parsed.broken.add((USERS, user.sourced_id))
                else:
                    self._remove_teacher(user, roster.user)
                continue
            if user.username in first_line:
                self.error(
                    USERS,
                    user.line,
                    f"The username {shown(user.username)} is already on line {first_line[user.username]}.",
                    sourced_id=user.sourced_id,
                )
                continue
            first_line[user.username] = user.line
            holder = by_name.get(user.username)
            if holder is not None and (roster is None or holder.pk != roster.user_id):
                holder_roster = getattr(holder, "roster_id", None)
                if roster is not None or holder_roster is not None:
                    self.error(
                        USERS,
                        user.line,
                        f"The username {shown(user.username)} belongs to another teacher.",
                        sourced_id=user.sourced_id,
                    )
                    continue
            self.teachers[user.sourced_id] = user.username
            current = roster.user if roster else holder
            if current is None:
                self.preview.teachers.append(self._teacher("create", user, None))
                continue
            self.matched_teachers[user.sourced_id] = current
            plan = self._teacher("update" if roster else "link", user, current)
            self._add_plan("teachers", self.preview.teachers, plan, current)

    @staticmethod
    def _teacher(action: str, user: _User, current: User | None) -> TeacherPlan:
        return TeacherPlan(
            action=action,
            line=user.line,
            sourced_id=user.sourced_id,
            user_id=current.pk if current else None,
            username=user.username,
            **_names(user, current),
        )

    def _remove_teacher(self, user: _User, teacher: User) -> None:
        for course in teacher.courses_taught.filter(sourced_id__isnull=False).order_by("code"):
            self.preview.teaching.append(
                TeachingPlan(
                    "remove", USERS, user.line, course.sourced_id or "", course.code, user.sourced_id, teacher.username
                )
            )

    # Courses

    def plan_courses(self) -> None:
        classes = self.parsed.classes
        by_sid = rows_by(Course.objects.all(), "sourced_id", [row.sourced_id for row in classes])
        codes = dict(Course.objects.values_list("code", "sourced_id"))
        linked: set[str] = set()
        for row in classes:
            if (
                row.course_sourced_id
                and COURSES in self.parsed.present
                and row.course_sourced_id not in self.parsed.courses
            ):
                if (COURSES, row.course_sourced_id) not in self.parsed.broken:
                    self.error(
                        CLASSES,
                        row.line,
                        f"Unknown courseSourcedId {shown(row.course_sourced_id)}: not in courses.csv.",
                        sourced_id=row.sourced_id,
                    )
                continue
            unknown = [
                term
                for term in row.terms
                if term not in self.parsed.terms and (SESSIONS, term) not in self.parsed.broken
            ]
            if SESSIONS in self.parsed.present and unknown:
                self.error(
                    CLASSES,
                    row.line,
                    f"Unknown termSourcedIds {shown(unknown[0])}: not in academicSessions.csv.",
                    sourced_id=row.sourced_id,
                )
                continue
            course = by_sid.get(row.sourced_id)
            if row.deleted:
                if course is None:
                    self.skip(CLASSES, row.line, "Marked tobedeleted, and not in the system: not created.")
                    self.parsed.broken.add((CLASSES, row.sourced_id))
                else:
                    self.skip(CLASSES, row.line, f"Marked tobedeleted: {course.code} is kept with its history.")
                    self.courses[row.sourced_id] = (course.code, course)
                continue
            base = self._base_code(row)
            if course is not None:
                suffixed = course.code.startswith(f"{base[: CODE_MAX - 2]}-")
                code = course.code if course.code == base or suffixed or base in codes else base
                action = "update"
            elif base in codes and codes[base] is None and base not in linked:
                code, action = base, "link"
                course = Course.objects.get(code=base)
                linked.add(base)
            else:
                code, action = _free_code(base, codes), "create"
            codes[code] = row.sourced_id
            self.courses[row.sourced_id] = (code, course)
            plan = CoursePlan(action, row.line, row.sourced_id, course.pk if course else None, code, row.title)
            self._add_plan("courses", self.preview.courses, plan, course)

    def _base_code(self, row: _Class) -> str:
        course_row = self.parsed.courses.get(row.course_sourced_id)
        return (row.class_code or (course_row.code if course_row else "") or row.sourced_id)[:CODE_MAX]

    def _term_dates(self, class_sourced_id: str) -> tuple[datetime.date | None, datetime.date | None]:
        row = next((row for row in self.parsed.classes if row.sourced_id == class_sourced_id), None)
        terms = [self.parsed.terms[term] for term in (row.terms if row else ()) if term in self.parsed.terms]
        if not terms:
            return None, None
        return min(term.start for term in terms), max(term.end for term in terms)

    # Enrolments and teachers of courses

    def plan_enrolments(self) -> None:
        rows = self.parsed.enrolments
        known_courses = rows_by(
            Course.objects.all(),
            "sourced_id",
            [row.class_sourced_id for row in rows if row.class_sourced_id not in self.courses],
        )
        for sid, known in known_courses.items():
            self.courses[sid] = (known.code, known)
        students = {
            **rows_by(Student.objects.all(), "sourced_id", [row.user_sourced_id for row in rows]),
            **self.matched_students,
        }
        teachers = {
            **{
                sid: roster.user
                for sid, roster in rows_by(
                    TeacherRosterId.objects.select_related("user"), "sourced_id", [row.user_sourced_id for row in rows]
                ).items()
            },
            **self.matched_teachers,
        }
        by_sid = rows_by(Enrollment.objects.all(), "sourced_id", [row.sourced_id for row in rows])
        course_ids = [course.pk for _, course in self.courses.values() if course is not None]
        pairs = {
            (enrolment.course_id, enrolment.student_id): enrolment
            for chunk in chunks(course_ids)
            for enrolment in Enrollment.objects.filter(course_id__in=chunk)
        }
        teaching = {
            (course_id, user_id)
            for chunk in chunks(course_ids)
            for course_id, user_id in Course.teachers.through.objects.filter(course_id__in=chunk).values_list(
                "course_id", "user_id"
            )
        }
        seen: dict[tuple[str, str], int] = {}
        for row in rows:
            if row.role not in ("student", "teacher"):
                self.skip(ENROLLMENTS, row.line, f"Role {row.role}: not imported.")
                continue
            if {(CLASSES, row.class_sourced_id), (USERS, row.user_sourced_id)} & self.parsed.broken:
                continue  # the class's or the user's line has the error (or was not imported)
            if row.class_sourced_id not in self.courses:
                self.error(
                    ENROLLMENTS,
                    row.line,
                    f"Unknown classSourcedId {shown(row.class_sourced_id)}: not in classes.csv nor imported before.",
                )
                continue
            pair = (row.class_sourced_id, row.user_sourced_id)
            if pair in seen:
                self.error(ENROLLMENTS, row.line, f"This user is already enrolled in this class on line {seen[pair]}.")
                continue
            seen[pair] = row.line
            code, course = self.courses[row.class_sourced_id]
            student = students.get(row.user_sourced_id)
            is_student = row.user_sourced_id in self.students or student is not None
            is_teacher = row.user_sourced_id in self.teachers or row.user_sourced_id in teachers
            if row.role == "teacher":
                if not is_teacher:
                    self._unknown_user(row, is_student, "teacher")
                    continue
                teacher = teachers.get(row.user_sourced_id)
                linked = course is not None and teacher is not None and (course.pk, teacher.pk) in teaching
                if row.deleted and not linked:
                    self.skip(
                        ENROLLMENTS, row.line, "Marked tobedeleted, and not a teacher of the class: nothing to remove."
                    )
                elif row.deleted or not linked:
                    username = self.teachers.get(row.user_sourced_id) or (teacher.username if teacher else "")
                    action = "remove" if row.deleted else "add"
                    self.preview.teaching.append(
                        TeachingPlan(
                            action, ENROLLMENTS, row.line, row.class_sourced_id, code, row.user_sourced_id, username
                        )
                    )
                else:
                    self.unchanged["teaching"] += 1
                continue
            if not is_student:
                self._unknown_user(row, is_teacher, "student")
                continue
            number = self.students.get(row.user_sourced_id) or (student.student_number if student else "")
            existing = by_sid.get(row.sourced_id)
            if existing is not None and (
                course is None
                or student is None
                or (existing.course_id, existing.student_id) != (course.pk, student.pk)
            ):
                self.error(
                    ENROLLMENTS,
                    row.line,
                    f"The enrolment {shown(row.sourced_id)} was imported for another class or student.",
                )
                continue
            if existing is None and course is not None and student is not None:
                existing = pairs.get((course.pk, student.pk))
                if existing is not None and existing.sourced_id is not None:
                    self.error(
                        ENROLLMENTS,
                        row.line,
                        "The student is already enrolled in this class with the sourcedId "
                        f"{shown(existing.sourced_id)}.",
                    )
                    continue
            self._plan_enrolment(row, existing, code, number)

    def _plan_enrolment(self, row: _Enrolment, existing: Enrollment | None, code: str, number: str) -> None:
        def plan(action: str, start: datetime.date, end: datetime.date | None, was: str = "") -> EnrolmentPlan:
            return EnrolmentPlan(
                action, row.line, row.sourced_id, existing.pk if existing else None, row.class_sourced_id, code,
                row.user_sourced_id, number, start, end, was,
            )  # fmt: skip

        if row.deleted:
            if existing is None:
                self.skip(ENROLLMENTS, row.line, "Marked tobedeleted, and not in the system: nothing to end.")
            elif existing.end_date is not None and existing.end_date <= max(self.today, existing.start_date):
                self.unchanged["enrolments"] += 1
            else:
                ends = max(self.today, existing.start_date)
                self.preview.enrolments.append(plan("end", existing.start_date, ends, _dates(existing)))
            return
        term_start, term_end = self._term_dates(row.class_sourced_id)
        start = row.begin or term_start or (existing.start_date if existing else self.today)
        end = row.end or term_end or (existing.end_date if existing else None)
        if end is not None and end < start:
            self.error(ENROLLMENTS, row.line, f"The enrolment would end on {end} before it starts on {start}.")
            return
        if existing is None:
            self.preview.enrolments.append(plan("create", start, end))
        elif existing.sourced_id is None:
            self.preview.enrolments.append(plan("link", start, end, _dates(existing)))
        elif (existing.start_date, existing.end_date) != (start, end):
            self.preview.enrolments.append(plan("update", start, end, _dates(existing)))
        else:
            self.unchanged["enrolments"] += 1

    def _unknown_user(self, row: _Enrolment, other_role: bool, role: str) -> None:
        if other_role:
            self.error(ENROLLMENTS, row.line, f"The user {shown(row.user_sourced_id)} is not a {role} in users.csv.")
        else:
            self.error(
                ENROLLMENTS,
                row.line,
                f"Unknown userSourcedId {shown(row.user_sourced_id)}: not in users.csv nor imported before.",
            )


def _names(user: _User, current: Student | User | None) -> dict[str, str]:
    """A user's names and email as the bundle has them; an empty one keeps what `current` has."""
    return {
        name: getattr(user, name) or (getattr(current, name) if current else "")
        for name in ("first_name", "last_name", "email")
    }


def _was(current: models.Model, plan: object, names: tuple[str, ...]) -> str:
    """The values the plan changes, as they are: "first_name Ada, email —"."""
    changed = [name for name in names if getattr(current, name) != getattr(plan, name)]
    return ", ".join(f"{name.replace('_', ' ')} {getattr(current, name) or '—'}" for name in changed)


def _dates(enrolment: Enrollment) -> str:
    return f"{enrolment.start_date} to {enrolment.end_date or '—'}"


def _free_code(base: str, codes: dict[str, str | None]) -> str:
    code, number = base, 1
    while code in codes:
        number += 1
        suffix = f"-{number}"
        code = base[: CODE_MAX - len(suffix)] + suffix
    return code


# --- Applying -------------------------------------------------------------------------------


def roster_apply(*, preview: RosterPreview) -> dict[str, int]:
    """Write the plan of a preview without errors, all or nothing; how many of each were written."""
    if preview.errors:
        raise ApplicationError(
            f"The bundle has {len(preview.errors)} error(s); correct them and upload it again. Nothing was changed."
        )
    try:
        with transaction.atomic():
            _apply_students(preview.students)
            _apply_teachers(preview.teachers)
            _apply_courses(preview.courses)
            _apply_enrolments(preview.enrolments)
            _apply_teaching(preview.teaching)
    except IntegrityError:
        raise ApplicationError(
            "Students, courses or teachers changed while the bundle was being applied; upload it again."
        ) from None
    return {
        "students": len(preview.students),
        "teachers": len(preview.teachers),
        "courses": len(preview.courses),
        "enrolments": len(preview.enrolments),
        "teaching": len(preview.teaching),
    }


def _locked(model: type[M], ids: Iterable[int | None]) -> dict[int, M]:
    rows: dict[int, M] = {}
    for chunk in chunks(sorted({pk for pk in ids if pk is not None})):
        rows.update((row.pk, row) for row in model._default_manager.select_for_update().filter(pk__in=chunk))
    return rows


def _apply_students(plans: list[StudentPlan]) -> None:
    now = timezone.now()
    existing = _locked(Student, (plan.student_id for plan in plans))
    created = [
        Student(sourced_id=plan.sourced_id, student_number=plan.student_number, first_name=plan.first_name,
                last_name=plan.last_name, email=plan.email)
        for plan in plans if plan.action == "create"
    ]  # fmt: skip
    changed: list[Student] = []
    for plan in plans:
        student = existing.get(plan.student_id or 0)
        if student is None:
            continue  # created now, or deleted since the preview
        if plan.action == "deactivate":
            student.is_active = False
        else:
            student.sourced_id, student.student_number = plan.sourced_id, plan.student_number
            student.first_name, student.last_name, student.email = plan.first_name, plan.last_name, plan.email
        student.updated_at = now
        changed.append(student)
    # Changed first: a number another student gave up in this bundle is free for the new one.
    fields = ["sourced_id", "student_number", "first_name", "last_name", "email", "is_active", "updated_at"]
    Student.objects.bulk_update(changed, fields, batch_size=500)
    Student.objects.bulk_create(created, batch_size=500)


def _apply_teachers(plans: list[TeacherPlan]) -> None:
    existing = _locked(User, (plan.user_id for plan in plans))
    for plan in plans:
        user = existing.get(plan.user_id or 0) if plan.action != "create" else User(is_staff=False)
        if user is None:
            continue
        user.username, user.first_name, user.last_name, user.email = (
            plan.username, plan.first_name, plan.last_name, plan.email,
        )  # fmt: skip
        if plan.action == "create":
            user.set_unusable_password()
        user.save()
        if plan.action != "update":
            TeacherRosterId.objects.create(user=user, sourced_id=plan.sourced_id)


def _apply_courses(plans: list[CoursePlan]) -> None:
    existing = _locked(Course, (plan.course_id for plan in plans))
    for plan in plans:
        course = existing.get(plan.course_id or 0) if plan.action != "create" else Course()
        if course is None:
            continue
        course.sourced_id, course.code, course.name = plan.sourced_id, plan.code, plan.name
        course.save()


def _ids(model: type[models.Model], sourced_ids: Iterable[str]) -> dict[str, int]:
    return {sid: row.pk for sid, row in rows_by(model._default_manager.all(), "sourced_id", sourced_ids).items()}


def _apply_enrolments(plans: list[EnrolmentPlan]) -> None:
    courses = _ids(Course, (plan.course_sourced_id for plan in plans))
    students = _ids(Student, (plan.student_sourced_id for plan in plans))
    existing = _locked(Enrollment, (plan.enrollment_id for plan in plans))
    created: list[Enrollment] = []
    changed: list[Enrollment] = []
    for plan in plans:
        if plan.action == "create":
            if plan.course_sourced_id in courses and plan.student_sourced_id in students:
                created.append(
                    Enrollment(
                        sourced_id=plan.sourced_id,
                        course_id=courses[plan.course_sourced_id],
                        student_id=students[plan.student_sourced_id],
                        start_date=plan.start_date,
                        end_date=plan.end_date,
                    )
                )
            continue
        enrolment = existing.get(plan.enrollment_id or 0)
        if enrolment is not None:
            enrolment.sourced_id, enrolment.start_date, enrolment.end_date = (
                plan.sourced_id,
                plan.start_date,
                plan.end_date,
            )
            changed.append(enrolment)
    Enrollment.objects.bulk_update(changed, ["sourced_id", "start_date", "end_date"], batch_size=500)
    Enrollment.objects.bulk_create(created, batch_size=500)


def _apply_teaching(plans: list[TeachingPlan]) -> None:
    courses = _ids(Course, (plan.course_sourced_id for plan in plans))
    teachers = {
        roster.sourced_id: roster.user_id
        for roster in TeacherRosterId.objects.filter(sourced_id__in=[plan.teacher_sourced_id for plan in plans])
    }
    through = Course.teachers.through
    for plan in plans:
        course_id, user_id = courses.get(plan.course_sourced_id), teachers.get(plan.teacher_sourced_id)
        if course_id is None or user_id is None:
            continue
        if plan.action == "add":
            through.objects.get_or_create(course_id=course_id, user_id=user_id)
        else:
            through.objects.filter(course_id=course_id, user_id=user_id).delete()
