"""The REST API against its own OpenAPI schema (schemathesis): no operation answers 500, and every
answer keeps to the schema (content type, headers, and the body of every documented status).

The schema is loaded from the app (/api/schema/), and every operation is called in-process through
WSGI, as an admin (a superuser: every write is allowed) with an API token, on a database with a
course, sessions, students, a record and a photo (its embedding is never computed: the test's
transaction never commits). Schemathesis makes
data that fits the schema (positive) and data that does not (negative); a drawn `pick` often
replaces the generated ids by ids that exist, so the operations reach their objects and not only
their 404s. Each case runs in a savepoint that is rolled back: a DELETE leaves the objects for the
next case.

Every operation runs, and the failures of all of them are reported together. Cases per operation
and mode: 10 by default, 50 with --fuzz-full (or FUZZ_FULL=1).

The operations are driven with Hypothesis here rather than with `schema.parametrize()`, whose
pytest integration (4.32) does not run under pytest 9 (it sets `Function._nodeid`, gone in 9).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import given, note, settings
from hypothesis import strategies as st
from knox.models import AuthToken
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from attendance.models import AttendanceRecord, ClassSession, Course, Enrollment
from students.models import Student, StudentPhoto
from tests.fuzz.plugin import Budget, Tally, Target
from tests.fuzz.strategies import samples

pytestmark = pytest.mark.django_db

# Not status_code_conformance: the schema documents only each operation's success (drf-spectacular
# lists no 400, 401, 403 or 404), so every refusal of bad input would count as a failure.
CHECKS = [not_a_server_error, content_type_conformance, response_headers_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_in_the_test_transaction() -> Iterator[None]:
    """Requests use the test's database connection, inside its transaction. Django closes a
    connection in a transaction when a request starts or ends, and every later query would fail;
    Django's own test client turns that off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def existing_ids(
    teacher: User, staff: User, student: Student, course: Course, open_session: ClassSession
) -> dict[str, list[int]]:
    """Objects of every kind, by the name their ids have in the API (in paths and in bodies)."""
    other = Student.objects.create(student_number="S002", first_name="Grace", last_name="Hopper")
    Enrollment.objects.create(course=course, student=other, start_date=datetime.date(2020, 1, 1))
    week_ago = timezone.now() - datetime.timedelta(days=7)
    held = ClassSession.objects.create(
        course=course,
        starts_at=week_ago,
        ends_at=week_ago + datetime.timedelta(minutes=90),
        state=ClassSession.State.CLOSED,
    )
    upcoming = ClassSession.objects.create(
        course=course,
        starts_at=week_ago + datetime.timedelta(days=14),
        ends_at=week_ago + datetime.timedelta(days=14, hours=1),
    )
    record = AttendanceRecord.objects.create(
        session=held, student=student, status=AttendanceRecord.Status.PRESENT, source=AttendanceRecord.Source.MANUAL
    )
    photo = StudentPhoto(student=student, sha256="0" * 64, width=64, height=48)
    photo.image.save("photo.jpg", ContentFile(samples()["jpeg"]), save=True)
    return {
        "course": [course.pk],
        "session": [open_session.pk, held.pk, upcoming.pk],
        "record": [record.pk],
        "student": [student.pk, other.pk],
        "photo": [photo.pk],
        "teachers": [teacher.pk, staff.pk],
    }


def kind_of_id(path: str, name: str) -> str:
    """What a path parameter names: /api/sessions/{id}/ a session, {student_id} a student, ..."""
    if name != "id":
        return name.removesuffix("_id")
    resource = path.removeprefix("/api/").removeprefix("reports/").split("/")[0]
    return {"courses": "course", "sessions": "session", "records": "record", "students": "student"}[resource]


def use_existing_ids(case: schemathesis.Case, ids: dict[str, list[int]], pick: int) -> None:
    """With `pick` > 0, the path's ids and the body's references are ids of objects that exist."""
    if pick == 0:
        return
    for name in case.path_parameters or {}:
        choices = ids[kind_of_id(case.path, name)]
        case.path_parameters[name] = choices[pick % len(choices)]
    if isinstance(case.body, dict):
        for key in [key for key in case.body if key in ids]:
            chosen = ids[key][pick % len(ids[key])]
            case.body[key] = [chosen] if key == "teachers" else chosen


def call_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    *,
    ids: dict[str, list[int]],
    headers: dict[str, str],
    hypothesis_settings: settings,
    target: Target,
) -> None:
    """Call the operation with generated cases and check each answer; raises on the first failure
    (shrunk by Hypothesis)."""

    @hypothesis_settings
    @given(case=operation.as_strategy(mode), pick=st.integers(0, 3))
    def call(case: schemathesis.Case, pick: int) -> None:
        use_existing_ids(case, ids, pick)
        note(case.as_curl_command(headers=headers))
        with transaction.atomic():
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)
        target.record(injected=operation.label, outcome=f"{mode} data → HTTP {response.status_code}")

    call()


def test_the_api_never_answers_500_and_keeps_to_its_schema(
    wsgi_in_the_test_transaction: None,
    existing_ids: dict[str, list[int]],
    staff: User,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    headers = {"Authorization": f"Token {AuthToken.objects.create(user=staff)[1]}"}
    api = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers=headers)
    operations = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an operation schemathesis cannot read: {result.err()}"
        operations.append(result.ok())
    failures: list[str] = []

    with fuzz_tally.target("REST API (schemathesis, every operation)") as target:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    call_operation(
                        operation,
                        mode,
                        ids=existing_ids,
                        headers=headers,
                        hypothesis_settings=fuzz_settings(fuzz_budget.schema),
                        target=target,
                    )
                # Every operation runs; all failures are reported at the end. (A check failure is a
                # FailureGroup, a BaseExceptionGroup, not an Exception.)
                except (Exception, FailureGroup) as exc:
                    failures.append(f"{operation.label} ({mode} data):\n{exc}")

    assert len(operations) >= 16
    assert not failures, "\n\n".join(failures)
