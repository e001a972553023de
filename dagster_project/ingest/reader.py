"""Read one landed file into an all-text frame, or reject it whole with a clear reason.

Everything here is about the file as a file: bytes, encoding, delimiter, header. Rows come
out as text with their line number in the file; casting and row rules happen in the loader.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from dagster_project.ingest.landing import LandedFile
from dagster_project.ingest.reasons import FileReason
from dagster_project.privacy import describe_error, shown_name
from dagster_project.settings import GzipLimits

SOURCE_ROW = "_source_row"
_BINARY_MAGIC = (b"PK\x03\x04", b"\x89PNG", b"%PDF", b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff", b"PAR1")
_OTHER_DELIMITERS = (";", "\t", "|")
# C0 control bytes that never occur in CSV text (tab, line feed, carriage return do).
_CONTROL_BYTES = tuple(b for b in range(32) if b not in (9, 10, 13))


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
    # source row -> its number of fields, for rows whose count differs from the header's
    # (the truncated last line excepted): quarantined whole, their values never shown.
    ragged_rows: dict[int, int] = field(default_factory=dict)
    header_width: int = 0  # fields in the header row (CSV only)


def read_landed_file(landed: LandedFile, limits: GzipLimits | None = None) -> ParsedFile:
    if landed.suffix == ".parquet":
        return _read_parquet(landed)
    if landed.suffix == ".xlsx":
        return _read_xlsx(landed)
    return _read_csv(landed, limits or GzipLimits())


def _read_csv(landed: LandedFile, limits: GzipLimits) -> ParsedFile:
    raw = _gunzip(landed, limits) if landed.suffix == ".csv.gz" else landed.path.read_bytes()
    if not raw:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    _reject_binary(raw)
    text, encoding = _decode(raw)
    del raw
    # Quotes are rare in these extracts; without any, a record is a line and polars parses
    # the lot. With quotes, Python's csv module finds the records (a quoted value may hold a
    # line break) and tells an unclosed quote from the end of the file.
    table = _records_quoted(text) if '"' in text else _records_plain(text)
    notes = [f"encoding {encoding}"] if encoding != "utf-8" else []
    if table.blank:
        notes.append(f"skipped {table.blank} blank line(s)")
    header = _check_header(landed, table.header)
    if not table.lines:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has a header but no data rows")
    frame = _select_contract(landed, table.frame, header, notes)
    frame = frame.with_columns(pl.Series(SOURCE_ROW, table.lines, dtype=pl.Int64))
    width = len(header)
    counts, truncated = table.field_counts, []
    if not table.ends_with_newline and counts[-1] < width:
        truncated.append(table.lines[-1])
    considered = counts[: len(counts) - len(truncated)]
    row_width = _row_width(table, considered, width)
    if row_width > width:
        notes.append("ignored the empty field(s) after the last column on every row")
    odd = [i for i, n in enumerate(considered) if n != row_width]
    ragged = {table.lines[i]: counts[i] for i in odd}
    return ParsedFile(frame, encoding, notes, truncated, ragged, width)


def _row_width(table: _Table, counts: list[int], width: int) -> int:
    """How many fields a row should have: the header's, or more when every usual row ends in
    the same empty fields (an export that adds a trailing comma to rows, not to the header).

    A single row with an extra empty field is not excused: it is as likely a value shifted
    right by an unquoted comma, its last field empty by chance."""
    usual, _ = Counter(counts).most_common(1)[0]
    if usual > width and all(
        table.extra_is_empty(i, width) for i, n in enumerate(counts) if n == usual
    ):
        return usual
    return width


@dataclass
class _Table:
    """A CSV split into records: header fields, then per data record its first line number,
    its field count and (in ``frame``) its first ``len(header)`` fields as text."""

    header: list[str]
    lines: list[int]
    field_counts: list[int]
    frame: pl.DataFrame  # columns _0 .. _{n-1}, one per header field
    blank: int
    ends_with_newline: bool
    fields_of: Callable[[int], list[str]]  # all fields of data record i (rarely needed)

    def extra_is_empty(self, i: int, width: int) -> bool:
        return not any(f.strip() for f in self.fields_of(i)[width:])


def _gunzip(landed: LandedFile, limits: GzipLimits) -> bytes:
    """Decompress in 1 MiB steps and stop at the limits: a 200 KB bomb expands to gigabytes."""
    compressed = max(landed.path.stat().st_size, 1)
    out = bytearray()
    try:
        with gzip.open(landed.path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                out += chunk
                _check_gzip_limits(len(out), compressed, limits)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(
            FileReason.UNREADABLE, f"not a readable gzip file ({describe_error(exc)})"
        ) from None
    return bytes(out)


def _check_gzip_limits(size: int, compressed: int, limits: GzipLimits) -> None:
    if size > limits.max_bytes:
        raise FileRejected(
            FileReason.TOO_LARGE,
            f"the file expands to more than {limits.max_bytes:,} bytes when decompressed "
            "(CTE_GZIP_MAX_BYTES); send it uncompressed or split it",
        )
    if size > limits.ratio_floor and size > limits.max_ratio * compressed:
        raise FileRejected(
            FileReason.TOO_LARGE,
            f"the file expands more than {limits.max_ratio} times when decompressed "
            "(CTE_GZIP_MAX_RATIO): not a plain compressed CSV; send it uncompressed",
        )


def _reject_binary(raw: bytes) -> None:
    head = raw[:65536]
    controls = sum(head.count(bytes([b])) for b in _CONTROL_BYTES)
    if b"\x00" in raw or raw.startswith(_BINARY_MAGIC) or controls > len(head) // 100:
        raise FileRejected(
            FileReason.NOT_CSV,
            "the file is not a CSV text file (binary content, e.g. a spreadsheet, image or "
            "archive saved with a .csv name); export it as CSV UTF-8",
        )


def _records_plain(text: str) -> _Table:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    header = lines[0].split(",") if lines and lines[0] else []
    # (line number in the file, text); line 1 is the header
    data = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    blank = max(len(lines) - 1 - len(data), 0)
    body = [line for _, line in data]
    counts = (pl.Series(body, dtype=pl.String).str.count_matches(",", literal=True) + 1).to_list()
    schema = {f"_{i}": pl.String for i in range(max(len(header), 1))}
    frame = (
        pl.read_csv(
            io.StringIO("\n".join(body)),
            has_header=False,
            schema=schema,
            quote_char=None,
            extra_columns="ignore",
            truncate_ragged_lines=True,
        )
        if body
        else pl.DataFrame(schema=schema)
    )
    return _Table(
        header,
        [n for n, _ in data],
        counts,
        frame,
        blank,
        ends_with_newline,
        lambda i: body[i].split(","),
    )


def _records_quoted(text: str) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    lines: list[int] = []
    blank, start = 0, 1
    try:
        for record in reader:
            if len(record) <= 1 and not "".join(record).strip() and lines:
                blank += 1
            else:
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error:
        # csv's message may quote the input; say where the record starts instead.
        raise FileRejected(
            FileReason.BAD_QUOTING,
            f"line {start}: a quoted value is not closed, or text follows its closing quote "
            '("); a value with quotes must be written "like ""this"""',
        ) from None
    header = records[0] if records else []
    data, lines = records[1:], lines[1:]
    width = max(len(header), 1)
    # Ragged rows are padded or cut to the header (they are quarantined as FIELD_COUNT).
    padded = [r if len(r) == width else (r + [""] * width)[:width] for r in data]
    schema = {f"_{i}": pl.String for i in range(width)}
    frame = pl.DataFrame(padded, schema=schema, orient="row").with_columns(
        pl.all().replace("", None)  # as polars reads CSV: empty string = null
    )
    ends = text.endswith(("\n", "\r"))
    return _Table(header, lines, [len(r) for r in data], frame, blank, ends, data.__getitem__)


