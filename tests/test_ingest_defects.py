"""Every bad input of extracts.md, from the generator's --defects files, loaded one at a time
over a clean district slice: the expected status, reason and message, rows conserved, and a
rejected or held file leaves what was current untouched."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import duckdb
import pytest

from dagster_project.contracts import EXTRACTS
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.landing import list_landed
from dagster_project.ingest.loader import FileOutcome, Loader
from dagster_project.ingest.reasons import HoldReason
from dagster_project.sample_data import generate, write_defects
from dagster_project.warehouse import ensure_schema

KEY = b"test-key"


@dataclass
class Case:
    defect: dict
    outcome: FileOutcome
    current_before: int | None  # the slice's LOADED manifest before this file
    current_after: int | None
    rows_before: int
    rows_after: int
    credential_names: list[str]  # as loaded, before a later file replaces the slice
    balances: list  # row conservation, checked before a later file replaces the slice


def _current(con, extract: str) -> tuple[int | None, int]:
    manifest = con.execute(
        "select max(manifest_id) from raw.load_manifest where status = 'LOADED' "
        "and extract = ? and district_code = '001' and school_year = 2025",
        [extract],
    ).fetchall()[0][0]
    rows = con.execute(f"select count(*) from raw.{extract}").fetchall()[0][0]
    return manifest, rows


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("defects")
    landing, defects_dir = root / "landing", root / "defects"
    generate("tiny", years=2, seed=7, landing_dir=landing, last_year=2025)
    defects = write_defects(defects_dir, seed=7)
    con = duckdb.connect(str(root / "cte.duckdb"))
    ensure_schema(con)
    loader = Loader(con, landing, KEY)
    baseline = loader.load([p for e in EXTRACTS for p in list_landed(landing, e)])
    assert all(o.status.value == "LOADED" for o in baseline)
    other_year = _other_year_rows(con)
    cases = []
    for defect in defects:
        target = landing / defect["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(defects_dir / defect["file"], target)
        before = _current(con, defect["extract"])
        [outcome] = loader.load([target])
        after = _current(con, defect["extract"])
        names = [
            r[0]
            for r in con.execute(
                "select credential_name from raw.credential_attainment where _manifest_id = ?",
                [outcome.manifest_id],
            ).fetchall()
        ]
        balances = reconcile(con, [outcome.manifest_id])
        cases.append(
            Case(defect, outcome, before[0], after[0], before[1], after[1], names, balances)
        )
    assert _other_year_rows(con) == other_year  # 2024 untouched by 2025's resubmissions
    yield con, cases, landing
    con.close()


def _other_year_rows(con) -> dict[str, list]:
    """Every 2024 row of every extract with a year column, in a stable order."""
    return {
        e.name: con.execute(
            f"select * exclude (_manifest_id) from raw.{e.name} "
            f"where {e.year_column} = 2024 order by all"
        ).fetchall()
        for e in EXTRACTS
        if e.year_column
    }


def _ids(cases):
    return [c.defect["defect"] for c in cases]


def test_every_listed_bad_input_is_covered(loaded):
    _, cases, _ = loaded
    names = set(_ids(cases))
    for required in (
        "missing_column",
        "renamed_column",
        "wrong_delimiter",
        "zero_byte",
        "header_only",
        "png_named_csv",
        "extra_columns",
        "utf8_bom",
        "latin1_names",
        "blank_lines",
        "truncated_last_line",
        "duplicate_rows",
        "duplicate_keys",
        "district_mismatch",
        "grade_14",
        "negative_credits",
        "future_exit_date",
        "unknown_sex_code",
    ):
        assert required in names


def test_each_file_gets_its_expected_status_and_reason(loaded):
    _, cases, _ = loaded
    for case in cases:
        d, o = case.defect, case.outcome
        assert o.status.value == d["expected_status"], d["defect"]
        if d["expected_status"] == "REJECTED":
            assert str(o.reason_code) == d["expected_reason"], d["defect"]
            assert o.error_message and len(o.error_message) > 20, d["defect"]
        if d["expected_status"] == "HELD":
            assert o.reason_code in {HoldReason.SET_ASIDE_SHARE, HoldReason.BLOCKING_CHECK}
            assert "set aside" in o.error_message or "blocking" in o.error_message, d["defect"]


def test_a_rejected_file_changes_nothing_already_loaded(loaded):
    _, cases, _ = loaded
    rejected = [c for c in cases if c.defect["expected_status"] == "REJECTED"]
    assert rejected
    for case in rejected:
        assert case.current_after == case.current_before, case.defect["defect"]
        assert case.rows_after == case.rows_before, case.defect["defect"]


def test_a_loaded_defect_file_replaces_exactly_its_slice(loaded):
    _, cases, _ = loaded
    for case in cases:
        if case.defect["expected_status"] == "LOADED":
            assert case.current_after == case.outcome.manifest_id != case.current_before


def test_a_held_defect_file_is_stored_beside_the_current_submission(loaded):
    """Mostly-bad files are held: the slice's current submission does not change; the held
    file's good rows are stored under its own manifest (for a release), not current."""
    _, cases, _ = loaded
    held = [c for c in cases if c.defect["expected_status"] == "HELD"]
    assert len(held) >= 8
    for case in held:
        assert case.current_after == case.current_before is not None, case.defect["defect"]
        [balance] = case.balances  # taken right after this file's load
        assert case.outcome.rows_loaded, case.defect["defect"]
        assert balance.rows_in_table == case.outcome.rows_loaded, case.defect["defect"]


