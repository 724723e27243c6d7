"""CSV file imports every app may use: reading the file line by line, and the admin page that
previews what a file would change and applies it once confirmed.

`csv_lines` turns whatever the bytes are into data lines, or one `CsvFileError` for the file as a
whole (not UTF-8, not CSV, too large, too many lines); the formats (columns, what a value means)
are the apps'. `csv_import_page` carries the checked file to the confirm button signed, so that
what is applied is exactly what was previewed; it needs no storage on the server.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse

from config.web import ApplicationError

MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Values longer than this are cut short in messages; no student number is anywhere near it.
SHOWN_CHARS = 40
SIGNED_MAX_AGE = 3600

T = TypeVar("T")
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class LineError:
    """A problem on one line of the file (line 0: the file as a whole)."""

    line: int
    message: str


class CsvFileError(Exception):
    """What is wrong with the file as a whole (or with its header line)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.error = LineError(line, message)


class CsvLine(NamedTuple):
    """A non-blank data line: its number, {column: stripped value}, and whether it has values past the header's."""

    line: int
    values: dict[str, str]
    too_many: bool


def csv_lines(data: bytes, *, needs: str, columns: Callable[[int, list[str]], list[str]]) -> list[CsvLine]:
    """The file's non-blank data lines; `columns` names the header's cells (or raises CsvFileError),
    `needs` says what the header needs in the message for an empty file.

    UTF-8 with or without a byte order mark, commas or semicolons (as some spreadsheets save them).
    Raises CsvFileError for what concerns the whole file.
    """
    if len(data) > MAX_BYTES:
        raise CsvFileError(0, f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller files.")
    if b"\x00" in data:
        raise CsvFileError(0, "The file is not a CSV text file (save it from the spreadsheet as “CSV UTF-8”).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvFileError(
            line, f"Line {line} is not UTF-8 text; save the file from the spreadsheet as “CSV UTF-8”."
        ) from None
    if not text.strip():
        raise CsvFileError(0, f"The file is empty; it needs a header line with {needs} and a line per student.")

    first = text.lstrip().partition("\n")[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    names: list[str] | None = None
    lines: list[CsvLine] = []
    line_num = 0
    try:
        for cells in reader:
            # A quoted value may span lines: a row is numbered by the line it starts on.
            line, line_num = line_num + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if names is None:
                names = columns(line, cells)
                continue
            if len(lines) == MAX_ROWS:
                raise CsvFileError(
                    line, f"The file has more than {MAX_ROWS:,} students; split it into files of at most {MAX_ROWS:,}."
                )
            too_many = any(cell.strip() for cell in cells[len(names) :])
            values = {name: cell.strip() for name, cell in zip(names, cells, strict=False) if name}
            lines.append(CsvLine(line, values, too_many))
    except csv.Error as exc:
        start = line_num + 1
        if "unexpected end of data" in str(exc):
            raise CsvFileError(start, f'Line {start} opens a quote (") that is never closed.') from None
        raise CsvFileError(start, f"Line {start} is not valid CSV ({exc}).") from None
    return lines


def column_names(header: list[str]) -> list[str]:
    """The header's cells as column names: "Student number" is student_number, an empty cell ""."""
    return [re.sub(r"[\s-]+", "_", cell.strip().lower()) for cell in header]


def refuse_duplicate_columns(line: int, columns: list[str]) -> None:
    duplicates = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicates:
        raise CsvFileError(line, f"The header line has the column {duplicates[0]} more than once.")


def header_found(header: list[str]) -> str:
    """The header's cells for a message: the first five, quoted and cut short."""
    names = [shown(cell.strip()) for cell in header if cell.strip()]
    if not names:
        return "nothing"
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def shown(value: str) -> str:
    """A value of the file quoted for a message, cut short."""
    short = value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 1] + "…"
    return f"“{short}”"


def chunks(items: list[T], size: int = 500) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rows_by(rows: QuerySet[M], column: str, values: Iterable[str]) -> dict[str, M]:
    """The rows whose `column` is one of `values`, by that value, looked up a chunk at a time (a
    file may name thousands)."""
    found: dict[str, M] = {}
    for chunk in chunks(sorted(set(values))):
        found.update((getattr(row, column), row) for row in rows.filter(**{f"{column}__in": chunk}))
    return found


class CsvFileForm(forms.Form):
    """The upload form of an import page; a subclass says what the file holds in `help_text`."""

    help_text = ""

    file = forms.FileField(label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = self.help_text

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        upload.seek(0)
        # One byte past the limit is enough for the preview to say the file is too large.
        return cast(bytes, upload.read(MAX_BYTES + 1))


class ImportPreview(Protocol):
    """What a file would change: a page can apply it when it has no errors and some changes."""

    errors: list[LineError]

    @property
    def changes(self) -> Sequence[object]:
        """What applying writes, comparable (repr) between two previews of the same file."""
        ...


P = TypeVar("P", bound=ImportPreview)


@dataclass(frozen=True)
class CsvImport(Generic[P]):
    """One import page's parts. `scope` is what a signed preview is valid for (with `salt`, which
    names the import); `apply` writes a preview and returns the success message, or raises
    ApplicationError; `stale` is the warning when the data changed since the preview."""

    salt: str
    scope: object
    preview: Callable[[bytes], P]
    apply: Callable[[P], str]
    stale: str


def admin_page_context(model_admin: admin.ModelAdmin, request: HttpRequest, **extra: Any) -> dict[str, Any]:
    """What the admin's templates need on an import page of `model_admin`, with the page's `extra`."""
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "has_view_permission": True,
        **extra,
    }


def csv_import_page(
    request: HttpRequest,
    importer: CsvImport[P],
    *,
    form_class: type[CsvFileForm],
    template: str,
    context: dict[str, Any],
    done_url: str,
) -> HttpResponse:
    """Upload (400 with errors), preview, confirm: a confirmation that was altered or is older than
    an hour is a 400, one whose preview no longer matches the data a 409 with the new preview;
    applied, a redirect to `done_url` with the success message."""
    form = form_class()
    preview: P | None = None
    data, status = b"", 200
    if request.method == "POST" and "signed" in request.POST:
        unsigned = _unsign(importer, request.POST["signed"])
        if unsigned is None:
            messages.error(request, "This preview has expired or was altered; upload the file again.")
            status = 400
        else:
            data, digest = unsigned
            preview = importer.preview(data)
            if preview.errors or _digest(preview) != digest:
                messages.warning(request, importer.stale)
                status = 409
            else:
                try:
                    done = importer.apply(preview)
                except ApplicationError as exc:
                    messages.error(request, exc.message)
                    status = 400
                else:
                    messages.success(request, done)
                    return HttpResponseRedirect(done_url)
    elif request.method == "POST":
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data["file"]
            preview = importer.preview(data)
            status = 400 if preview.errors else 200
        else:
            status = 400
    can_apply = preview is not None and not preview.errors and bool(preview.changes)
    context = {
        **context,
        "form": form,
        "preview": preview,
        "signed": _sign(importer, data, preview) if preview is not None and can_apply else "",
    }
    return TemplateResponse(request, template, context, status=status)


def _digest(preview: ImportPreview) -> str:
    return hashlib.sha256(repr(list(preview.changes)).encode()).hexdigest()


def _sign(importer: CsvImport[P], data: bytes, preview: P) -> str:
    # A preview without errors means the bytes are UTF-8 text.
    payload = {"scope": importer.scope, "csv": data.decode("utf-8"), "digest": _digest(preview)}
    return signing.dumps(payload, salt=importer.salt, compress=True)


def _unsign(importer: CsvImport[P], signed: str) -> tuple[bytes, str] | None:
    try:
        payload = signing.loads(signed, salt=importer.salt, max_age=SIGNED_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("scope") != importer.scope:
        return None
    return str(payload["csv"]).encode("utf-8"), str(payload["digest"])