def _decode(raw: bytes) -> tuple[str, str]:
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8 with BOM" if bom else "utf-8"
    except UnicodeDecodeError:
        # Latin-1 maps every byte, so it never fails; NOT_CSV above caught binary content.
        return raw.decode("latin-1"), "latin-1"


def _check_header(landed: LandedFile, fields: list[str]) -> list[str]:
    header = [h.strip().lower() for h in fields]
    if len(header) <= 1:
        found = next((d for d in _OTHER_DELIMITERS if d in "".join(fields)), None)
        if found:
            shown = "tab" if found == "\t" else repr(found)
            raise FileRejected(
                FileReason.WRONG_DELIMITER,
                f"the file is separated by {shown}, not by commas; export it as "
                "comma-separated CSV",
            )
    _require_columns(landed, header)
    _reject_duplicate_columns(header)
    return header


def _require_columns(landed: LandedFile, header: list[str]) -> None:
    expected = landed.extract.column_names
    missing = [c for c in expected if c not in header]
    if not missing:
        return
    need = f"{landed.extract.name} files need: {', '.join(expected)}"
    if len(missing) * 2 > len(expected):
        # Most names missing: the first line is likely data (a file sent without its
        # header), so its fields are students' values and are not repeated here.
        raise FileRejected(
            FileReason.MISSING_COLUMNS,
            f"the first line is not this extract's header row: {len(expected) - len(missing)} "
            f"of {len(expected)} required column names found (the header row is missing, or "
            f"its names differ from the contract's). {need}",
        )
    unexpected = [h for h in header if h not in expected]
    hints = []
    for col in missing:
        close = difflib.get_close_matches(col, unexpected, n=1, cutoff=0.5)
        if close:
            hints.append(f"'{shown_name(close[0])}' looks like a renamed '{col}'")
    message = f"missing required column(s): {', '.join(missing)}"
    if hints:
        message += f" ({'; '.join(hints)})"
    raise FileRejected(FileReason.MISSING_COLUMNS, f"{message}. {need}")


