"""Check-in card PDFs: a course's cards, for its teachers and staff, and one student's card, for
whoever may see the student. The admin prints the cards of the students it selects with
`cards_response`."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_GET

from attendance.models import Enrollment
from attendance.selectors import courses_for, students_for
from students.card_pdf import DEFAULT_TITLE, cards_pdf
from students.models import Student

INACTIVE = "This student is no longer active: a card of theirs would be refused."


def cards_response(students: Sequence[Student], *, title: str, filename: str) -> HttpResponse:
    """The students' cards as a PDF download named `filename` (made safe, without an extension)."""
    response = HttpResponse(cards_pdf(students, title=title), content_type="application/pdf")
    response.headers["Content-Disposition"] = content_disposition_header(True, f"{get_valid_filename(filename)}.pdf")
    # A card lets its holder be marked present: no shared cache or browser disk keeps one.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def course_cards(request: HttpRequest, course_id: int) -> HttpResponse:
    """The cards of the active students enrolled in the course today."""
    course = get_object_or_404(courses_for(user=request.user), pk=course_id)
    enrolled = Enrollment.objects.on(timezone.localdate()).filter(course=course)
    students = list(Student.objects.filter(pk__in=enrolled.values("student_id"), is_active=True))
    return cards_response(students, title=f"{course.code} {course.name}", filename=f"check-in-cards-{course.code}")


@require_GET
@login_required
def student_card(request: HttpRequest, student_id: int) -> HttpResponse:
    student = get_object_or_404(students_for(user=request.user), pk=student_id)
    if not student.is_active:
        return HttpResponse(INACTIVE, status=409, content_type="text/plain; charset=utf-8")
    return cards_response([student], title=DEFAULT_TITLE, filename=f"check-in-card-{student.student_number}")
