"""Hypothesis strategies for untrusted bytes: mutated real images, random bytes and edge cases.

Every strategy draws a `Fuzzed` value that says how it was made (its kind and the mutations
applied), so a failure shows its recipe and the run's summary can say which faults were injected.
"""

from __future__ import annotations

import datetime
import io
import json
import struct
import zlib
from collections.abc import Callable
from functools import cache, partial
from typing import Literal

from hypothesis import strategies as st
from PIL import Image

from tests.faces import FACES

# Small, so each case decodes in a millisecond or two; a real face, so the pixels are not flat.
SAMPLE_SIZE = (64, 48)
ORIENTATION = 0x0112
ByteOrder = Literal["big", "little"]


class Fuzzed:
    """Bytes and how they were made.

    Not a dataclass: Hypothesis would print a failing case of a few megabytes field by field. The
    tests `note()` its repr instead: the recipe and the first bytes.
    """

    def __init__(self, data: bytes, kind: str, recipe: tuple[str, ...]) -> None:
        self.data = data
        self.kind = kind  # "valid", "mutated", "random", "edge" or "text"
        self.recipe = recipe  # the sample and the mutations, or what kind of case it is

    @property
    def faults(self) -> tuple[str, ...]:
        """What was injected: the mutations, "random bytes", or the kind of edge case."""
        if self.kind == "mutated":
            return self.recipe[1:]
        if self.kind == "valid":
            return ("none (valid)",)
        if self.kind in ("random", "text"):
            return self.recipe
        return (f"edge: {self.recipe[0]}",)

    def __repr__(self) -> str:
        head = self.data[:24]
        return f"Fuzzed({self.kind}, {' + '.join(self.recipe)}, {len(self.data)} bytes, starts {head!r})"


def _encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@cache
def face_sample() -> Image.Image:
    """A downscaled photo of ../shared/faces (edge/obama_small.jpg, the face in the middle)."""
    with Image.open(FACES / "edge" / "obama_small.jpg") as photo:
        return photo.convert("RGB").resize(SAMPLE_SIZE, Image.Resampling.LANCZOS)


@cache
def samples() -> dict[str, bytes]:
    """The valid images the mutations start from: each accepted format in its common variants."""
    face = face_sample()
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return {
        "jpeg": _encode(face, "JPEG", quality=85),
        "jpeg-progressive": _encode(face, "JPEG", quality=80, progressive=True),
        "jpeg-exif-rotated": _encode(face, "JPEG", quality=80, exif=exif.tobytes()),
        "jpeg-greyscale": _encode(face.convert("L"), "JPEG", quality=80),
        "png": _encode(face, "PNG"),
        "png-palette": _encode(face.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0),
        "png-rgba": _encode(face.convert("RGBA"), "PNG"),
        "png-interlaced": _encode(face.convert("L"), "PNG", interlace=1),
        "webp": _encode(face, "WEBP", quality=70),
        "webp-lossless": _encode(face, "WEBP", lossless=True),
    }


# --- Mutations --------------------------------------------------------------------------------

INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]
# Big-endian and little-endian integers that break size fields: zero, one, sign edges, huge.
INTERESTING_INTS = [0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 65_500, 100_000, 0x7FFF_FFFF, 0xFFFF_FFFF]


@st.composite
def _bit_flip(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "bit-flip(empty)"
    at = draw(st.integers(0, len(data) - 1))
    bit = draw(st.integers(0, 7))
    return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :], "bit-flip"


@st.composite
def _set_byte(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "set-byte(empty)"
    at = draw(st.integers(0, len(data) - 1))
    value = draw(st.sampled_from(INTERESTING_BYTES) | st.integers(0, 255))
    return data[:at] + bytes([value]) + data[at + 1 :], "set-byte"


@st.composite
def _insert(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(data)))
    extra = draw(st.binary(min_size=1, max_size=64))
    return data[:at] + extra + data[at:], "insert"


