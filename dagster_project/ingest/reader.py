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
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import polars as pl

from dagster_project.ingest.landing import LandedFile
from dagster_project.ingest.layouts import (
    NOT_RECORD,
    Layout,
    closest_layout,
    find_layout,
    header_name,
    known_aliases,
    restore_soc_codes,
)
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
    header, layout = _check_header(landed, table.header)
    if not table.lines:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has a header but no data rows")
    frame = _contract_frame(landed, table.frame, header, layout, notes)
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
    # A ragged or cut row's values are in the wrong columns: it is set aside as such, never
    # taken for a row that holds no record.
    frame = _records_only(frame, notes, {*ragged, *truncated})
    return ParsedFile(frame, encoding, notes, truncated, ragged, width)


def _records_only(
    frame: pl.DataFrame, notes: list[str], kept: Collection[int] = ()
) -> pl.DataFrame:
    """The frame without the rows its layout says hold no record (a student the
    Clearinghouse did not find), each kind counted in a note: read, not loaded, not faults."""
    if NOT_RECORD not in frame.columns:
        return frame
    none = pl.col(NOT_RECORD).is_not_null() & ~pl.col(SOURCE_ROW).is_in(list(kept))
    counts = frame.filter(none).group_by(NOT_RECORD, maintain_order=True).len()
    notes += [f"skipped {n:,} {what}" for what, n in counts.iter_rows()]
    return frame.filter(~none).drop(NOT_RECORD)


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


def _check_header(landed: LandedFile, fields: list[str]) -> tuple[list[str], Layout | None]:
    """The header in lower case and the publisher layout it is in (None: the contract's)."""
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
    layout = find_layout(landed.extract, header)
    if layout is None:
        _require_columns(landed, header)
        _reject_duplicate_columns(header)
    else:
        names = [header_name(h) for h in header]
        used = {n for ns in layout.columns.values() for n in ns}
        _reject_duplicate_columns([n for n in names if n in used])
    return header, layout


def _require_columns(landed: LandedFile, header: list[str]) -> None:
    expected = landed.extract.column_names
    missing = [c for c in expected if c not in header]
    if not missing:
        return
    need = f"{landed.extract.name} files need: {', '.join(expected)}"
    layout = closest_layout(landed.extract, header)
    if layout is not None:
        lacking = ", ".join(f"'{n}'" for n in layout.missing([header_name(h) for h in header]))
        raise FileRejected(
            FileReason.MISSING_COLUMNS,
            f"the header looks like the {layout.title} layout, but it lacks {lacking}; send "
            f"the file as published, or one with the contract's columns. {need}",
        )
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
        close = _renamed_as(landed, col, unexpected)
        if close:
            hints.append(f"'{shown_name(close)}' looks like a renamed '{col}'")
    message = f"missing required column(s): {', '.join(missing)}"
    if hints:
        message += f" ({'; '.join(hints)})"
    raise FileRejected(FileReason.MISSING_COLUMNS, f"{message}. {need}")


def _renamed_as(landed: LandedFile, column: str, unexpected: list[str]) -> str | None:
    """The header name that is ``column`` under another spelling, or None.

    Only names that mean the same: a publisher's own name for the column (the layouts),
    the same words spelt otherwise (``Student ID`` for student_id), or a typo (a close
    spelling). A name that merely shares letters is no hint: 'area name' is not the area
    code, 'projection' is not the typical education."""
    aliases = known_aliases(landed.extract)
    for name in unexpected:
        if aliases.get(header_name(name)) == column or _words(name) == _words(column):
            return name
    # A typo: a close spelling that no layout declares for another column.
    candidates = [n for n in unexpected if header_name(n) not in aliases]
    close = difflib.get_close_matches(column, candidates, n=1, cutoff=0.85)
    return close[0] if close else None


