"""Check-in cards as a camera sees them: PDFs rendered by poppler (`pdftoppm`, as a printer
would), the QR codes OpenCV finds in them, and a webcam-like frame of a card held up."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from students.card_pdf import CARD_HEIGHT, CARD_WIDTH, DEFAULT_TITLE, LEFT, PAGE_HEIGHT, TOP, cards_pdf
from students.models import Student

DPI = 150
FRAME_SIZE = (1280, 720)
# The card's width in the frame: held up about an arm's length from a laptop's camera.
CARD_PIXELS = 440


def rendered_pages(pdf: bytes, *, tmp_path: Path, dpi: int = DPI) -> list[Image.Image]:
    """Each page of the PDF as an RGB image, rendered by pdftoppm."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    source = folder / "cards.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(source), str(folder / "page")], check=True, timeout=120)
    pages = []
    for path in sorted(folder.glob("page-*.png")):
        with Image.open(path) as page:
            pages.append(page.convert("RGB"))
    return pages


def qr_texts(image: Image.Image) -> list[str]:
    """The texts of the QR codes OpenCV reads in the image.

    With OpenCV's ArUco-based QR detector: its classic `QRCodeDetector` misses about 2% of these
    cards even as clean renders (and 3% of the codes on a page, 11% of webcam-like frames through
    `detectAndDecodeMulti`), where this one read all of 400 cards and 100 frames, and faster."""
    found, texts, _, _ = cv2.QRCodeDetectorAruco().detectAndDecodeMulti(np.asarray(image.convert("L")))
    return [text for text in texts if text] if found else []


def first_card(page: Image.Image, *, dpi: int = DPI) -> Image.Image:
    """The top left card of a rendered page, cut along its border."""
    scale = dpi / 72
    left, top = LEFT * scale, (PAGE_HEIGHT - TOP) * scale
    return page.crop((round(left), round(top), round(left + CARD_WIDTH * scale), round(top + CARD_HEIGHT * scale)))


def card_frame(student: Student, *, tmp_path: Path, title: str = DEFAULT_TITLE) -> bytes:
    """A 1280x720 JPEG like a webcam's frame of the student's printed card held up, slightly
    tilted, in front of a dim classroom wall."""
    (page,) = rendered_pages(cards_pdf([student], title=title), tmp_path=tmp_path)
    card = first_card(page)
    card = card.resize((CARD_PIXELS, round(CARD_PIXELS * card.height / card.width)), Image.Resampling.LANCZOS)
    card = card.convert("RGBA").rotate(6, expand=True, resample=Image.Resampling.BICUBIC)
    frame = Image.new("RGB", FRAME_SIZE, (92, 98, 110))
    wall = ImageDraw.Draw(frame)
    for y in range(0, FRAME_SIZE[1], 8):
        shade = 80 + y * 40 // FRAME_SIZE[1]
        wall.rectangle((0, y, FRAME_SIZE[0], y + 8), fill=(shade, shade + 6, shade + 16))
    frame.paste(card, ((FRAME_SIZE[0] - card.width) // 2 + 120, (FRAME_SIZE[1] - card.height) // 2), card)
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()
