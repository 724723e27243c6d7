"""Printable check-in cards: A4 pages of credit-card-sized cards, two columns of five.

Each card has the title (the course, or the app's name), the student's name and number, and on
its right a QR code of `card_qr_text` about 37 mm wide with its quiet zone kept, large enough for a
webcam to read across a classroom's front row. The cards touch, so their borders are the cut lines.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from students.cards import card_qr_text
from students.models import Student

DEFAULT_TITLE = "Class attendance"
FOOTER = "Check-in card: hold it up to the class camera."

CARD_WIDTH, CARD_HEIGHT = 85.6 * mm, 54 * mm  # ISO/IEC 7810 ID-1, a bank card
COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT = (PAGE_WIDTH - COLUMNS * CARD_WIDTH) / 2
TOP = PAGE_HEIGHT - (PAGE_HEIGHT - ROWS * CARD_HEIGHT) / 2
# The QR code's square, quiet zone included, at the card's right edge.
QR_BOX = 46 * mm
QR_MARGIN = (CARD_HEIGHT - QR_BOX) / 2
PADDING = 3 * mm
TEXT_WIDTH = CARD_WIDTH - QR_BOX - QR_MARGIN - PADDING
BORDER_GREY = 0.6
MUTED_GREY = 0.35  # about 8:1 against white

# DejaVu Sans covers the Latin, Greek and Cyrillic alphabets of students' names; reportlab's own
# Helvetica only Western European ones. Debian's fonts-dejavu-core installs it here.
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str


@functools.cache
def fonts() -> Fonts:
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        return Fonts(regular="Helvetica", bold="Helvetica-Bold")
    pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
    return Fonts(regular="DejaVuSans", bold="DejaVuSans-Bold")


@dataclass(frozen=True)
class Fitted:
    lines: list[str]
    size: float

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * 1.2


def fit_text(text: str, *, font: str, width: float, max_lines: int, largest: float, smallest: float) -> Fitted:
    """`text` in at most `max_lines` lines no wider than `width`, broken between words at the
    largest size from `largest` down to `smallest` where that fits; at `smallest` a word too long
    for a line is broken too, and the last line cut short with an ellipsis."""
    size = largest
    lines = simpleSplit(text, font, size, width)
    while not _fits(lines, font=font, size=size, width=width, max_lines=max_lines) and size > smallest:
        size = max(smallest, size - 0.5)
        lines = simpleSplit(text, font, size, width)
    if _fits(lines, font=font, size=size, width=width, max_lines=max_lines):
        return Fitted(lines=lines, size=size)
    lines = [part for line in lines for part in _break_word(line, font=font, size=size, width=width)]
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and pdfmetrics.stringWidth(last + "\N{HORIZONTAL ELLIPSIS}", font, size) > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last.rstrip() + "\N{HORIZONTAL ELLIPSIS}"]
    return Fitted(lines=lines, size=size)


def _fits(lines: list[str], *, font: str, size: float, width: float, max_lines: int) -> bool:
    return len(lines) <= max_lines and all(pdfmetrics.stringWidth(line, font, size) <= width for line in lines)


def _break_word(line: str, *, font: str, size: float, width: float) -> list[str]:
    """The line in pieces no wider than `width` (a line of one long word is wider)."""
    pieces = []
    while pdfmetrics.stringWidth(line, font, size) > width:
        cut = len(line) - 1
        while cut > 1 and pdfmetrics.stringWidth(line[:cut], font, size) > width:
            cut -= 1
        pieces.append(line[:cut])
        line = line[cut:]
    return [*pieces, line]


def cards_pdf(students: Sequence[Student], *, title: str) -> bytes:
    """A PDF of the students' current check-in cards, in the order given, ten to an A4 page."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle(f"Check-in cards: {title}")
    if not students:
        canvas.setFont(fonts().regular, 12)
        canvas.drawString(LEFT, TOP - 12, "No students to print check-in cards for.")
    for index, student in enumerate(students):
        if index and index % PER_PAGE == 0:
            canvas.showPage()
        row, column = divmod(index % PER_PAGE, COLUMNS)
        _card(canvas, student, title=title, x=LEFT + column * CARD_WIDTH, y=TOP - (row + 1) * CARD_HEIGHT)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _card(canvas: Canvas, student: Student, *, title: str, x: float, y: float) -> None:
    """One card with its lower left corner at (x, y)."""
    canvas.setStrokeGray(BORDER_GREY)
    canvas.setLineWidth(0.5)
    canvas.rect(x, y, CARD_WIDTH, CARD_HEIGHT)
    _qr(canvas, card_qr_text(student), x=x + CARD_WIDTH - QR_MARGIN - QR_BOX, y=y + QR_MARGIN)

    face = fonts()
    left, top = x + PADDING, y + CARD_HEIGHT - PADDING
    heading = fit_text(title, font=face.bold, width=TEXT_WIDTH, max_lines=2, largest=8, smallest=6)
    name = fit_text(student.full_name, font=face.bold, width=TEXT_WIDTH, max_lines=3, largest=13, smallest=7)
    number = fit_text(student.student_number, font=face.regular, width=TEXT_WIDTH, max_lines=1, largest=10, smallest=6)
    footer = fit_text(FOOTER, font=face.regular, width=TEXT_WIDTH, max_lines=2, largest=6, smallest=6)
    canvas.setFillGray(MUTED_GREY)
    top = _lines(canvas, heading, font=face.bold, left=left, top=top)
    canvas.setFillGray(0)
    top = _lines(canvas, name, font=face.bold, left=left, top=top - 3 * mm)
    _lines(canvas, number, font=face.regular, left=left, top=top - 1 * mm)
    canvas.setFillGray(MUTED_GREY)
    _lines(canvas, footer, font=face.regular, left=left, top=y + PADDING + footer.height)
    canvas.setFillGray(0)


def _lines(canvas: Canvas, text: Fitted, *, font: str, left: float, top: float) -> float:
    """Draw the lines from `top` down; returns where they end."""
    canvas.setFont(font, text.size)
    for line in text.lines:
        top -= text.size * 1.2
        canvas.drawString(left, top + text.size * 0.25, line)
    return top


def _qr(canvas: Canvas, text: str, *, x: float, y: float) -> None:
    """The QR code of `text` in the QR_BOX square at (x, y), its quiet zone left white."""
    # M, or Q where that fits in the same size: a worn card still reads.
    code = segno.make(text, error="m", micro=False, boost_error=True)
    border = code.default_border_size
    modules = len(code.matrix)
    module = QR_BOX / (modules + 2 * border)
    canvas.setFillGray(0)
    for row, values in enumerate(code.matrix):
        top = y + QR_BOX - (border + row) * module
        column = 0
        # A rectangle per run of dark modules: no hairline gaps between neighbours.
        while column < modules:
            if not values[column]:
                column += 1
                continue
            start = column
            while column < modules and values[column]:
                column += 1
            canvas.rect(x + (border + start) * module, top - module, (column - start) * module, module, 0, 1)
