"""The row-level error file a district downloads beside its report page (decision 0016).

One pair of files (CSV and XLSX) per submission shown on a district's page (current, held and
rejected files), one line per problem: the line of the district's own file, the column, the
value as sent, blocking or warning, the problem, the rule in plain words and how to fix it.
A held file starts with one line per reason it was held and what to change for it to be
accepted; a rejected file has the one line saying why.

Privacy: the line number identifies the row, so no student ID, name or birth date is ever
written, raw or hashed. The value is the quarantine's, which the loader already wrote
through ``privacy.shown_value_expr``, and it is written only for code, date and number columns
(``ingest/codes.showable_columns``) and only when shaped like one (``SHOWN_VALUE``): the same
rule as the examples on the report page. Rules and messages are the pipeline's own sentences.

Both files are written while the rows are read from DuckDB, a batch at a time
(xlsxwriter's ``constant_memory`` mode keeps one row in memory), so 100,000 lines cost
seconds, not gigabytes. In the XLSX every cell but the line number is text, so a code like
``001`` keeps its zeros when the district opens it in Excel.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import xlsxwriter

from dagster_project.contracts import EXTRACTS
from dagster_project.ingest.codes import showable_columns
from dagster_project.ingest.hold import HOLD_FIXES
from dagster_project.ingest.reasons import HoldReason, RowReason

BLOCKING, WARNING = "blocking", "warning"
HEADER = ("File", "Line", "Column", "Value as sent", "Severity", "Problem", "Rule", "How to fix")
BATCH = 10_000  # rows fetched from DuckDB at a time

REASON_WORDS = {
    "TYPE_MISMATCH": "Wrong kind of value",
    "TRUNCATED_ROW": "Row cut short",
    "FIELD_COUNT": "Values in the wrong columns",
    "DISTRICT_MISMATCH": "Other district's row",
    "YEAR_MISMATCH": "Other year's row",
    "DUPLICATE_ROW": "Row repeated",
    "DUPLICATE_KEY": "Same record twice",
    "INVALID_STUDENT_ID": "Invalid student ID",
    "MISSING_VALUE": "Required value blank",
    "OUT_OF_RANGE": "Value out of range",
    "UNKNOWN_CODE": "Unknown code",
    "FUTURE_DATE": "Date in the future",
    "INCONSISTENT": "Values contradict each other",
}
HOLD_WORDS = {
    HoldReason.SET_ASIDE_SHARE: "Held: too many rows set aside",
    HoldReason.BLOCKING_CHECK: "Held: a blocking check failed",
    HoldReason.VOLUME_DROP: "Held: far fewer rows than before",
    HoldReason.LOST_LEADING_ZEROS: "Held: codes lost their leading zeros",
    HoldReason.AREA_KIND: "Held: areas do not fit the file name",
}
# What to change in the district's file, per reason a row was set aside.
HOW_TO_FIX: dict[str, str] = {
    RowReason.TYPE_MISMATCH: "Correct the value to the kind the rule asks for and send the "
    "file again",
    RowReason.TRUNCATED_ROW: "Export the complete file again and send it",
    RowReason.FIELD_COUNT: "Put quotes around a value that contains a comma (or remove the "
    "comma), fill in a missing field, and send the file again",
    RowReason.DISTRICT_MISMATCH: "Move the row to the file of the district it belongs to, or "
    "correct its district code",
    RowReason.YEAR_MISMATCH: "Send the row in the file of its own school year, or correct the "
    "school year",
    RowReason.DUPLICATE_ROW: "Delete the repeated line; the first copy was kept",
    RowReason.DUPLICATE_KEY: "Keep one row for the record, with the right values, and delete "
    "the others; none of them was loaded",
    RowReason.INVALID_STUDENT_ID: "Correct the student ID to the 9-digit state ID, leading "
    "zeros included (the ID is not shown here: find the row by its line number)",
    RowReason.MISSING_VALUE: "Fill in the value and send the file again",
    RowReason.OUT_OF_RANGE: "Correct the value to one the rule allows and send the file again",
    RowReason.UNKNOWN_CODE: "Use a code the rule allows (PED's code lists) and send the file again",
    RowReason.FUTURE_DATE: "Correct the date: it cannot be later than the day the file was checked",
    RowReason.INCONSISTENT: "Correct whichever of the values is wrong so that they agree",
}
WARNING_FIX = (
    "The row was loaded as sent: check it; if it is right nothing needs to change, otherwise "
    "correct it in your next submission"
)
CROSS_FILE_FIX = (
    "Compare this file with the district's other files for the year, correct whichever is "
    "wrong and send it again"
)
REJECTED_FIX = "Nothing of this file was loaded: correct it as the rule says and send it again"


def _showable_pairs() -> str:
    pairs = [(e.name, c) for e in EXTRACTS for c in sorted(showable_columns(e))]
    return ", ".join(f"('{e}', '{c}')" for e, c in pairs)


# The quarantine's value only for code, date and number columns (``m``: the manifest row,
# ``q``: the quarantine row): a personal field may hold what the district typed. And only a
# value shaped like a code, date or number (no blank, at most 20 characters, not nine
# digits): a name or an ID typed into the wrong column is not shown either.
_VALUE_SHAPE = r"^[0-9A-Za-z.:/+_-]{1,20}$"
SHOWN_VALUE = f"""(
    (m.extract, q.column_name) in (values {_showable_pairs()})
    and regexp_full_match(q.value, '{_VALUE_SHAPE}')
    and not regexp_full_match(q.value, '[0-9]{{9}}')
)"""
# Every row-level problem of one submission, in the order of the district's file.
_ROW_PROBLEMS = f"""
    select q.source_row, q.column_name, case when {SHOWN_VALUE} then q.value end as value,
           q.severity, q.reason_code, q.message
    from (
        select *, '{BLOCKING}' as severity from raw.quarantine where manifest_id = $id
        union all
        select *, '{WARNING}' as severity from raw.row_warnings where manifest_id = $id
    ) q
    join raw.load_manifest m on m.manifest_id = q.manifest_id
    order by q.source_row, q.severity, q.column_name nulls first, q.reason_code
