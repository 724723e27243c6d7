"""Printing check-in cards: a course's cards, one student's card, and the admin's card actions."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import Course, Enrollment
from students.cards import REVOKED, CardRefused, card_holder, card_token, card_token_from_qr
from students.models import Student
from tests.cards import qr_texts, rendered_pages


def logged_in(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def card_holders(pdf: bytes, tmp_path: Path) -> list[Student]:
    """The students whose cards a camera reads in the PDF."""
    pages = rendered_pages(pdf, tmp_path=tmp_path)
    return [card_holder(card_token_from_qr(text)) for page in pages for text in qr_texts(page)]


def course_cards_url(course: Course) -> str:
    return reverse("course-cards", args=[course.pk])


def student_card_url(student: Student) -> str:
    return reverse("student-card", args=[student.pk])


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff", password="staff-pass-123", is_staff=True)


def test_a_teacher_prints_the_cards_of_the_students_enrolled_today(
    teacher: User, course: Course, student: Student, tmp_path: Path
) -> None:
    today = timezone.localdate()
    newcomer = Student.objects.create(student_number="S010", first_name="Grace", last_name="Hopper")
    left = Student.objects.create(student_number="S011", first_name="Left", last_name="Already")
    later = Student.objects.create(student_number="S012", first_name="Starts", last_name="Later")
    inactive = Student.objects.create(student_number="S013", first_name="No", last_name="Longer", is_active=False)
    Enrollment.objects.create(course=course, student=newcomer, start_date=today)
    Enrollment.objects.create(
        course=course, student=left, start_date=datetime.date(2020, 1, 1), end_date=today - datetime.timedelta(days=1)
    )
    Enrollment.objects.create(course=course, student=later, start_date=today + datetime.timedelta(days=1))
    Enrollment.objects.create(course=course, student=inactive, start_date=datetime.date(2020, 1, 1))

    response = logged_in(teacher).get(course_cards_url(course))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="check-in-cards-CS101.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert {holder.pk for holder in card_holders(response.content, tmp_path)} == {student.pk, newcomer.pk}


def test_staff_print_any_courses_cards(staff: User, course: Course, student: Student, tmp_path: Path) -> None:
    response = logged_in(staff).get(course_cards_url(course))

    assert response.status_code == 200
    assert card_holders(response.content, tmp_path) == [student]


def test_another_teacher_gets_404_and_a_visitor_the_login_page(other_teacher: User, course: Course) -> None:
    assert logged_in(other_teacher).get(course_cards_url(course)).status_code == 404
    assert logged_in(other_teacher).get(student_card_url(course.students.get())).status_code == 404

    for url in (course_cards_url(course), student_card_url(course.students.get())):
        response = logged_in(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_unknown_ids_are_404_and_other_methods_405(staff: User, course: Course) -> None:
    client = logged_in(staff)

    assert client.get("/courses/999999/cards.pdf").status_code == 404
    assert client.get("/students/999999/card.pdf").status_code == 404
    assert client.post(course_cards_url(course)).status_code == 405


def test_a_teacher_prints_one_students_card(teacher: User, course: Course, student: Student, tmp_path: Path) -> None:
    response = logged_in(teacher).get(student_card_url(student))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="check-in-card-S001.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert card_holders(response.content, tmp_path) == [student]


def test_an_inactive_students_card_is_not_printed(staff: User, student: Student) -> None:
    Student.objects.filter(pk=student.pk).update(is_active=False)

    response = logged_in(staff).get(student_card_url(student))

    assert response.status_code == 409
    assert response.content.decode() == "This student is no longer active: a card of theirs would be refused."


def test_the_course_page_links_to_its_cards(teacher: User, course: Course) -> None:
    page = logged_in(teacher).get(reverse("course-detail", args=[course.pk])).content.decode()

    assert f'<a href="{course_cards_url(course)}">Print check-in cards (PDF)</a>' in page


# --- The admin ---------------------------------------------------------------------------------


def changelist_action(client: Client, action: str, students: list[Student]) -> Any:
    return client.post(
        reverse("admin:students_student_changelist"),
        {"action": action, "_selected_action": [student.pk for student in students]},
    )


def test_the_admin_prints_the_cards_of_the_selected_active_students(
    admin_client: Client, student: Student, tmp_path: Path
) -> None:
    inactive = Student.objects.create(student_number="S020", first_name="No", last_name="Longer", is_active=False)

    response = changelist_action(admin_client, "print_cards", [student, inactive])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert card_holders(response.content, tmp_path) == [student]


def test_the_admin_revokes_cards_and_logs_it(admin_client: Client, admin_user: User, student: Student) -> None:
    old = card_token(student)

    response = changelist_action(admin_client, "revoke_cards", [student])

    assert response.status_code == 302
    student.refresh_from_db()
    assert student.card_version == 2
    with pytest.raises(CardRefused, match=REVOKED):
        card_holder(old)
    entry = LogEntry.objects.get(object_id=str(student.pk), action_flag=CHANGE)
    assert entry.user == admin_user
    assert entry.get_change_message() == "Revoked the check-in cards."


def test_staff_who_may_not_change_students_cannot_revoke(staff: User, student: Student) -> None:
    staff.user_permissions.add(Permission.objects.get(codename="view_student"))

    client = logged_in(staff)
    page = client.get(reverse("admin:students_student_changelist")).content.decode()
    changelist_action(client, "revoke_cards", [student])

    assert 'value="print_cards"' in page
    assert 'value="revoke_cards"' not in page
    student.refresh_from_db()
    assert student.card_version == 1


def test_the_student_page_shows_the_card_version_read_only_and_links_to_the_card(
    admin_client: Client, student: Student
) -> None:
    page = admin_client.get(reverse("admin:students_student_change", args=[student.pk])).content.decode()

    assert 'name="card_version"' not in page
    assert '<div class="readonly">1</div>' in page
    assert f'<a href="{student_card_url(student)}">Print check-in card</a>' in page


def test_the_course_admin_sets_cards_only(admin_client: Client, course: Course) -> None:
    page = admin_client.get(reverse("admin:attendance_course_change", args=[course.pk])).content.decode()

    assert 'name="cards_only"' in page
