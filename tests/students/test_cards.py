"""Check-in cards: the signed token, its refusals, revoking, and the printed PDF as a camera reads it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import segno
from django.core import signing
from PIL import Image
from reportlab.pdfbase import pdfmetrics

from students.card_pdf import TEXT_WIDTH, cards_pdf, fit_text, fonts
from students.cards import (
    INACTIVE,
    MAX_TOKEN_LENGTH,
    NOT_A_CARD,
    NOT_OURS,
    QR_PREFIX,
    REVOKED,
    CardRefused,
    card_holder,
    card_qr_text,
    card_token,
    card_token_from_qr,
    student_revoke_cards,
)
from students.models import Student
from tests.cards import FRAME_SIZE, card_frame, qr_texts, rendered_pages


def refusal(token: str) -> str:
    with pytest.raises(CardRefused) as refused:
        card_holder(token)
    return refused.value.message


def test_a_card_names_its_student(student: Student) -> None:
    assert card_holder(card_token_from_qr(card_qr_text(student))) == student


def test_the_token_does_not_hold_the_student_number_and_fits_a_small_qr_code(db: None) -> None:
    student = Student.objects.create(student_number="ZX4471Q", first_name="Ada", last_name="Lovelace")

    text = card_qr_text(student)

    assert "ZX4471Q" not in text
    assert len(card_token(student)) <= MAX_TOKEN_LENGTH
    # Version 4 (33 modules): big modules, read from further away.
    assert segno.make(text, error="m", micro=False).symbol_size(border=0) == (33, 33)


@pytest.mark.parametrize("where", ["pk", "version", "signature", "end"])
def test_a_token_with_one_character_changed_is_refused(student: Student, where: str) -> None:
    token = list(card_token(student))
    position = {"pk": 0, "version": token.index(".") + 1, "signature": token.index(":") + 1, "end": -1}[where]
    token[position] = "9" if token[position] != "9" else "8"

    assert refusal("".join(token)) == NOT_OURS


def test_a_token_signed_for_something_else_is_refused(student: Student) -> None:
    other_use = signing.Signer(salt="another.purpose").sign(f"{student.pk}.{student.card_version}")

    assert refusal(other_use) == NOT_OURS
    assert refusal("") == NOT_OURS


def test_revoking_refuses_every_card_printed_before_and_new_cards_work(student: Student) -> None:
    old = card_token(student)

    student_revoke_cards(student=student)

    assert refusal(old) == REVOKED
    assert student.card_version == 2
    assert card_holder(card_token(student)) == student


def test_revocations_at_once_both_count(student: Student) -> None:
    stale = Student.objects.get(pk=student.pk)

    student_revoke_cards(student=student)
    student_revoke_cards(student=stale)

    student.refresh_from_db()
    assert student.card_version == 3


def test_the_card_of_an_inactive_or_deleted_student_is_refused(student: Student) -> None:
    token = card_token(student)
    Student.objects.filter(pk=student.pk).update(is_active=False)
    assert refusal(token) == INACTIVE

    student.delete()
    assert refusal(token) == INACTIVE


@pytest.mark.parametrize("text", ["https://example.com/", "Hello", "att1:1.1:x", "", QR_PREFIX.rstrip(":")], ids=repr)
def test_a_qr_code_that_is_no_card_is_refused(text: str) -> None:
    with pytest.raises(CardRefused) as refused:
        card_token_from_qr(text)

    assert refused.value.message == NOT_A_CARD


@pytest.mark.parametrize("nonsense", ["1.1:nonsense", ":", "1.1:", "\x00:\x00", "é.ü:ß", "1.1:" + "A" * 43], ids=repr)
def test_a_qr_code_with_our_prefix_and_nonsense_is_not_ours(db: None, nonsense: str) -> None:
    assert refusal(card_token_from_qr(QR_PREFIX + nonsense)) == NOT_OURS


def test_overlong_text_is_refused_without_verifying_it(monkeypatch: pytest.MonkeyPatch, student: Student) -> None:
    def unsign(*args: Any) -> None:
        raise AssertionError("an overlong token was verified")

    monkeypatch.setattr(signing.Signer, "unsign", unsign)
    long_token = card_token(student) + "x" * MAX_TOKEN_LENGTH

    assert refusal(long_token) == NOT_OURS
    with pytest.raises(CardRefused, match=NOT_A_CARD):
        card_token_from_qr(QR_PREFIX + long_token)


def test_cards_survive_a_secret_key_rotated_with_a_fallback(student: Student, settings: Any) -> None:
    token = card_token(student)
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-for-the-test", [old_key]
    assert card_holder(token) == student

    settings.SECRET_KEY_FALLBACKS = []
    assert refusal(token) == NOT_OURS


# --- The PDF ---------------------------------------------------------------------------------


@pytest.fixture
def pupils(db: None) -> list[Student]:
    names = [
        ("Ada", "Lovelace"),
        ("Maximiliana Alexandrina", "Wolfeschlegelsteinhausenbergerdorff"),
        ("Łukasz", "Żółć"),
    ]
    names += [(f"Pupil{index}", "Example") for index in range(9)]
    return [
        Student.objects.create(student_number=f"S{100 + index}", first_name=first, last_name=last)
        for index, (first, last) in enumerate(names)
    ]


def test_every_card_of_a_rendered_pdf_is_read_to_its_student(pupils: list[Student], tmp_path: Path) -> None:
    pdf = cards_pdf(pupils, title="CS101 Computing")

    pages = rendered_pages(pdf, tmp_path=tmp_path)

    assert len(pages) == 2  # ten cards a page
    read = [card_holder(card_token_from_qr(text)) for page in pages for text in qr_texts(page)]
    assert sorted(student.pk for student in read) == sorted(student.pk for student in pupils)
    assert [len(qr_texts(page)) for page in pages] == [10, 2]


def test_a_webcam_frame_of_a_card_is_read(student: Student, tmp_path: Path) -> None:
    frame = Image.open(io.BytesIO(card_frame(student, tmp_path=tmp_path)))

    assert frame.size == FRAME_SIZE
    assert frame.format == "JPEG"
    assert qr_texts(frame) == [card_qr_text(student)]


def test_a_pdf_without_students_says_so(tmp_path: Path) -> None:
    pdf = cards_pdf([], title="CS101 Computing")

    (page,) = rendered_pages(pdf, tmp_path=tmp_path)
    assert qr_texts(page) == []
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize(
    "text",
    ["Ada Lovelace", "Maximiliana Alexandrina Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh", "X" * 80],
    ids=["short", "long words", "one endless word"],
)
def test_a_name_is_fitted_to_the_card_without_overflowing(text: str) -> None:
    font = fonts().bold

    fitted = fit_text(text, font=font, width=TEXT_WIDTH, max_lines=3, largest=13, smallest=7)

    assert 1 <= len(fitted.lines) <= 3
    assert 7 <= fitted.size <= 13
    assert all(pdfmetrics.stringWidth(line, font, fitted.size) <= TEXT_WIDTH for line in fitted.lines)


def test_a_short_name_keeps_its_size_and_an_endless_one_is_cut_with_an_ellipsis() -> None:
    font = fonts().bold

    short = fit_text("Ada Lovelace", font=font, width=TEXT_WIDTH, max_lines=3, largest=13, smallest=7)
    endless = fit_text("X" * 200, font=font, width=TEXT_WIDTH, max_lines=3, largest=13, smallest=7)

    assert short.size == 13
    assert "".join(short.lines).replace(" ", "") == "AdaLovelace"
    assert endless.size == 7
    assert endless.lines[-1].endswith("\N{HORIZONTAL ELLIPSIS}")