"""

Line = tuple[str, int | None, str, str, str, str, str, str]


@dataclass(frozen=True)
class ErrorFile:
    """The two files written for one submission, as the page links them."""

    csv_href: str
    xlsx_href: str
    lines: int  # problem lines (the header not counted)


def _holds(submission: dict) -> list[tuple[str, str]]:
    """(reason code, message) of each reason a file is held; one pair from the manifest's
    reason and message for a warehouse loaded before reasons were kept one by one."""
    if submission.get("holds"):
        return [tuple(pair) for pair in json.loads(submission["holds"])]
    return [(submission["reason_code"] or "", submission["error_message"] or "")]


def _file_lines(submission: dict, cross_file: Iterable[dict]) -> Iterator[Line]:
    """Lines about the whole file: why it is held or rejected, cross-file checks failed."""
    name = submission["file_name"]
    if submission["status"] == "HELD":
        for reason, message in _holds(submission):
            words = HOLD_WORDS.get(reason, "Held: not used until reviewed")
            fix = HOLD_FIXES.get(reason, "Correct the file and send it again")
            rule = message.removeprefix("blocking check failed: ")  # the Problem says so
            yield (name, None, "", "", BLOCKING, words, rule, fix)
    elif submission["status"] == "REJECTED":
        reason = submission["reason_code"] or ""
        message = submission["error_message"] or ""
        yield (name, None, "", "", BLOCKING, f"File not loaded ({reason})", message, REJECTED_FIX)
    for check in cross_file:
        yield (name, None, check["column_name"] or "", "", WARNING, "Does not match other files",
               check["description"], CROSS_FILE_FIX)  # fmt: skip


def _row_lines(con: duckdb.DuckDBPyConnection, submission: dict) -> Iterator[Line]:
    name = submission["file_name"]
    cursor = con.execute(_ROW_PROBLEMS, {"id": submission["manifest_id"]})
    while batch := cursor.fetchmany(BATCH):
        for line, column, value, severity, reason, message in batch:
            fix = HOW_TO_FIX.get(reason, "") if severity == BLOCKING else WARNING_FIX
            words = REASON_WORDS.get(reason, reason)
            yield (name, line, column or "", value or "", severity, words, message, fix)


class _Writers:
    """The CSV and the XLSX of one submission, written line by line."""

    def __init__(self, csv_path: Path, xlsx_path: Path):
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        # utf-8-sig: Excel reads a CSV as UTF-8 only with the byte-order mark.
        self._csv_file = csv_path.open("w", newline="", encoding="utf-8-sig")
        self._csv = csv.writer(self._csv_file)
        self._book = xlsxwriter.Workbook(
            str(xlsx_path), {"constant_memory": True, "strings_to_numbers": False}
        )
        self._sheet = self._book.add_worksheet("Problems")
        self._text = self._book.add_format({"num_format": "@", "text_wrap": False})
        bold = self._book.add_format({"bold": True, "num_format": "@"})
        for col, width in enumerate((40, 7, 18, 16, 9, 26, 70, 70)):
            self._sheet.set_column(col, col, width, self._text)
        self._sheet.freeze_panes(1, 0)
        self._row = 0
        self._csv.writerow(HEADER)
        for col, title in enumerate(HEADER):
            self._sheet.write_string(0, col, title, bold)

    def write(self, line: Line) -> None:
        self._csv.writerow(["" if v is None else v for v in line])
        self._row += 1
        for col, value in enumerate(line):
            if isinstance(value, int):
                self._sheet.write_number(self._row, col, value)
            elif value:
                # Text, always: "001" must not become the number 1.
                self._sheet.write_string(self._row, col, value, self._text)

    def close(self) -> None:
        self._sheet.autofilter(0, 0, max(self._row, 1), len(HEADER) - 1)
        self._book.close()
        self._csv_file.close()


def write_error_file(
    con: duckdb.DuckDBPyConnection,
    submission: dict,
    cross_file: Iterable[dict],
    folder: Path,
    href_prefix: str,
) -> ErrorFile:
    """Write ``<folder>/<extract>-<manifest id>.csv`` and ``.xlsx`` for one submission (a
    manifest row, with ``cross_file`` its failed cross-file checks); the links are
    ``href_prefix`` + the file name."""
    stem = f"{submission['extract']}-{submission['manifest_id']}"
    writers = _Writers(folder / f"{stem}.csv", folder / f"{stem}.xlsx")
    lines = 0
    try:
        for line in _file_lines(submission, cross_file):
            writers.write(line)
            lines += 1
        for line in _row_lines(con, submission):
            writers.write(line)
            lines += 1
    finally:
        writers.close()
    return ErrorFile(f"{href_prefix}{stem}.csv", f"{href_prefix}{stem}.xlsx", lines)