def _words(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


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


def _contract_frame(
    landed: LandedFile,
    frame: pl.DataFrame,
    header: list[str],
    layout: Layout | None,
    notes: list[str],
) -> pl.DataFrame:
    """The contract's columns, from the contract's own layout or a publisher's."""
    if layout is None:
        frame = _select_contract(landed, frame, header, notes)
    else:
        notes.append(f"read as the {layout.title} layout")
        frame = layout.select(frame, [header_name(h) for h in header])
    frame, restored = restore_soc_codes(frame)
    notes += restored
    return frame


def _read_tabular(
    landed: LandedFile,
    frame: pl.DataFrame,
    encoding: str,
    header: list[str] | None = None,
    notes: list[str] | None = None,
    first_row: int = 2,
) -> ParsedFile:
    """A Parquet file or a sheet: ``header`` names ``frame``'s columns by position (default:
    the frame's own names); ``first_row`` is the line number of its first data row."""
    notes = notes if notes is not None else []
    header, layout = _check_header(landed, header or list(frame.columns))
    used = _used_names(landed, header, layout)
    # Nested extra columns are never read: only the ones the load takes must be plain.
    unused = [c for c, h in zip(frame.columns, header, strict=True) if h not in used]
    frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in unused)
    _reject_nested(frame)
    # A date stored as a timestamp (pandas writes dates so) is the date it names.
    frame = frame.with_columns(
        pl.col(pl.Datetime).dt.date(), pl.col(pl.Binary).cast(pl.String, strict=False)
    ).select(pl.all().cast(pl.String))
    frame = _contract_frame(landed, frame, header, layout, notes)
    if frame.height == 0:
        raise FileRejected(FileReason.EMPTY_FILE, "the file has no data rows")
    rows = pl.int_range(first_row, frame.height + first_row, eager=True).cast(pl.Int64)
    frame = _records_only(frame.with_columns(rows.alias(SOURCE_ROW)), notes)
    return ParsedFile(frame, encoding, notes)


def _used_names(landed: LandedFile, header: list[str], layout: Layout | None) -> set[str]:
    """The header names (as given) whose columns the load reads."""
    if layout is None:
        return set(landed.extract.column_names) & set(header)
    wanted = {n for names in layout.columns.values() for n in names}
    wanted |= {rule.column for rule in layout.not_records}
    return {h for h in header if header_name(h) in wanted}


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
        sheet = pl.read_excel(landed.path, sheet_id=1, has_header=False, infer_schema_length=0)
    except Exception as exc:  # fastexcel raises its own error types
        raise FileRejected(
            FileReason.UNREADABLE, f"not a readable .xlsx workbook ({describe_error(exc)})"
        ) from None
    if sheet.height == 0:
        raise FileRejected(FileReason.EMPTY_FILE, "the workbook's first sheet is empty")
    notes: list[str] = []
    start = _header_row(landed, sheet.head(_TITLE_ROWS).rows())
    header = [
        f"__unnamed__{i}" if v is None or not str(v).strip() else str(v)
        for i, v in enumerate(sheet.row(start))
    ]
    if start:
        notes.append(f"skipped {start} title row(s) above the header")
    body = sheet.slice(start + 1)
    body, footer = _without_notes_below(body)
    if footer:
        notes.append(f"skipped {footer} note line(s) below the table")
    return _read_tabular(landed, body, "xlsx", header, notes, first_row=start + 2)


# Publishers put a title (and a blank line) above a table's header: BLS's tables have two.
_TITLE_ROWS = 12


def _header_row(landed: LandedFile, rows: list[tuple]) -> int:
    """The index of the header among a sheet's first rows: the first that carries every
    column of the contract or of a publisher layout, else the one that carries most
    (its missing columns are then reported), else the first row."""
    best, best_share = 0, 0.0
    expected = landed.extract.column_names
    for i, row in enumerate(rows):
        header = [str(v).strip().lower() for v in row if v is not None]
        contract = sum(c in header for c in expected) / len(expected)
        closest = closest_layout(landed.extract, header)
        names = [header_name(h) for h in header]
        share = max(contract, closest.share_present(names) if closest else 0.0)
        if contract == 1 or find_layout(landed.extract, header) is not None:
            return i
        if share > best_share:
            best, best_share = i, share
    return best if best_share >= 0.5 else 0


def _without_notes_below(body: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The table without the notes under it (``Source: ...``, footnotes): trailing rows
    with at most one cell filled."""
    if body.height == 0:
        return body, 0
    filled = body.select(
        pl.sum_horizontal(
            (pl.col(c).is_not_null() & pl.col(c).str.strip_chars().ne("")).cast(pl.Int32)
            for c in body.columns
        )
    ).to_series()
    rows = filled.to_list()
    last = max((i for i, n in enumerate(rows) if n > 1), default=-1)
    return body.head(last + 1), body.height - last - 1
