"""The row-level error file beside a district's report page (issue 22): a submission with the
defects of extracts.md, written the way districts send them, lists each defect at its line
with its rule; the counts reconcile with the manifest; no student ID, name or birth date
(raw or hashed) is in either file; codes stay text in the XLSX."""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_broken_files import FIRST, HEADER, LAST, _line, _sid, _values

from dagster_project.contracts import get_extract
from dagster_project.ingest.landing import file_name, landing_path
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reasons import HoldReason, Status
from dagster_project.quality.error_file import HEADER as FILE_HEADER
from dagster_project.quality.error_file import write_error_file
from dagster_project.quality.report import build_report
from dagster_project.warehouse import ensure_schema

KEY = b"error-file-test-key"
DISTRICT, YEAR = "001", 2025
TODAY = date(2025, 3, 2)  # the day the gate ran
GOOD = 60  # clean rows before the defects


def _birth_date(i: int) -> str:
    return f"2007-{1 + i % 12:02d}-{1 + i % 28:02d}"


def _row(i: int) -> dict[str, str]:
    """A clean enrollment row (test_broken_files' values, with a valid birth date for any i)."""
    return _values(DISTRICT, i) | {"birth_date": _birth_date(i)}


def _enrollment() -> tuple[bytes, dict[int, tuple[str, str]]]:
    """A district's enrollment file; returns it and {line: (column, reason)} planted.

    Line 1 is the header, so row i of ``rows`` is line i + 2."""
    rows = [_line(_row(i)) for i in range(GOOD)]
    planted: dict[int, tuple[str, str]] = {}

    def add(values: dict[str, str] | str, column: str, reason: str) -> None:
        rows.append(values if isinstance(values, str) else _line(values))
        planted[len(rows) + 1] = (column, reason)

    i = GOOD
    add(rows[3], "", "DUPLICATE_ROW")  # line 5 sent twice
    key = "student_id, district_code, location_code, school_year"
    add(_row(4) | {"grade_level": "12"}, key, "DUPLICATE_KEY")  # line 6's key, other grade
    planted[6] = (key, "DUPLICATE_KEY")  # neither of the two is loaded
    add(_row(i := i + 1) | {"sex": "Q"}, "sex", "UNKNOWN_CODE")
    add(_row(i := i + 1) | {"grade_level": "14"}, "grade_level", "OUT_OF_RANGE")
    add(_row(i := i + 1) | {"location_code": "099"}, "location_code", "UNKNOWN_CODE")
    future = {"exit_code": "GRADUATED", "exit_date": "2025-05-15"}  # in the year, after today
    add(_row(i := i + 1) | future, "exit_date", "FUTURE_DATE")
    add(_row(i := i + 1) | {"district_code": "002"}, "district_code",
        "DISTRICT_MISMATCH")  # fmt: skip
    add(_row(i := i + 1) | {"cohort_year": "20x6"}, "cohort_year", "TYPE_MISMATCH")
    add(_row(i := i + 1) | {"race_ethnicity": ""}, "race_ethnicity", "MISSING_VALUE")
    bad_id = _row(i := i + 1)
    add(bad_id | {"student_id": bad_id["student_id"][:8] + "X"}, "student_id",
        "INVALID_STUDENT_ID")  # fmt: skip
    shifted = _row(i := i + 1)
    shifted["last_name"] = f"{shifted['last_name']},{shifted['first_name']}"  # unquoted comma
    add(shifted, "", "FIELD_COUNT")
    # Warnings: loaded as sent.
    add(_row(i := i + 1) | {"cohort_year": "2040"}, "cohort_year", "OUT_OF_RANGE")
    left = {"exit_code": "TRANSFERRED_OUT", "exit_date": "2023-01-15"}
    add(_row(i := i + 1) | left, "exit_date", "INCONSISTENT")
    # The last line cut short, no line end (an interrupted upload).
    last = _line(_row(i := i + 1))
    rows.append(last[: len(last) // 2])
    planted[len(rows) + 1] = ("", "TRUNCATED_ROW")
    return ("\n".join([HEADER, *rows])).encode(), planted


WARNING_LINES = {GOOD + 13, GOOD + 14}  # the cohort_year and exit_date warnings


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("errors")
    landing = root / "landing"
    folder = landing_path(landing, get_extract("student_enrollment"))
    folder.mkdir(parents=True)
    data, planted = _enrollment()
    path = folder / file_name("student_enrollment", DISTRICT, YEAR, datetime(2025, 6, 15, 10))
    path.write_bytes(data)
    con = duckdb.connect(str(root / "cte.duckdb"))
    ensure_schema(con)
    [outcome] = Loader(con, landing, KEY, today=TODAY).load([path])
    reports = root / "reports"
    build_report(con, reports)
    manifest = con.execute(
        "select manifest_id, rows_read, rows_loaded, rows_quarantined, status "
        "from raw.load_manifest"
    ).fetchall()
    yield {"con": con, "outcome": outcome, "planted": planted, "reports": reports,
           "manifest": manifest, "data": data}  # fmt: skip
    con.close()


def _files(loaded: dict) -> tuple[Path, Path]:
    folder = loaded["reports"] / "dq" / DISTRICT / f"{YEAR}-errors"
    stem = f"student_enrollment-{loaded['outcome'].manifest_id}"
    return folder / f"{stem}.csv", folder / f"{stem}.xlsx"


def _lines(loaded: dict) -> list[dict]:
    with _files(loaded)[0].open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _xlsx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as book:
        return "\n".join(book.read(n).decode("utf-8") for n in book.namelist())


def test_each_defect_is_listed_at_its_line_with_its_rule(loaded):
    assert loaded["outcome"].status is Status.HELD
    lines = _lines(loaded)
    assert list(lines[0]) == list(FILE_HEADER)
    by_line: dict[int, list[dict]] = {}
    for line in lines:
        if line["Line"]:
            by_line.setdefault(int(line["Line"]), []).append(line)
    for number, (column, reason) in loaded["planted"].items():
        found = by_line.get(number, [])
        assert found, f"line {number} ({reason}) missing from the error file"
        assert any(f["Column"] == column for f in found), (number, column, found)
        severity = "warning" if number in WARNING_LINES else "blocking"
        assert any(f["Severity"] == severity for f in found), (number, found)
        assert all(f["Rule"] and f["How to fix"] and f["Problem"] for f in found), found
    # No line names a row that had nothing wrong.
    assert set(by_line) == set(loaded["planted"])
    # The rule is the suite's plain sentence; the value is shown for codes and numbers.
    [sex] = by_line[GOOD + 4]
    assert sex["Rule"] == "Sex must be F, M or X." and sex["Value as sent"] == "Q"
    assert sex["Problem"] == "Unknown code"
    [grade] = by_line[GOOD + 5]
    assert grade["Value as sent"] == "14" and "06 to 12" in grade["Rule"]
    [district] = by_line[GOOD + 8]
    assert district["Value as sent"] == "002" and "district 001" in district["Rule"]
    [student] = by_line[GOOD + 11]
    assert student["Value as sent"] == "" and "line number" in student["How to fix"]
    [warning] = by_line[GOOD + 13]
    assert warning["Value as sent"] == "2040" and "loaded as sent" in warning["How to fix"]


def test_a_held_file_says_what_to_change_to_be_accepted(loaded):
    file_level = [line for line in _lines(loaded) if not line["Line"]]
    assert file_level, "a held file starts with why it was held"
    assert all(line["Severity"] == "blocking" for line in file_level)
    problems = {line["Problem"] for line in file_level}
    assert "Held: too many rows set aside" in problems
    assert "Held: a blocking check failed" in problems
    set_aside = next(x for x in file_level if x["Problem"] == "Held: too many rows set aside")
    quarantined = loaded["outcome"].rows_quarantined
    assert f"{quarantined:,} of {loaded['outcome'].rows_read:,} rows" in set_aside["Rule"]
    assert "send the whole file again" in set_aside["How to fix"]
    assert loaded["outcome"].reason_code is HoldReason.SET_ASIDE_SHARE


def test_counts_reconcile_with_the_manifest(loaded):
    [(_, read, stored, quarantined, status)] = loaded["manifest"]
    assert status == "HELD" and read == GOOD + 14
    lines = [line for line in _lines(loaded) if line["Line"]]
    blocking = {int(x["Line"]) for x in lines if x["Severity"] == "blocking"}
    warned = {int(x["Line"]) for x in lines if x["Severity"] == "warning"}
    assert len(blocking) == quarantined == len(loaded["planted"]) - len(WARNING_LINES)
    assert warned == WARNING_LINES and not warned & blocking
    assert stored + quarantined == read
    # The page links both files and says how many lines they hold.
    page = (loaded["reports"] / "dq" / DISTRICT / f"{YEAR}.html").read_text(encoding="utf-8")
    csv_name, xlsx_name = (p.name for p in _files(loaded))
    assert f'href="{YEAR}-errors/{csv_name}"' in page
    assert f'href="{YEAR}-errors/{xlsx_name}"' in page
    assert f"({len(_lines(loaded))} lines)" in page


def test_the_xlsx_keeps_codes_as_text_and_the_same_lines(loaded):
    _, xlsx = _files(loaded)
    sheet = pl.read_excel(xlsx, engine="calamine", infer_schema_length=0)
    assert sheet.columns == list(FILE_HEADER)
    assert sheet.height == len(_lines(loaded))
    values = sheet["Value as sent"].drop_nulls().to_list()
    assert "099" in values and "002" in values  # leading zeros intact
    # Every cell of the value column is stored as a string, not as a number.
    xml = _xlsx_text(xlsx)
    value_cells = re.findall(r'<c r="D(\d+)"([^>]*)>', xml)
    assert value_cells and all('t="' in attrs for row, attrs in value_cells if row != "1")


def _pseudonym(student_id: str) -> str:
    return hmac.new(KEY, student_id.encode(), hashlib.sha256).hexdigest()


def test_no_student_id_name_or_birth_date_in_either_file(loaded):
    ids = {_sid(DISTRICT, i) for i in range(GOOD + 20)}
    planted = ids | {_pseudonym(s) for s in ids}
    planted |= (
        {_birth_date(i) for i in range(GOOD + 20)}
        | set(LAST)
        | set(FIRST)
        | {s[:8] + "X" for s in ids}
    )
    raw = loaded["data"].decode()
    assert all(v in raw for v in (_sid(DISTRICT, 1), _birth_date(1), LAST[1]))  # the scan can fail
    csv_path, xlsx_path = _files(loaded)
    for text in (csv_path.read_text(encoding="utf-8-sig"), _xlsx_text(xlsx_path)):
        leaked = sorted(v for v in planted if v in text)
        assert not leaked, leaked
        assert not re.search(r"\d{9}", text)


def test_one_hundred_thousand_lines_stream(tmp_path: Path):
    """A district-year with 100,000 problem lines writes its files in seconds."""
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    con.execute(
        "insert into raw.load_manifest (manifest_id, path, file_name, sha256, extract, "
        "district_code, school_year, status, loaded_at) values (1, 'x', 'big.csv', 's', "
        "'student_enrollment', '001', 2025, 'LOADED', now())"
    )
    con.execute(
        "insert into raw.quarantine select 1, i + 1, 'location_code', 'UNKNOWN_CODE', "
        "'School (location) code is not a school of this district in the state''s school "
        "list.', lpad((i % 999)::varchar, 3, '0') from range(100000) t(i)"
    )
    submission = {"manifest_id": 1, "extract": "student_enrollment", "file_name": "big.csv",
                  "status": "LOADED", "holds": None, "reason_code": None,
                  "error_message": None}  # fmt: skip
    started = time.perf_counter()
    written = write_error_file(con, submission, [], tmp_path / "out", "")
    seconds = time.perf_counter() - started
    assert written.lines == 100_000
    with (tmp_path / "out" / written.csv_href).open(encoding="utf-8-sig") as f:
        assert sum(1 for _ in f) == 100_001
    assert (tmp_path / "out" / written.xlsx_href).stat().st_size > 100_000
    print(f"100,000 lines: {seconds:.1f} s")
    assert seconds < 60
