"""Check-in cards: a way in for students without face recognition.

A card's QR code holds `QR_PREFIX` and a token signed with the project's secret key (its own salt)
naming the student's pk and card version, never the student number. Raising the version
(`student_revoke_cards`) makes every card printed before it worthless. Changing the secret key
does the same for every student, unless the old key is kept in Django's SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from django.core import signing
from django.db.models import F
from django.utils import timezone

from config.web import ApplicationError
from students.models import Student

SALT = "students.cards"
# On the card: a version of the format, so a later one can be told apart.
QR_PREFIX = "ATT1:"
# A real token is about 60 characters; a QR code can hold thousands, which are not verified.
MAX_TOKEN_LENGTH = 100

NOT_A_CARD = "This QR code is not a check-in card."
NOT_OURS = "This card is not one of this school's cards."
REVOKED = "This card was revoked; ask for a new one."
INACTIVE = "This card's student is no longer active."


class CardRefused(ApplicationError):
    """A card that marks nobody, with the reason for the person holding it."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def card_token(student: Student) -> str:
    """The signed token of the student's current cards: "<pk>.<card version>:<signature>"."""
    return _signer().sign(f"{student.pk}.{student.card_version}")


def card_qr_text(student: Student) -> str:
    """What the QR code on the student's card says."""
    return QR_PREFIX + card_token(student)


def card_token_from_qr(text: str) -> str:
    """The token in a QR code's text, or CardRefused if the code is not one of our cards."""
    if len(text) > len(QR_PREFIX) + MAX_TOKEN_LENGTH or not text.startswith(QR_PREFIX):
        raise CardRefused(NOT_A_CARD)
    return text.removeprefix(QR_PREFIX)


def card_holder(token: str) -> Student:
    """The active student whose current card carries `token`, or CardRefused saying why not."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise CardRefused(NOT_OURS)
    try:
        value = _signer().unsign(token)
    except signing.BadSignature:
        raise CardRefused(NOT_OURS) from None
    # Signed by us, so in the form card_token wrote.
    pk, version = (int(part) for part in value.split("."))
    student = Student.objects.filter(pk=pk, is_active=True).first()
    if student is None:
        raise CardRefused(INACTIVE)
    # A higher version than the student's is no card we printed either (a database restored from before).
    if version != student.card_version:
        raise CardRefused(REVOKED)
    return student


def student_revoke_cards(*, student: Student) -> Student:
    """Make every card printed for the student stop working; their next card gets the new version."""
    # F(): two revocations at once both count, neither undoes the other.
    Student.objects.filter(pk=student.pk).update(card_version=F("card_version") + 1, updated_at=timezone.now())
    student.refresh_from_db(fields=["card_version", "updated_at"])
    return student