def test_bad_rows_are_quarantined_with_the_reason_and_rows_reconcile(loaded):
    con, cases, _ = loaded
    for case in cases:
        d, o = case.defect, case.outcome
        if d["expected_status"] not in ("LOADED", "HELD"):
            continue
        [balance] = case.balances
        assert balance.balanced, d["defect"]
        held = con.execute(
            "select reason_code, column_name, count(distinct source_row), min(message) "
            "from raw.quarantine where manifest_id = ? group by all",
            [o.manifest_id],
        ).fetchall()
        reasons = {r[0]: r for r in held}
        if d["expected_reason"] is None or d["severity"] == "WARN":
            assert held == [], d["defect"]
            continue
        assert d["expected_reason"] in reasons, (d["defect"], held)
        _, column, rows, message = reasons[d["expected_reason"]]
        assert rows == d["bad_rows"], d["defect"]
        assert message, d["defect"]
        if d["column"] and d["expected_reason"] not in {"DUPLICATE_KEY", "DUPLICATE_ROW"}:
            assert column == d["column"], d["defect"]


def test_value_defects_fail_their_expectation_with_its_severity(loaded):
    con, cases, _ = loaded
    for case in cases:
        d = case.defect
        if d["severity"] is None or d["expected_reason"] in {
            "TRUNCATED_ROW",
            "DUPLICATE_ROW",
            "DUPLICATE_KEY",
            "DISTRICT_MISMATCH",
            "INVALID_STUDENT_ID",
        }:
            continue
        failed = con.execute(
            "select severity, reason_code, column_name from audit.dq_results "
            "where manifest_id = ? and not success",
            [case.outcome.manifest_id],
        ).fetchall()
        assert (d["severity"], d["expected_reason"], d["column"]) in failed, (d["defect"], failed)


def test_latin1_text_survives(loaded):
    _, cases, _ = loaded
    [case] = [c for c in cases if c.defect["defect"] == "latin1_credentials"]
    names = case.credential_names
    accented = [n for n in names if any(ch in n for ch in "áéíóúñÁÉÍÓÚÑ")]
    assert len(accented) >= case.defect["bad_rows"]
    assert "Técnico en Enfermería (Auxiliar de Enfermería)" in names
    assert not any("\ufffd" in n or "Ã" in n for n in names)


def test_no_name_birth_date_or_raw_id_in_the_warehouse(loaded):
    con, _, _ = loaded
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw'"
        ).fetchall()
    ]
    columns = {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'raw'"
        ).fetchall()
    }
    assert not columns & {"last_name", "first_name", "birth_date"}
    ids = con.execute(
        "select count(*) from raw.student_enrollment where not regexp_matches(student_id, "
        "'^[0-9a-f]{64}$')"
    ).fetchall()[0][0]
    assert ids == 0 and "student_enrollment" in tables
    values = con.execute("select value from raw.quarantine where column_name = 'student_id'")
    assert all(v[0].startswith("***") for v in values.fetchall())


def test_the_same_bytes_twice_load_once(loaded):
    con, cases, landing = loaded
    first = cases[-1].outcome
    original = landing / first.path
    copy = original.with_name(original.name.replace("T092300", "T235900"))
    shutil.copy2(original, copy)
    [again] = Loader(con, landing, KEY).load([copy])
    assert again.status.value == "DUPLICATE"
    assert f"manifest {first.manifest_id}" in again.error_message
    assert again.rows_loaded is None


def test_a_set_aside_row_keeps_its_students_pseudonym_where_its_id_is_readable(loaded):
    """raw.quarantined_students (decision 0023): one pseudonym per quarantined row of an
    extract with student IDs, the one the raw tables use, except rows whose ID is malformed
    or whose fields are shifted."""
    con, _, _ = loaded
    with_ids = ", ".join(
        f"'{e.name}'" for e in EXTRACTS if any(c.name == "student_id" for c in e.columns)
    )
    rows = con.execute(f"""
        select q.manifest_id, q.source_row, bool_or(q.reason_code in
                   ('INVALID_STUDENT_ID', 'FIELD_COUNT')) as unreadable,
               count(distinct k.student_key) as keys, min(k.student_key) as key
        from raw.quarantine q join raw.load_manifest m using (manifest_id)
        left join raw.quarantined_students k using (manifest_id, source_row)
        where m.extract in ({with_ids}) group by all
    """).fetchall()
    assert rows and all(keys == (0 if unreadable else 1) for _, _, unreadable, keys, _ in rows)
    assert {unreadable for *_, unreadable, _, _ in rows} == {True, False}
    keys = {key for *_, key in rows if key}
    assert all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)
    enrolled = con.execute("select student_id from raw.student_enrollment").fetchall()
    loaded_keys = {r[0] for r in enrolled}
    assert keys & loaded_keys  # the same pseudonym: a set-aside student links to their rows
    orphans = con.execute(
        "select count(*) from raw.quarantined_students k anti join raw.quarantine q "
        "using (manifest_id, source_row)"
    ).fetchall()
    assert orphans == [(0,)]
