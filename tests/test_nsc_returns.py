"""The National Student Clearinghouse's StudentTracker detail return, as NSC writes it (issue
17): its own header, YYYYMMDD dates, blank fields, Record Found Y/N, several rows per student
(one per enrollment period), a degree on a row of its own, a student not found on a row with
no college, quoted values and trailing blanks. Loaded through the one loader into the same
raw table as a pre-shaped file, names never kept (decision 0021)."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.landing import file_name, landing_path, parse_file_name
from dagster_project.ingest.loader import FileOutcome, Loader
from dagster_project.ingest.reader import read_landed_file
from dagster_project.ingest.reasons import RowReason, Status
from dagster_project.warehouse import ensure_schema

KEY = b"test-key"
NSC_HEADER = (
    "Your Unique Identifier,First Name,Middle Initial,Last Name,Name Suffix,"
    "Requester Return Field,Record Found Y/N,Search Date,College Code/Branch,College Name,"
    "College State,2-year / 4-year,Public / Private,Enrollment Begin,Enrollment End,"
    "Enrollment Status,Class Level,Enrollment Major 1,Enrollment CIP 1,Enrollment Major 2,"
    "Enrollment CIP 2,Graduated?,Graduation Date,Degree Title,Degree Major 1,Degree CIP 1,"
    "Degree Major 2,Degree CIP 2,Degree Major 3,Degree CIP 3,Degree Major 4,Degree CIP 4,"
    "College Sequence"
)
# Names no other fixture uses, so a search of the warehouse for them is conclusive.
NAMES = ("ZEPHYRINA", "QUILLANOVA", "OSWINDA", "THADDEAUS", "MARISOLENE", "BRISCOEVAN")
_BLANK_DEGREE = "N,,,,,,,,,,"  # Graduated? N and no degree fields
NSC_ROWS = (
    # A: two terms at UNM (the requester return field with NSC's trailing blank)
    f"0001,{NAMES[0]},K,{NAMES[1]},,100000001 ,Y,20240601,002663-00,"
    "UNIVERSITY OF NEW MEXICO-MAIN CAMPUS,NM,4,Public,20240819,20241213,F,F,NURSING,513801,,,"
    f"{_BLANK_DEGREE},1",
    f"0001,{NAMES[0]},K,{NAMES[1]},,100000001 ,Y,20240601,002663-00,"
    "UNIVERSITY OF NEW MEXICO-MAIN CAMPUS,NM,4,Public,20250113,20250509,F,F,NURSING,513801,,,"
    f"{_BLANK_DEGREE},",
    # B: a term at CNM, then its degree on a row of its own (quoted: the title has a comma)
    f"0002,{NAMES[2]},,{NAMES[3]},JR,100000002,Y,20240601,004742-00,"
    "CENTRAL NEW MEXICO COMMUNITY COLLEGE,NM ,2,Public,20240826,20241214,H,C,WELDING,480508,,,"
    f"{_BLANK_DEGREE},1",
    f"0002,{NAMES[2]},,{NAMES[3]},JR,100000002,Y,20240601,004742-00,"
    "CENTRAL NEW MEXICO COMMUNITY COLLEGE,NM,2,Public,,,,,,,,,Y,20250510,"
    '"CERTIFICATE, WELDING TECHNOLOGY",WELDING,480508,,,,,,,',
    # C: not found: the row has no college at all
    f"0003,{NAMES[4]},A,{NAMES[5]},,100000003,N,20240601,,,,,,,,,,,,,,,,,,,,,,,,,",
    # D: a dual-credit term while in high school, then a 4-year college in Texas
    f"0004,{NAMES[1]},,{NAMES[0]},,100000004,Y,20240601,004742-00,"
    "CENTRAL NEW MEXICO COMMUNITY COLLEGE,NM,2,Public,20240108,20240503,L,,,,,,"
    f"{_BLANK_DEGREE},1",
    f'0004,{NAMES[1]},,{NAMES[0]},,100000004,Y,20240601,003661-00,"TEXAS TECH UNIVERSITY",'
    f"TX,4,Public,20240826,20241207,F,F,,,,,{_BLANK_DEGREE},2",
    # E: a less-than-2-year private school
    f"0005,{NAMES[3]},,{NAMES[2]},,100000005,Y,20240601,041234-00,"
    "PIMA MEDICAL INSTITUTE-ALBUQUERQUE,NM,L,Private,20240909,20250228,F,C,MEDICAL ASSISTING,"
    f"510801,,,{_BLANK_DEGREE},1",
    # F: not found
    f"0006,{NAMES[5]},,{NAMES[4]},,100000006,N,20240601,,,,,,,,,,,,,,,,,,,,,,,,,",
)
# The same enrollments in the contract's own layout.
CONTRACT_ROWS = (
    "student_id,term_start,institution_id,institution_type,in_state",
    "100000001,2024-08-19,002663-00,4YR,Y",
    "100000001,2025-01-13,002663-00,4YR,Y",
    "100000002,2024-08-26,004742-00,2YR,Y",
    "100000004,2024-01-08,004742-00,2YR,Y",
    "100000004,2024-08-26,003661-00,4YR,N",
    "100000005,2024-09-09,041234-00,TECH,Y",
)


def _land(root: Path, lines: tuple[str, ...] | list[str], stamp: str = "20250131T093000") -> Path:
    folder = landing_path(root, get_extract("postsecondary_enrollment"))
    folder.mkdir(parents=True, exist_ok=True)
    when = datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    path = folder / file_name("postsecondary_enrollment", "state", 2024, when, ".csv")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())  # as NSC's download: CRLF
    return path


def _load(root: Path, lines) -> tuple[duckdb.DuckDBPyConnection, FileOutcome]:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    path = _land(root / "landing", lines)
    [outcome] = Loader(con, root / "landing", KEY, today=date(2025, 3, 1)).load([path])
    return con, outcome


def _raw_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select student_id, term_start::varchar, institution_id, institution_type, in_state "
        "from raw.postsecondary_enrollment order by all"
    ).fetchall()


def _every_text(con: duckdb.DuckDBPyConnection) -> str:
    """Every text value of every table in the warehouse, one string."""
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR'"
    ).fetchall()
    values = [
        str(v)
        for schema, table, column in columns
        for (v,) in con.execute(f'select "{column}" from {schema}.{table}').fetchall()
        if v is not None
    ]
    return "\n".join(values)


@pytest.fixture(scope="module")
def nsc_load(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, FileOutcome]:
    return _load(tmp_path_factory.mktemp("nsc"), (NSC_HEADER, *NSC_ROWS))


def test_the_return_loads_as_nsc_writes_it_and_its_rows_reconcile(nsc_load):
    con, outcome = nsc_load
    assert outcome.status is Status.LOADED, outcome.error_message
    assert "read as the National Student Clearinghouse StudentTracker detail return layout" in (
        outcome.notes
    )
    # 9 lines: 6 enrollment periods loaded, the 2 students not found and the degree row
    # counted in the notes (no enrollment, and no fault: nothing set aside, no hold).
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (6, 6, 0)
    skipped = sorted(n for n in outcome.notes if n.startswith("skipped"))
    assert skipped == [
        "skipped 1 degree row(s) (Graduated? Y): a credential earned, not an enrollment period",
        "skipped 2 row(s) of students the Clearinghouse did not find (Record Found N): "
        "no enrollment",
    ]
    assert outcome.rows_read + 2 + 1 == len(NSC_ROWS)
    [balance] = reconcile(con, [outcome.manifest_id])
    assert balance.balanced and balance.rows_in_table == 6


def test_nsc_values_become_the_contracts(nsc_load):
    con, _ = nsc_load
    rows = {(r[1], r[2]): r[3:] for r in _raw_rows(con)}
    assert rows[("2024-08-19", "002663-00")] == ("4YR", "Y")
    assert rows[("2024-08-26", "004742-00")] == ("2YR", "Y")  # 'NM ' with NSC's blank
    assert rows[("2024-08-26", "003661-00")] == ("4YR", "N")  # Texas
    assert rows[("2024-09-09", "041234-00")] == ("TECH", "Y")  # less than 2-year
    ids = {r[0] for r in _raw_rows(con)}
    assert len(ids) == 4 and all(len(i) == 64 for i in ids)  # pseudonyms, not IDs


def test_an_equivalent_contract_layout_file_yields_the_same_raw_rows(nsc_load, tmp_path):
    con, _ = nsc_load
    shaped, outcome = _load(tmp_path, CONTRACT_ROWS)
    assert outcome.status is Status.LOADED and outcome.rows_loaded == 6
    assert _raw_rows(shaped) == _raw_rows(con)


def test_no_name_is_kept_logged_or_in_a_reason(tmp_path, caplog):
    """A name with an unquoted comma shifts the row's values (set aside, values unshown), a
    blank ID falls back to Your Unique Identifier (set aside, masked), a bad date is shown:
    names appear nowhere in the warehouse, the quarantine or the log."""
    shifted = (
        NSC_ROWS[0]
        .replace(f",{NAMES[1]},", f",{NAMES[1]}, {NAMES[4]},")
        .replace("20240819", "20230821")
    )
    no_id = NSC_ROWS[6].replace(",100000004,", ",,")
    bad_date = NSC_ROWS[7].replace("20240909", "2024099")
    caplog.set_level(logging.DEBUG)
    con, outcome = _load(tmp_path, (NSC_HEADER, *NSC_ROWS, shifted, no_id, bad_date))
    assert outcome.status is Status.HELD  # 3 of 9 records set aside
    assert outcome.rows_read == 9 and outcome.rows_loaded + outcome.rows_quarantined == 9
    reasons = dict(
        con.execute("select source_row, reason_code from raw.quarantine order by 1").fetchall()
    )
    assert reasons == {
        11: RowReason.FIELD_COUNT,
        12: RowReason.INVALID_STUDENT_ID,
        13: RowReason.TYPE_MISMATCH,
    }
    text = _every_text(con) + caplog.text
    assert "2024099" in text  # the bad date is shown to the sender; a name never is
    assert not [n for n in NAMES if n in text.upper()]


def test_a_return_saved_as_parquet_skips_the_same_rows(tmp_path):
    csv_path = _land(tmp_path, (NSC_HEADER, *NSC_ROWS))
    path = csv_path.with_name(csv_path.name.replace(".csv", ".parquet"))
    pl.read_csv(csv_path, infer_schema=False).write_parquet(path)
    parsed = read_landed_file(parse_file_name(path))
    assert parsed.frame.height == 6
    assert sum(n.startswith("skipped") for n in parsed.notes) == 2