@st.composite
def _delete(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    if not data:
        return data, "delete(empty)"
    at = draw(st.integers(0, len(data) - 1))
    length = draw(st.integers(1, 256))
    return data[:at] + data[at + length :], "delete"


@st.composite
def _truncate(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    return data[: draw(st.integers(0, max(len(data) - 1, 0)))], "truncate"


@st.composite
def _duplicate(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """Copy a chunk of the file elsewhere in it: repeated markers, chunks and headers."""
    if not data:
        return data, "duplicate(empty)"
    start = draw(st.integers(0, len(data) - 1))
    chunk = data[start : start + draw(st.integers(1, 512))]
    at = draw(st.integers(0, len(data)))
    return data[:at] + chunk * draw(st.integers(1, 4)) + data[at:], "duplicate"


@st.composite
def _splice(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """Another format's header on this file's body, or this header on another body."""
    other = samples()[draw(st.sampled_from(sorted(samples())))]
    cut = draw(st.integers(1, 128))
    if draw(st.booleans()):
        return other[:cut] + data[cut:], "splice-header"
    return data[:cut] + other[cut:], "splice-body"


@st.composite
def _overwrite_int(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """A 2- or 4-byte integer written anywhere: size fields, chunk lengths, offsets."""
    if len(data) < 4:
        return data, "overwrite-int(short)"
    width = draw(st.sampled_from([2, 4]))
    at = draw(st.integers(0, len(data) - width))
    value = draw(st.sampled_from(INTERESTING_INTS)) & ((1 << (8 * width)) - 1)
    order: ByteOrder = draw(st.sampled_from(["big", "little"]))
    return data[:at] + value.to_bytes(width, order) + data[at + width :], "overwrite-int"


def jpeg_frame_header(data: bytes | bytearray) -> int | None:
    """The offset of a JPEG's SOF marker (baseline, extended or progressive), found segment by segment."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return at
        if marker == 0xDA:  # the compressed data starts: no frame header before it
            return None
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _dimension_fields(data: bytes) -> list[tuple[int, int, ByteOrder]]:
    """Where the image's declared width and height are: (offset, size, byte order) for each."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return [(16, 4, "big"), (20, 4, "big")]
    if data.startswith(b"\xff\xd8"):
        at = jpeg_frame_header(data)
        if at is not None:
            return [(at + 5, 2, "big"), (at + 7, 2, "big")]
    if data.startswith(b"RIFF") and len(data) >= 30:
        if data[12:16] == b"VP8X":
            return [(24, 3, "little"), (27, 3, "little")]
        if data[12:16] == b"VP8 ":
            return [(26, 2, "little"), (28, 2, "little")]
        if data[12:16] == b"VP8L":
            return [(21, 4, "little")]  # 14 bits each, packed
    return []


@st.composite
def _declared_size(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """The header's own width or height rewritten: zero, tiny, huge (a bomb) or anything."""
    fields = _dimension_fields(data)
    if not fields:
        return data, "declared-size(no header)"
    at, width, order = draw(st.sampled_from(fields))
    top = (1 << (8 * width)) - 1
    value = draw(st.sampled_from([0, 1, 2, top, top // 2, 65_535, 100_000]) | st.integers(0, top)) & top
    return data[:at] + value.to_bytes(width, order) + data[at + width :], "declared-size"


Mutation = Callable[[bytes], st.SearchStrategy[tuple[bytes, str]]]
BYTE_MUTATIONS: list[Mutation] = [_bit_flip, _set_byte, _insert, _delete, _truncate, _duplicate, _overwrite_int]
IMAGE_MUTATIONS: list[Mutation] = [*BYTE_MUTATIONS, _splice, _declared_size]


def _mutate(draw: st.DrawFn, data: bytes, mutations: list[Mutation]) -> tuple[bytes, list[str]]:
    """One to six mutations applied in turn; mostly one or two, so many cases get past the header."""
    labels = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4, 6]))):
        data, label = draw(draw(st.sampled_from(mutations))(data))
        labels.append(label)
    return data, labels


@st.composite
def mutated_images(draw: st.DrawFn) -> Fuzzed:
    """A real small image with mutations applied."""
    name = draw(st.sampled_from(sorted(samples())))
    data, labels = _mutate(draw, samples()[name], IMAGE_MUTATIONS)
    return Fuzzed(data, "mutated", (name, *labels))


def random_bytes(max_size: int = 4096) -> st.SearchStrategy[Fuzzed]:
    return st.binary(max_size=max_size).map(lambda data: Fuzzed(data, "random", ("random bytes",)))


# --- Edge cases -------------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_declaring(width: int, height: int) -> bytes:
    """An 8-bit RGB PNG whose header declares width x height, with pixel data for one row at most."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 4096), 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """The sample JPEG with its SOF header rewritten to declare width x height."""
    data = bytearray(samples()["jpeg"])
    at = jpeg_frame_header(data)
    assert at is not None
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """The sample lossy WebP with its VP8 frame header rewritten to declare width x height (14 bits each)."""
    data = bytearray(samples()["webp"])
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"
    data[26:30] = struct.pack("<HH", width, height)
    return bytes(data)


MAGIC = {
    "png-signature": b"\x89PNG\r\n\x1a\n",
    "jpeg-soi": b"\xff\xd8\xff",
    "jpeg-soi-eoi": b"\xff\xd8\xff\xd9",
    "riff-webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "bmp": b"BM" + b"\x00" * 60,
    "tiff": b"II*\x00\x08\x00\x00\x00",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"/>',
    "zip": b"PK\x03\x04" + b"\x00" * 26,
    "utf8-bom-text": b"\xef\xbb\xbfName,number\n",
    "nul": b"\x00",
}


@st.composite
def edge_cases(draw: st.DrawFn) -> Fuzzed:
    """Empty files, bare magic numbers, other formats, wrong magic and huge declared sizes."""
    kind = draw(
        st.sampled_from(
            ["empty", "magic", "other-format", "wrong-magic", "png-declaring", "jpeg-declaring", "webp-declaring"]
        )
    )
    if kind == "empty":
        return Fuzzed(b"", "edge", ("empty",))
    if kind == "magic":
        name = draw(st.sampled_from(sorted(MAGIC)))
        return Fuzzed(MAGIC[name], "edge", ("magic", name))
    if kind == "other-format":
        format = draw(st.sampled_from(["GIF", "BMP", "TIFF", "ICO", "PPM", "TGA", "PCX"]))
        return Fuzzed(_encode(face_sample(), format), "edge", ("other-format", format))
    if kind == "wrong-magic":
        # One format's body behind another's signature.
        body = samples()[draw(st.sampled_from(sorted(samples())))]
        name = draw(st.sampled_from(sorted(MAGIC)))
        return Fuzzed(MAGIC[name] + body, "edge", ("wrong-magic", name))
    if kind == "png-declaring":
        size = st.sampled_from([0, 1, 100_000, 2**31 - 1, 2**32 - 1]) | st.integers(0, 2**32 - 1)
        width, height = draw(size), draw(size)
        return Fuzzed(png_declaring(width, height), "edge", ("png-declaring", f"{width}x{height}"))
    if kind == "jpeg-declaring":
        size = st.sampled_from([0, 1, 65_535]) | st.integers(0, 65_535)
        width, height = draw(size), draw(size)
        return Fuzzed(jpeg_declaring(width, height), "edge", ("jpeg-declaring", f"{width}x{height}"))
    size = st.sampled_from([0, 1, 16_383, 65_535]) | st.integers(0, 16_383)
    width, height = draw(size), draw(size)
    return Fuzzed(webp_declaring(width, height), "edge", ("webp-declaring", f"{width}x{height}"))


def fuzzed_images() -> st.SearchStrategy[Fuzzed]:
    """Mostly mutated real images, then random bytes and edge cases (about 6:2:2)."""
    mutated = mutated_images()
    return st.one_of(mutated, mutated, mutated, random_bytes(), edge_cases())


# --- CSV roster files ---------------------------------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
FORMULAS = ["=1+1", '=HYPERLINK("http://example.com","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1"]
BOMS = [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]


def _line_starts(data: bytes) -> list[int]:
    return [0] + [at + 1 for at, byte in enumerate(data) if byte == 0x0A]


@st.composite
def _insert_text(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.text(min_size=1, max_size=40)).encode() + data[at:], "unicode-text"


@st.composite
def _invalid_utf8(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:], "invalid-utf8"


@st.composite
def _nul(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(data)))
    return data[:at] + b"\x00" + data[at:], "nul"


@st.composite
def _huge_line(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """A line past the csv module's field limit (131,072) or past the file's size limit (1 MB)."""
    size = draw(st.sampled_from([1_000, 131_073, 1_048_577]))
    at = draw(st.sampled_from(_line_starts(data)))
    return data[:at] + draw(st.sampled_from([b"x", b"S001", b'"'])) * size + b"\n" + data[at:], "huge-line"


@st.composite
def _many_columns(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    starts = _line_starts(data)
    index = draw(st.integers(0, len(starts) - 1))
    end = starts[index + 1] - 1 if index + 1 < len(starts) else len(data)
    cells = draw(st.sampled_from([b",x", b",", b";x", b",=1+1"])) * draw(st.sampled_from([10, 1_000, 20_000]))
    return data[:end] + cells + data[end:], "many-columns"


@st.composite
def _bom(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.sampled_from([0, *_line_starts(data)]))
    return data[:at] + draw(st.sampled_from(BOMS)) + data[at:], "bom"


@st.composite
def _formula(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """A spreadsheet formula as a cell (CSV injection): it must be shown as text, never evaluated."""
    at = draw(st.sampled_from(_line_starts(data)))
    cell = draw(st.sampled_from(FORMULAS)).encode()
    return data[:at] + cell + draw(st.sampled_from([b"\n", b",", b";"])) + data[at:], "formula"


@st.composite
def _quote(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.sampled_from([b'"', b'""', b'"\n', b'\\"'])) + data[at:], "quote"


@st.composite
def _line_endings(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    ending = draw(st.sampled_from([b"\r\n", b"\r", b"\n\n", b"\x0b", b"\x1e", "\u2028".encode()]))
    return data.replace(b"\n", ending), "line-endings"


@st.composite
def _delimiter(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    old, new = draw(st.sampled_from([b",", b";"])), draw(st.sampled_from([b";", b",", b"\t", b"|", b" "]))
    return data.replace(old, new), "delimiter"


@st.composite
def _many_rows(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """More lines than the import takes (5,000), by repeating the last line."""
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"
    return data + last * draw(st.sampled_from([10, 5_001])), "many-rows"


@st.composite
def _re_encode(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "latin-1", "cp1252", "utf-32"]))
    return data.decode("utf-8", "replace").encode(encoding, "replace"), "re-encode"


CSV_MUTATIONS: list[Mutation] = [
    *BYTE_MUTATIONS,
    _insert_text,
    _invalid_utf8,
    _nul,
    _huge_line,
    _many_columns,
    _bom,
    _formula,
    _quote,
    _line_endings,
    _delimiter,
    _many_rows,
    _re_encode,
]

HEADER_NAMES = {
    "student_number": ["student_number", "Student number", "STUDENT-NUMBER"],
    "start_date": ["start_date", "Start date"],
    "end_date": ["end_date", "End date"],
}
dates = st.dates(min_value=datetime.date(2020, 2, 1), max_value=datetime.date(2029, 12, 31))


@st.composite
def valid_csvs(draw: st.DrawFn, numbers: list[str]) -> Fuzzed:
    """A file the import must take without errors: known students, dates in order, a start with every end.

    The dates are chosen so that none ends before an existing enrolment (of the fixtures) starts.
    """
    columns = ["student_number", *draw(st.lists(st.sampled_from(["start_date", "end_date"]), unique=True))]
    columns = draw(st.permutations(columns))
    delimiter = draw(st.sampled_from([",", ";"]))
    header = delimiter.join(draw(st.sampled_from(HEADER_NAMES[column])) for column in columns)
    lines = [header]
    for number in draw(st.lists(st.sampled_from(numbers), unique=True, max_size=len(numbers))):
        start = draw(st.none() | dates) if "start_date" in columns else None
        end = None
        if start is not None and "end_date" in columns:
            end = draw(st.none() | st.dates(min_value=start, max_value=datetime.date(2029, 12, 31)))
        values = {"student_number": number, "start_date": start, "end_date": end}
        cells = [values[column] or "" for column in columns]
        lines.append(delimiter.join(str(cell) for cell in cells))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    data = draw(st.sampled_from([b"", b"\xef\xbb\xbf"])) + text.encode()
    return Fuzzed(data, "valid", ("valid",))


@st.composite
def mutated_csvs(draw: st.DrawFn, numbers: list[str]) -> Fuzzed:
    data, labels = _mutate(draw, draw(valid_csvs(numbers)).data, CSV_MUTATIONS)
    return Fuzzed(data, "mutated", ("valid", *labels))


@st.composite
def csv_edge_cases(draw: st.DrawFn) -> Fuzzed:
    cases = {
        "empty": b"",
        "blank lines": b"\n\n \r\n\t\n",
        "bom only": b"\xef\xbb\xbf",
        "header only": b"student_number\n",
        "no header": b"S001\nS002\n",
        "unknown column": b"student_number,email\nS001,a@example.com\n",
        "duplicate column": b"student_number,student_number\nS001,S001\n",
        "many header columns": b"student_number" + b",x" * 5_000 + b"\nS001\n",
        "bad date": b"student_number,start_date\nS001,2024-02-30\n",
        "end before start": b"student_number,start_date,end_date\nS001,2024-09-01,2024-01-01\n",
        "unknown number": b"student_number\nNOPE-404\n",
        "long number": b"student_number\n" + b"9" * 10_000 + b"\n",
        "utf-16": "student_number\nS001\n".encode("utf-16"),
        "image": samples()["png"],
        "over 1 MB": b"student_number\n" + b"S001\n" * 210_000,
        "quoted newline": b'student_number\n"S0\n01"\n',
        "unclosed quote": b'student_number\n"S001\n',
    }
    name = draw(st.sampled_from(sorted(cases)))
    return Fuzzed(cases[name], "edge", (name,))


def random_text() -> st.SearchStrategy[Fuzzed]:
    """Any unicode text (NULs included), in UTF-8 mostly, or in an encoding the import does not read."""
    return st.builds(
        lambda text, encoding: Fuzzed(text.encode(encoding, "replace"), "random", (f"random text ({encoding})",)),
        st.text(max_size=500),
        st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]),
    )


def csv_files(numbers: list[str]) -> st.SearchStrategy[Fuzzed]:
    """Valid files, mutated valid files, random bytes and text, and edge cases (about 2:5:1:1:1)."""
    valid, mutated = valid_csvs(numbers), mutated_csvs(numbers)
    return st.one_of(
        valid, valid, mutated, mutated, mutated, mutated, mutated, random_bytes(), random_text(), csv_edge_cases()
    )


# --- Websocket text messages --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def _nested(depth: int, array: bool) -> str:
    """JSON nested `depth` deep: arrays in arrays, or objects in objects."""
    if array:
        return "[" * depth + "0" + "]" * depth
    return '{"a":' * depth + "0" + "}" * depth


def text_messages() -> st.SearchStrategy[Fuzzed]:
    """Any text, any JSON, JSON of other types, deep nesting, huge text; `data` is UTF-8."""
    depths = st.sampled_from([10, 999, 1_000, 5_000, 100_000]) | st.integers(1, 200_000)
    kinds: dict[str, st.SearchStrategy[str]] = {
        "unicode text": st.text(max_size=1_000),
        "JSON value": json_values.map(json.dumps),
        "JSON with a type": st.fixed_dictionaries({"type": json_values}, optional={"frame": json_values}).map(
            json.dumps
        ),
        "ping": st.just('{"type": "ping"}'),
        "deeply nested JSON": st.builds(_nested, depths, st.booleans()),
        "huge text": st.sampled_from([65_536, 1_048_577, 4_000_000]).map(lambda n: "a" * n),
        "edge": st.sampled_from(
            ["", " ", "null", "NaN", "Infinity", "{", '{"type": "ping"', "\x00", "\ufeff{}", "[]", '"ping"']
        ),
    }
    return st.one_of([strategy.map(partial(_text_message, label)) for label, strategy in kinds.items()])


def _text_message(label: str, text: str) -> Fuzzed:
    return Fuzzed(text.encode(), "text", (label,))


# --- Dates, numbers and JSON bodies of the pages and the API ---------------------------------------

# The ends of Python's dates (arithmetic or a time-zone conversion there overflows) and of the years
# sessions may have (attendance.models.validate_supported_date).
EXTREME_DATES = ["0001-01-01", "9999-12-31", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01"]
EXTREME_DATETIMES = [
    "0001-01-01T00:00",
    "0001-01-01T00:00:00-12:00",
    "9999-12-31T23:59",
    "9999-12-31T22:00:00Z",
    "9999-12-31T23:59:59.999999+14:00",
    "2100-12-31T23:59:59-12:00",
    "2000-01-01T00:00:00+14:00",
]
NOT_DATES = ["", " ", "\x00", "2025-02-30", "2025-13-01", "99999-01-01", "-0001-01-01", "20250131", "today", "1e400"]
# Minutes at the edges of the bounds (a day: 1440; the form: 600) and of integer columns.
EXTREME_INTS = [-1, 0, 1, 600, 601, 1440, 1441, 2**31 - 1, 2**31, 2**40, 2**63, 10**30]
OFFSETS = [
    datetime.UTC,
    datetime.timezone(datetime.timedelta(hours=14)),
    datetime.timezone(datetime.timedelta(hours=-12)),
]


def date_texts() -> st.SearchStrategy[tuple[str, str]]:
    """(label, text) for a date field: extreme dates, any date Python knows, and text that is none."""
    return st.one_of(
        st.sampled_from(EXTREME_DATES).map(lambda text: ("extreme date", text)),
        st.dates().map(lambda day: ("any date", day.isoformat())),
        st.dates(datetime.date(2000, 1, 1), datetime.date(2100, 12, 31)).map(
            lambda day: ("a date in range", day.isoformat())
        ),
        st.sampled_from(NOT_DATES).map(lambda text: ("not a date", text)),
        st.text(max_size=12).map(lambda text: ("any text", text)),
    )


def datetime_texts() -> st.SearchStrategy[tuple[str, str]]:
    """(label, text) for a date-and-time field, as `date_texts` and with time zones at both ends."""
    return st.one_of(
        st.sampled_from(EXTREME_DATETIMES).map(lambda text: ("extreme date and time", text)),
        st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda moment: ("any date and time", moment.isoformat())),
        st.datetimes(
            min_value=datetime.datetime(2000, 1, 1),
            max_value=datetime.datetime(2100, 12, 31),
            timezones=st.just(datetime.UTC),
        ).map(lambda moment: ("a date and time in range", moment.isoformat())),
        st.sampled_from(NOT_DATES).map(lambda text: ("not a date", text)),
    )


def minutes() -> st.SearchStrategy[tuple[str, int]]:
    return st.one_of(
        st.sampled_from(EXTREME_INTS).map(lambda value: ("extreme number", value)),
        st.integers(0, 1440).map(lambda value: ("minutes in range", value)),
        st.integers().map(lambda value: ("any integer", value)),
    )


# Raw JSON for a value: numbers past a float's range, the constants Python's decoder takes, and
# nesting past its recursion limit.
RAW_VALUES = ["1e400", "-1e400", "1e-400", "NaN", "Infinity", "-Infinity", "99999999999999999999999999", "-0"]


@st.composite
def json_bodies(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, object]]) -> Fuzzed:
    """A body for an endpoint taking a JSON object: a valid object (kind "valid"), or one with a
    field's value replaced (any JSON value, a huge or odd number, deep nesting, a NUL or a lone
    surrogate in text), deep
    nesting, JSON of another type, or text that is not JSON (kind "text")."""
    body = dict(draw(valid))
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "field value",
                "odd number",
                "nested value",
                "NUL or surrogate",
                "deeply nested JSON",
                "other type",
                "not JSON",
            ]
        )
    )
    depths = st.sampled_from([10, 900, 1_000, 5_000, 100_000])
    field = draw(st.sampled_from(sorted(body))) if body else "x"
    if kind == "valid":
        text = json.dumps(body)
    elif kind == "field value":
        text = json.dumps({**body, field: draw(json_values)})
    elif kind in ("odd number", "nested value"):
        raw = draw(st.sampled_from(RAW_VALUES)) if kind == "odd number" else _nested(draw(depths), draw(st.booleans()))
        text = json.dumps({**body, field: "\ufffe"}).replace('"\\ufffe"', raw)
    elif kind == "NUL or surrogate":
        text = json.dumps(
            {**body, field: draw(st.sampled_from(["\x00", "note\x00", "\x00" * 600, "\ud800", "a\udfff"]))}
        )
    elif kind == "deeply nested JSON":
        text = _nested(draw(depths), draw(st.booleans()))
    elif kind == "other type":
        text = json.dumps(draw(json_values.filter(lambda value: not isinstance(value, dict))))
    else:
        text = draw(st.sampled_from(["", "{", "{not json", "\x00", "\ufeff{}", "null", "'a'"]) | st.text(max_size=50))
    return Fuzzed(text.encode(), "valid" if kind == "valid" else "text", (kind,))


@st.composite
def session_fields(draw: st.DrawFn) -> tuple[tuple[str, ...], dict[str, object]]:
    """(labels, fields) of a session for the API: times from `datetime_texts`, the end often a few
    minutes after the start (so that many sessions get past that check), late minutes from `minutes`."""
    start_label, starts = draw(datetime_texts())
    end_label, ends = draw(datetime_texts())
    if draw(st.booleans()):
        try:
            ends = (
                datetime.datetime.fromisoformat(starts) + datetime.timedelta(minutes=draw(st.integers(1, 600)))
            ).isoformat()
            end_label = "ends minutes after the start"
        except (ValueError, OverflowError):
            pass
    late_label, late = draw(minutes())
    return (start_label, end_label, late_label), {"starts_at": starts, "ends_at": ends, "late_after_minutes": late}
