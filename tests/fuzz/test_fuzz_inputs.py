"""Fuzzed dates, numbers and JSON bodies at the pages and the API: extreme dates (0001-01-01,
9999-12-31, 9999-12-31T23:59) for the course report, the schedule form and the sessions API, and
deeply nested JSON, odd numbers, NUL characters and lone surrogates for the records endpoints.
Every answer is a success or a 4xx with a message, never a server error (the test client raises
it), and a refused request changes nothing.

Each case runs in a savepoint that is rolled back, so every case starts from the same rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import given, note, settings
from hypothesis import strategies as st

from attendance.models import AttendanceChange, AttendanceRecord, ClassSession, Course
from students.models import Student
from tests.fuzz.plugin import Budget, Tally, outcome_of
from tests.fuzz.strategies import Fuzzed, date_texts, json_bodies, minutes, session_fields

pytestmark = pytest.mark.django_db

STATUSES = ["present", "late", "absent", "excused"]
# Half of them within the form's bounds (5 to 600), so that some series get past them.
form_minutes = st.integers(5, 600).map(lambda value: ("minutes the form takes", value)) | minutes()
notes = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=500)


@pytest.fixture
def teacher_client(teacher: User) -> Client:
    client = Client()
    client.force_login(teacher)
    return client


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def rows() -> tuple[list[tuple[Any, ...]], ...]:
    return tuple(
        list(model.objects.order_by("pk").values_list()) for model in (ClassSession, AttendanceRecord, AttendanceChange)
    )


def body_of(response: Any) -> bytes:
    """The whole body: an export streams, and an error while streaming must surface here."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def check_refusal(response: Any) -> str:
    """A 4xx whose message reads as a sentence (or a DRF field error); the kind, for the tally."""
    assert 400 <= response.status_code < 500, response.status_code
    if response["Content-Type"].startswith("application/json"):
        answer = response.json()
        message = answer.get("error") or answer.get("detail") if isinstance(answer, dict) else None
        if message is None:  # DRF: {"field": ["message"]} or ["message"]
            first = next(iter(answer.values())) if isinstance(answer, dict) else answer
            message = first[0] if isinstance(first, list) else str(first)
    else:
        message = body_of(response).decode()
    assert isinstance(message, str) and message.strip(), response.content[:200]
    return f"{response.status_code}: {outcome_of(message)}"


