"""The real photos in ../shared/faces and their expected results (manifest.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared"
FACES = SHARED / "faces"
WEIGHTS = SHARED / "models" / "facenet-casia-webface.pt"


@cache
def manifest() -> dict[str, Any]:
    return json.loads((FACES / "manifest.json").read_text())


def face_bytes(relative: str) -> bytes:
    return (FACES / relative).read_bytes()
