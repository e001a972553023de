"""Read one landed file into an all-text frame, or reject it whole with a clear reason.

Everything here is about the file as a file: bytes, encoding, delimiter, header. Rows come
out as text with their line number in the file; casting and row rules happen in the loader.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
from dataclasses import dataclass, field

import polars as pl

from dagster_project.ingest.landing import LandedFile
from dagster_project.ingest.reasons import FileReason

SOURCE_ROW = "_source_row"
_BINARY_MAGIC = (b"PK\x03\x04", b"\x89PNG", b"%PDF", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff", b"PAR1")
_OTHER_DELIMITERS = (";", "\t", "|")


class FileRejected(Exception):
    """A file-level problem: the whole file is rejected and nothing from it is loaded."""

    def __init__(self, reason: FileReason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class ParsedFile:
    frame: pl.DataFrame  # contract columns as text (lower-case names) + _source_row
    encoding: str
    notes: list[str] = field(default_factory=list)
    truncated_rows: list[int] = field(default_factory=list)


def read_landed_file(landed: LandedFile) -> ParsedFile:
    if landed.suffix == ".parquet":
        return _read_parquet(landed)
    if landed.suffix == ".xlsx":
        return _read_xlsx(landed)
    return _read_csv(landed)


def _read_csv(landed: LandedFile) -> ParsedFile:
    raw = landed.path.read_bytes()
    if landed.suffix == ".csv.gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise FileRejected(FileReason.UNREADABLE, f"not a readable gzip file ({exc})") from exc
    if not raw:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    if b"\x00" in raw[:8192] or raw.startswith(_BINARY_MAGIC):
        raise FileRejected(
            FileReason.NOT_CSV,
            "the file is not a CSV text file (binary content, e.g. a spreadsheet, image or "
            "archive saved with a .csv name); export it as CSV UTF-8",
        )
    text, encoding = _decode(raw)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    header_line = lines[0] if lines else ""
    header = _check_header(landed, header_line)
    # (line number in the file, text); line 1 is the header
    data = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    notes = [f"encoding {encoding}"] if encoding != "utf-8" else []
    blank = len(lines) - 1 - len(data)
    if blank:
        notes.append(f"skipped {blank} blank line(s)")
    if not data:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has a header but no data rows")
    frame = pl.read_csv(
        io.StringIO("\n".join([header_line] + [line for _, line in data])),
        infer_schema=False,
        truncate_ragged_lines=True,
        quote_char='"',
    )
    if frame.height != len(data):
        raise FileRejected(
            FileReason.UNREADABLE,
            f"{len(data)} lines but {frame.height} rows after parsing: check for unbalanced "
            'quotes (") or line breaks inside values',
        )
    frame = _select_contract(landed, frame, header, notes)
    frame = frame.with_columns(pl.Series(SOURCE_ROW, [n for n, _ in data], dtype=pl.Int64))
    truncated = []
    if not ends_with_newline and _field_count(data[-1][1]) < len(header):
        truncated.append(data[-1][0])
    return ParsedFile(frame, encoding, notes, truncated)


def _decode(raw: bytes) -> tuple[str, str]:
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8 with BOM" if bom else "utf-8"
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so it never fails; NOT_CSV above caught binary content.
        return raw.decode("latin-1"), "latin-1"


def _field_count(line: str) -> int:
    return len(next(csv.reader([line])))


def _check_header(landed: LandedFile, header_line: str) -> list[str]:
    header = [h.strip().lower() for h in next(csv.reader([header_line]))] if header_line else []
    if len(header) <= 1:
        found = next((d for d in _OTHER_DELIMITERS if d in header_line), None)
        if found:
            shown = "tab" if found == "\t" else repr(found)
            raise FileRejected(
                FileReason.WRONG_DELIMITER,
                f"the file is separated by {shown}, not by commas; export it as "
                "comma-separated CSV",
            )
    _require_columns(landed, header)
    return header


def _require_columns(landed: LandedFile, header: list[str]) -> None:
    expected = landed.extract.column_names
    missing = [c for c in expected if c not in header]
    if not missing:
        return
    unexpected = [h for h in header if h not in expected]
    hints = []
    for col in missing:
        close = difflib.get_close_matches(col, unexpected, n=1, cutoff=0.5)
        if close:
            hints.append(f"'{close[0]}' looks like a renamed '{col}'")
    message = f"missing required column(s): {', '.join(missing)}"
    if hints:
        message += f" ({'; '.join(hints)})"
    message += f". {landed.extract.name} files need: {', '.join(expected)}"
    raise FileRejected(FileReason.MISSING_COLUMNS, message)


def _select_contract(
    landed: LandedFile, frame: pl.DataFrame, header: list[str], notes: list[str]
) -> pl.DataFrame:
    frame = frame.rename(dict(zip(frame.columns, header, strict=True)))
    extra = [h for h in header if h not in landed.extract.column_names]
    if extra:
        notes.append(f"ignored extra column(s): {', '.join(extra)}")
    return frame.select(landed.extract.column_names)


def _read_tabular(landed: LandedFile, frame: pl.DataFrame, encoding: str) -> ParsedFile:
    header = [c.strip().lower() for c in frame.columns]
    _require_columns(landed, header)
    notes: list[str] = []
    frame = _select_contract(landed, frame, header, notes)
    frame = frame.select(pl.all().cast(pl.String))
    if frame.height == 0:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has no data rows")
    rows = pl.int_range(2, frame.height + 2, eager=True).cast(pl.Int64)
    return ParsedFile(frame.with_columns(rows.alias(SOURCE_ROW)), encoding, notes)


def _read_parquet(landed: LandedFile) -> ParsedFile:
    if landed.path.stat().st_size == 0:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    try:
        frame = pl.read_parquet(landed.path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise FileRejected(FileReason.UNREADABLE, f"not a readable Parquet file ({exc})") from exc
    return _read_tabular(landed, frame, "parquet")


def _read_xlsx(landed: LandedFile) -> ParsedFile:
    if landed.path.stat().st_size == 0:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    try:
        # First sheet, every cell as text: BLS puts '*' and '#' in numeric columns.
        frame = pl.read_excel(landed.path, sheet_id=1, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own error types
        raise FileRejected(FileReason.UNREADABLE, f"not a readable .xlsx workbook ({exc})") from exc
    return _read_tabular(landed, frame, "xlsx")