def in_range(text: str) -> datetime.date | None:
    """The date, if it is an ISO date in the years sessions may have; the test's own reading."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2100 else None


def test_fuzzed_report_dates_get_a_report_or_a_400(
    teacher_client: Client,
    course: Course,
    open_session: ClassSession,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    @fuzz_settings(fuzz_budget.inputs)
    @given(
        date_from=st.none() | date_texts(),
        date_to=st.none() | date_texts(),
        where=st.sampled_from(["page", "csv", "xlsx", "api"]),
    )
    def report(date_from: tuple[str, str] | None, date_to: tuple[str, str] | None, where: str) -> None:
        texts = {name: value[1] for name, value in (("from", date_from), ("to", date_to)) if value is not None}
        note(f"{where} {texts!r}")
        if where == "api":
            query = {f"date_{name}": text for name, text in texts.items()}
            response = teacher_client.get(f"/api/reports/courses/{course.pk}/", query)
        else:
            query = texts if where == "page" else {**texts, "format": where}
            response = teacher_client.get(f"/reports/courses/{course.pk}/", query)

        # Without a bound the range is open on that side.
        first = in_range(texts["from"]) if "from" in texts else datetime.date.min
        last = in_range(texts["to"]) if "to" in texts else datetime.date.max
        if first and last and first <= last:
            assert response.status_code == 200, body_of(response)[:300]
        if response.status_code == 200:
            assert body_of(response)
            outcome = "report"
        else:
            outcome = check_refusal(response)
        labels = tuple(value[0] for value in (date_from, date_to) if value is not None)
        target.record(injected=labels or ("no dates",), outcome=f"{where}: {outcome}")

    with fuzz_tally.target("course report dates (page, CSV, XLSX, API)") as target:
        report()


def test_fuzzed_sessions_at_the_api_are_created_and_shown_or_refused(
    teacher_client: Client,
    course: Course,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    upcoming = ClassSession.objects.create(
        course=course,
        starts_at=timezone.now() + datetime.timedelta(days=1),
        ends_at=timezone.now() + datetime.timedelta(days=1, hours=1),
    )

    @fuzz_settings(fuzz_budget.inputs)
    @given(drawn=session_fields(), patch=st.booleans())
    def create(drawn: tuple[tuple[str, ...], dict[str, object]], patch: bool) -> None:
        labels, fields = drawn
        note(repr(fields))
        with rolled_back():
            before = rows()
            if patch:
                response = teacher_client.patch(
                    f"/api/sessions/{upcoming.pk}/", fields, content_type="application/json"
                )
            else:
                response = teacher_client.post(
                    "/api/sessions/", {"course": course.pk, **fields}, content_type="application/json"
                )

            if response.status_code in (200, 201):
                session_id = response.json()["id"]
                for path in (f"/sessions/{session_id}/", f"/reports/sessions/{session_id}/"):
                    assert teacher_client.get(path).status_code == 200, path
                outcome = "changed, page shown" if patch else "created, page shown"
            else:
                outcome = check_refusal(response)
                assert rows() == before
        target.record(injected=labels, outcome=outcome)

    with fuzz_tally.target("sessions API times and late minutes") as target:
        create()


def test_fuzzed_schedules_on_the_course_page_are_built_or_refused(
    teacher_client: Client,
    course: Course,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    @fuzz_settings(fuzz_budget.inputs)
    @given(
        first=date_texts(),
        last=date_texts(),
        days_later=st.none() | st.integers(0, 400),
        weekly=st.booleans(),
        weekdays=st.lists(st.integers(-1, 7).map(str), max_size=8),
        start=st.sampled_from(["00:00", "09:00", "23:00", "23:59", "24:00", ""]),
        duration=form_minutes,
        late=form_minutes,
    )
    def schedule(
        first: tuple[str, str],
        last: tuple[str, str],
        days_later: int | None,
        weekly: bool,
        weekdays: list[str],
        start: str,
        duration: tuple[str, int],
        late: tuple[str, int],
    ) -> None:
        # Often a series of a few weeks or months, so that some of them are built.
        first_day = in_range(first[1])
        if days_later is not None and first_day is not None:
            last = ("days after the first", (first_day + datetime.timedelta(days=days_later)).isoformat())
        form = {
            "first_date": first[1],
            "start_time": start,
            "duration_minutes": str(duration[1]),
            "late_after_minutes": str(late[1]),
            "last_date": last[1],
            "weekdays": weekdays,
            **({"repeat_weekly": "on"} if weekly else {}),
        }
        note(repr(form))
        with rolled_back():
            before = rows()
            response = teacher_client.post(f"/courses/{course.pk}/", form)

            if response.status_code == 302:
                created = ClassSession.objects.exclude(pk__in=[row[0] for row in before[0]])
                assert 1 <= created.count() <= 400
                outcome = "scheduled"
            else:
                assert response.status_code == 400
                assert rows() == before
                outcome = "refused"
        target.record(injected=(first[0], last[0], duration[0], late[0]), outcome=outcome)

    with fuzz_tally.target("course page schedule form") as target:
        schedule()


def test_fuzzed_record_bodies_are_applied_or_refused(
    teacher_client: Client,
    open_session: ClassSession,
    student: Student,
    fuzz_budget: Budget,
    fuzz_settings: Callable[[int], settings],
    fuzz_tally: Tally,
) -> None:
    decision = {"status": st.sampled_from(STATUSES), "note": notes}
    page_bodies = json_bodies(st.fixed_dictionaries({"student_id": st.just(student.pk), **decision}))
    api_bodies = json_bodies(
        st.fixed_dictionaries({"session": st.just(open_session.pk), "student": st.just(student.pk), **decision})
    )

    @fuzz_settings(fuzz_budget.inputs)
    @given(where=st.sampled_from(["page", "api"]), data=st.data())
    def post(where: str, data: st.DataObject) -> None:
        fuzzed: Fuzzed = data.draw(page_bodies if where == "page" else api_bodies)
        note(repr(fuzzed))
        path = f"/sessions/{open_session.pk}/records/" if where == "page" else "/api/records/"
        with rolled_back():
            before = rows()
            response = teacher_client.post(path, fuzzed.data, content_type="application/json")

            if fuzzed.kind == "valid":
                assert response.status_code == 200, response.content[:300]
            if response.status_code == 200:
                assert AttendanceRecord.objects.filter(session=open_session, student=student).exists()
                outcome = "applied"
            else:
                outcome = check_refusal(response)
                assert rows() == before
        target.record(injected=fuzzed.faults, outcome=f"{where}: {outcome}")

    with fuzz_tally.target("records JSON bodies (page and API)") as target:
        post()