def _reject_duplicate_columns(header: list[str]) -> None:
    """Two columns of one name cannot both be read: which one holds the value?"""
    counts = Counter(header)
    empty = counts.pop("", 0)
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if empty > 1:
        raise FileRejected(
            FileReason.DUPLICATE_COLUMNS,
            f"the header has {empty} columns without a name (often empty columns a spreadsheet "
            "adds at the end, a trailing ',,'); delete them and export again",
        )
    if repeated:
        names = ", ".join(f"'{shown_name(n)}'" for n in repeated[:10])
        raise FileRejected(
            FileReason.DUPLICATE_COLUMNS,
            f"the header names {names} more than once (column names match "
            "case-insensitively); keep one column of each name",
        )


def _select_contract(
    landed: LandedFile, frame: pl.DataFrame, header: list[str], notes: list[str]
) -> pl.DataFrame:
    """The contract's columns by position in the header, named as the contract names them."""
    positions = {name: i for i, name in enumerate(header)}
    extra = [h for h in header if h not in landed.extract.column_names]
    if extra:
        shown = ", ".join(shown_name(h) or "(no name)" for h in extra[:10])
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        notes.append(f"ignored extra column(s): {shown}{more}")
    return frame.select(
        pl.col(frame.columns[positions[c]]).alias(c) for c in landed.extract.column_names
    )


def _read_tabular(landed: LandedFile, frame: pl.DataFrame, encoding: str) -> ParsedFile:
    header = [c.strip().lower() for c in frame.columns]
    _require_columns(landed, header)
    _reject_duplicate_columns(header)
    notes: list[str] = []
    frame = _select_contract(landed, frame, header, notes)
    _reject_nested(frame)
    # A date stored as a timestamp (pandas writes dates so) is the date it names.
    frame = frame.with_columns(
        pl.col(pl.Datetime).dt.date(), pl.col(pl.Binary).cast(pl.String, strict=False)
    ).select(pl.all().cast(pl.String))
    if frame.height == 0:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has no data rows")
    rows = pl.int_range(2, frame.height + 2, eager=True).cast(pl.Int64)
    return ParsedFile(frame.with_columns(rows.alias(SOURCE_ROW)), encoding, notes)


def _reject_nested(frame: pl.DataFrame) -> None:
    nested = [n for n, t in frame.schema.items() if t.is_nested() or t == pl.Object]
    if nested:
        raise FileRejected(
            FileReason.UNSUPPORTED_TYPE,
            f"column(s) {', '.join(nested)} hold lists or records, not single values; "
            "write one plain value (text, number or date) per cell",
        )


def _read_parquet(landed: LandedFile) -> ParsedFile:
    if landed.path.stat().st_size == 0:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    try:
        frame = pl.read_parquet(landed.path)
    except Exception as exc:  # polars raises several error types for corrupt files
        raise FileRejected(
            FileReason.UNREADABLE, f"not a readable Parquet file ({describe_error(exc)})"
        ) from None
    return _read_tabular(landed, frame, "parquet")


def _read_xlsx(landed: LandedFile) -> ParsedFile:
    if landed.path.stat().st_size == 0:
        raise FileRejected(FileReason.ZERO_BYTE, "the file is empty (0 bytes)")
    try:
        # First sheet, every cell as text: BLS puts '*' and '#' in numeric columns.
        frame = pl.read_excel(landed.path, sheet_id=1, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own error types
        raise FileRejected(
            FileReason.UNREADABLE, f"not a readable .xlsx workbook ({describe_error(exc)})"
        ) from None
    return _read_tabular(landed, frame, "xlsx")
