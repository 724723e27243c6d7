"""A live page's gallery follows the course: every change that changes who can be recognised
rebuilds it at the next check (GALLERY_REFRESH_SECONDS), and nothing else does."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from attendance import live
from attendance.live_session import LiveSession
from attendance.models import ClassSession, Enrollment
from students.models import Student, StudentPhoto

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_ID = "test-model"


class UnusedModels:
    """The recognizer is built but never given a frame here: only the gallery is looked at."""

    model_id = MODEL_ID


@pytest.fixture(autouse=True)
def models(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setattr(live, "engine", UnusedModels)
    settings.GALLERY_REFRESH_SECONDS = 1
    settings.REQUIRE_CONSENT = True


def unit_vector(seed: int) -> bytes:
    vector = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return (vector / np.linalg.norm(vector)).tobytes()


def photo(student: Student, *, status: str = StudentPhoto.Status.READY) -> StudentPhoto:
    ready = status == StudentPhoto.Status.READY
    return StudentPhoto.objects.create(
        student=student,
        image=f"student_photos/{student.student_number}.jpg",
        sha256=student.student_number,
        status=status,
        embedding=unit_vector(student.pk) if ready else None,
        embedding_model=MODEL_ID if ready else "",
    )


@pytest.fixture
def classmates(open_session: ClassSession, student: Student) -> dict[str, Student]:
    """Ada (the conftest student) and Grace, both enrolled in the open session's course, a photo each."""
    grace = Student.objects.create(student_number="S002", first_name="Grace", consent_given_at=timezone.now())
    Enrollment.objects.create(course=open_session.course, student=grace, start_date=datetime.date(2020, 1, 1))
    photo(student)
    photo(grace)
    return {"ada": student, "grace": grace}


async def gallery_after_refresh(page: LiveSession) -> list[int]:
    page.gallery_checked_at = -float("inf")  # the refresh interval has passed
    recognizer = await page.current_recognizer()
    assert recognizer is not None, "a course with face recognition has a recognizer"
    return sorted(recognizer.gallery.student_ids.tolist())


def live_page(session: ClassSession) -> LiveSession:
    async def loading() -> None:
        """Nobody to tell that the models load."""

    return LiveSession(session.pk, on_loading=loading)


@database_sync_to_async
def change(function: Any) -> None:
    function()


async def test_deactivating_a_student_takes_them_out_of_the_gallery(
    open_session: ClassSession, classmates: dict[str, Student]
) -> None:
    page = live_page(open_session)
    before = await gallery_after_refresh(page)

    await change(lambda: Student.objects.filter(pk=classmates["grace"].pk).update(is_active=False))

    assert before == sorted(s.pk for s in classmates.values())
    assert await gallery_after_refresh(page) == [classmates["ada"].pk]


async def test_removing_a_student_from_the_course_takes_them_out_of_the_gallery(
    open_session: ClassSession, classmates: dict[str, Student]
) -> None:
    page = live_page(open_session)
    await gallery_after_refresh(page)

    await change(lambda: Enrollment.objects.filter(student=classmates["grace"]).delete())

    assert await gallery_after_refresh(page) == [classmates["ada"].pk]
    assert classmates["grace"].pk not in page.names


async def test_a_photo_becoming_ready_puts_the_student_in_the_gallery(
    open_session: ClassSession, classmates: dict[str, Student]
) -> None:
    emmy = await database_sync_to_async(Student.objects.create)(
        student_number="S003", first_name="Emmy", consent_given_at=timezone.now()
    )
    await change(
        lambda: Enrollment.objects.create(
            course=open_session.course, student=emmy, start_date=datetime.date(2020, 1, 1)
        )
    )
    pending = await database_sync_to_async(photo)(emmy, status=StudentPhoto.Status.PENDING)
    page = live_page(open_session)
    before = await gallery_after_refresh(page)

    await change(
        lambda: StudentPhoto.objects.filter(pk=pending.pk).update(
            status=StudentPhoto.Status.READY,
            embedding=unit_vector(emmy.pk),
            embedding_model=MODEL_ID,
            updated_at=timezone.now(),
        )
    )

    assert emmy.pk not in before
    assert emmy.pk in await gallery_after_refresh(page)


async def test_an_unchanged_course_keeps_its_recognizer(
    open_session: ClassSession, classmates: dict[str, Student]
) -> None:
    """The recognizer holds the faces it is following: it is replaced only when the gallery changes."""
    page = live_page(open_session)
    await gallery_after_refresh(page)
    tracker = page.recognizer.tracker if page.recognizer else None

    await gallery_after_refresh(page)

    assert page.recognizer is not None and page.recognizer.tracker is tracker
