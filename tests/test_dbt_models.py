"""Golden test of the dbt models: a hand-made fixture through `dbt build`, every value exact.

The fixture (tests/fixtures/golden/, worked out student by student in its README.md) holds
21 pseudonymous students in three schools over school years 2023 and 2024, built so each
Perkins indicator and each business-rule edge case of measures.md is exercised:
concentration across years and within one year, a course taken in grade 8 that must not
count, a transfer superseded by a later enrollment row, a final TRANSFERRED_OUT status, a
dropout, an OTHER exit, an extended-year (1S2) graduate, placement in the second quarter
after exit by postsecondary enrollment, enlistment and wages in priority order (and
records one quarter too late), sex X left out of 4S1, a credential earned after exit, an
unverified credential and a verified one off PED's list, a job shadow (not sustained
work-based learning), and a course row from a superseded file. The cross-year rules (final
status superseded by a later year, history completeness) are dbt unit tests.

The raw tables are created with dagster_project.warehouse.ensure_schema and filled from
the fixture CSVs with one LOADED manifest row per file (a SUPERSEDED one for the
superseded file). The reference tables are created directly from fixture CSVs and dbt runs
with `--exclude resource_type:seed`, so the test does not depend on the content of the
seeds PED edits. dbt's own data tests and unit tests run in the same `dbt build`.
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.warehouse import ensure_schema

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
DBT_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "dbt"
MARTS = ("perkins_indicators", "program_continuum", "credential_attainment", "equity_gaps")

# Raw fixture file -> (raw table, manifest status). The year in a real file name is the
# school year; labor-market fixture files carry the data year 2024.
RAW_FILES: dict[str, tuple[str, str]] = {
    "student_enrollment.csv": ("student_enrollment", "LOADED"),
    "cte_course_enrollment.csv": ("cte_course_enrollment", "LOADED"),
    "cte_course_enrollment__superseded.csv": ("cte_course_enrollment", "SUPERSEDED"),
    "assessment_results.csv": ("assessment_results", "LOADED"),
    "credential_attainment.csv": ("credential_attainment", "LOADED"),
    "work_based_learning.csv": ("work_based_learning", "LOADED"),
    "postsecondary_enrollment.csv": ("postsecondary_enrollment", "LOADED"),
    "military_enlistment.csv": ("military_enlistment", "LOADED"),
    "wage_records.csv": ("wage_records", "LOADED"),
}
# This test's models, their upstream staging and intermediate models, and every test on them
# (models other parts of the project add downstream are theirs to test).
SELECTION = ["path:models/staging", *(f"+{mart}" for mart in MARTS)]
REFERENCE_TABLES = (
    "schools",
    "courses",
    "programs_of_study",
    "credentials",
    "ped_credential_list",
    "performance_targets",
    "district_counties",
    "labor_market_areas",
)


def _load_raw_file(con: duckdb.DuckDBPyConnection, csv_path: Path, table: str, status: str) -> None:
    manifest_id = con.execute(
        """
        insert into raw.load_manifest (path, file_name, sha256, extract, school_year, rows_read,
            rows_loaded, rows_quarantined, status, loaded_at)
        values (?, ?, ?, ?, 2024, 0, 0, 0, ?, current_timestamp)
        returning manifest_id
        """,
        [str(csv_path), csv_path.name, csv_path.name, table, status],
    ).fetchall()[0][0]
    con.execute(
        f"""
        insert into raw.{table} by name
        select *, {manifest_id} as _manifest_id, row_number() over () + 1 as _source_row,
            2024 as _file_year
        from read_csv(?, header = true, all_varchar = true)
        """,
        [str(csv_path)],
    )


def build_fixture_warehouse(path: Path, replaced_raw: dict[str, Path] | None = None) -> None:
    """Create the raw and reference tables of a scratch warehouse from the golden fixture;
    ``replaced_raw`` loads another file in place of a fixture file of that name."""
    replaced_raw = replaced_raw or {}
    con = duckdb.connect(str(path))
    try:
        ensure_schema(con)
        for file_name, (table, status) in RAW_FILES.items():
            source = replaced_raw.get(file_name, GOLDEN / "raw" / file_name)
            _load_raw_file(con, source, table, status)
        con.execute("create schema if not exists reference")
        for table in REFERENCE_TABLES:
            con.execute(
                f"create table reference.{table} as "
                "select * from read_csv(?, header = true, all_varchar = true)",
                [str(GOLDEN / "reference" / f"{table}.csv")],
            )
    finally:
        con.close()


def run_dbt_build(warehouse: Path, work_dir: Path, project_dir: Path = DBT_DIR) -> str:
    """`dbt build` of SELECTION with its tests and unit tests (not seeds) against `warehouse`."""
    env = os.environ | {
        "CTE_WAREHOUSE_PATH": str(warehouse),
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "GX_ANALYTICS_ENABLED": "false",
    }
    result = subprocess.run(
        [
            str(DBT_BIN),
            "build",
            "--select",
            *SELECTION,
            "--exclude",
            "resource_type:seed",
            "--project-dir",
            str(project_dir),
            "--target-path",
            str(work_dir / "target"),
            "--log-path",
            str(work_dir / "logs"),
        ],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    work_dir = tmp_path_factory.mktemp("golden")
    warehouse = work_dir / "golden.duckdb"
    build_fixture_warehouse(warehouse)
    run_dbt_build(warehouse, work_dir)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def marts_wages_through_2024q3(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The golden fixture as it stands in early 2025: wage records only through 2024 Q3."""
    work_dir = tmp_path_factory.mktemp("golden_wages_2024q3")
    with (GOLDEN / "raw" / "wage_records.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    early = [r for r in rows if (int(r["year"]), int(r["quarter"])) <= (2024, 3)]
    wage_file = work_dir / "wage_records.csv"
    with wage_file.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(early)
    warehouse = work_dir / "golden.duckdb"
    build_fixture_warehouse(warehouse, {"wage_records.csv": wage_file})
    run_dbt_build(warehouse, work_dir)
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def _expected_rows(name: str) -> list[dict[str, str]]:
    with (GOLDEN / name).open(newline="") as f:
        return list(csv.DictReader(f))


def _one_row(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple:
    rows = con.execute(sql, params).fetchall()
    assert len(rows) == 1, f"expected one row for {params}, found {len(rows)}"
    return rows[0]


@pytest.mark.parametrize(
    "expected",
    _expected_rows("expected_perkins_indicators.csv"),
    ids=lambda r: "-".join(
        (
            r["school_year"],
            r["indicator_code"],
            r["entity_code"],
            r["program_of_study_code"],
            r["group_type"],
            r["group_value"],
        )
    ),
)
def test_perkins_indicator_values(marts: duckdb.DuckDBPyConnection, expected: dict) -> None:
    numerator, denominator, rate, target, below = _one_row(
        marts,
        """
        select numerator, denominator, rate, state_target, is_below_target_trigger
        from marts.perkins_indicators
        where school_year = ? and indicator_code = ? and entity_code = ?
          and program_of_study_code = ? and career_cluster = ? and group_type = ?
          and group_value = ?
        """,
        [
            int(expected["school_year"]),
            expected["indicator_code"],
            expected["entity_code"],
            expected["program_of_study_code"],
            expected["career_cluster"],
            expected["group_type"],
            expected["group_value"],
        ],
    )
    assert (numerator, denominator) == (int(expected["numerator"]), int(expected["denominator"]))
    assert rate == pytest.approx(int(expected["numerator"]) / int(expected["denominator"]))
    if expected["state_target"]:
        assert target == pytest.approx(float(expected["state_target"]))
        assert below == (rate < 0.9 * target)
    else:
        assert target is None and below is None


def test_perkins_has_no_cells_beyond_the_expected_state_totals(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    """Every state-level all-students ALL-programs cell is one the README worked out."""
    expected = {
        (int(r["school_year"]), r["indicator_code"])
        for r in _expected_rows("expected_perkins_indicators.csv")
        if r["entity_code"] == "NM"
        and r["program_of_study_code"] == "ALL"
        and r["career_cluster"] == "ALL"
        and r["group_type"] == "all"
    }
    found = set(
        marts.execute(
            """
            select school_year, indicator_code from marts.perkins_indicators
            where level = 'state' and program_of_study_code = 'ALL' and career_cluster = 'ALL'
              and group_type = 'all'
            """
        ).fetchall()
    )
    assert found == expected


def _state_3s1(con: duckdb.DuckDBPyConnection, school_year: int, entity_code: str = "NM") -> tuple:
    return _one_row(
        con,
        """
        select numerator, denominator, placement_observed_leavers, placement_coverage_share,
            is_complete, is_below_target_trigger
        from marts.perkins_indicators
        where school_year = ? and indicator_code = '3S1' and entity_code = ?
          and program_of_study_code = 'ALL' and career_cluster = 'ALL' and group_type = 'all'
        """,
        [school_year, entity_code],
    )


def _placed_step_is_complete(con: duckdb.DuckDBPyConnection, school_year: int) -> bool:
    return _one_row(
        con,
        """
        select is_complete from marts.program_continuum
        where school_year = ? and level = 'state' and program_of_study_code = 'ALL'
          and career_cluster = 'ALL' and step = 'placed'
        """,
        [school_year],
    )[0]


def test_3s1_is_complete_when_every_q_is_loaded(marts: duckdb.DuckDBPyConnection) -> None:
    """Wages and postsecondary terms reach 2025 Q1; the latest Q of 2024 leavers is 2024 Q4
    (June exits), so all 11 are covered and the rate is judged: 7/11 = 0.636 >= 0.9 * 0.70."""
    numerator, denominator, observed, share, complete, below = _state_3s1(marts, 2024)
    assert (numerator, denominator, observed, share, complete) == (7, 11, 11, 1.0, True)
    assert below is False
    assert _placed_step_is_complete(marts, 2024) is True
    other = marts.execute(
        "select count(*) from marts.perkins_indicators where indicator_code <> '3S1' "
        "and (placement_observed_leavers is not null or placement_coverage_share is not null "
        "or not is_complete)"
    ).fetchone()
    assert other == (0,)


def test_3s1_waits_for_wages_not_yet_loaded(
    marts_wages_through_2024q3: duckdb.DuckDBPyConnection,
) -> None:
    """With wages through 2024 Q3 only, the eight May/June graduates (Q = 2024 Q4) are not
    covered: covered are p07 (exit 2024 Q1), p15 (2023 Q4) and p17 (2024 Q1), 3 of 11. p03,
    p08 and p11 lose their 2024 Q4 wages: placed p01 (postsecondary) p02 p15 (enlisted) p17
    (wages 2024 Q3) = 4 of 11, 0.36 < 0.63, which raised the flag before; incomplete, it does
    not. School 001-010: p01 p02 p03 p07 p08 p15, covered p07 p15, placed p01 p02 p15.
    2023 (p18, Q = 2023 Q4, wages in it) stays complete."""
    con = marts_wages_through_2024q3
    assert _state_3s1(con, 2024) == (4, 11, 3, pytest.approx(3 / 11), False, None)
    assert _state_3s1(con, 2024, "001-010") == (3, 6, 2, pytest.approx(2 / 6), False, None)
    assert _state_3s1(con, 2023) == (1, 1, 1, 1.0, True, None)
    assert _placed_step_is_complete(con, 2024) is False
    assert _placed_step_is_complete(con, 2023) is True


@pytest.mark.parametrize(
    "expected",
    _expected_rows("expected_program_continuum.csv"),
    ids=lambda r: "-".join(
        (r["entity_code"], r["program_of_study_code"], r["step"], r["credential_tier"])
    ),
)
def test_program_continuum_values(marts: duckdb.DuckDBPyConnection, expected: dict) -> None:
    student_count, base_count, rate = _one_row(
        marts,
        """
        select student_count, base_count, rate_of_base from marts.program_continuum
        where school_year = ? and entity_code = ? and program_of_study_code = ?
          and career_cluster = ? and step = ? and credential_tier = ?
        """,
        [
            int(expected["school_year"]),
            expected["entity_code"],
            expected["program_of_study_code"],
            expected["career_cluster"],
            expected["step"],
            expected["credential_tier"],
        ],
    )
    assert (student_count, base_count) == (
        int(expected["student_count"]),
        int(expected["base_count"]),
    )
    assert rate == pytest.approx(int(expected["student_count"]) / int(expected["base_count"]))


@pytest.mark.parametrize(
    "expected",
    _expected_rows("expected_credential_attainment.csv"),
    ids=lambda r: "-".join((r["entity_code"], r["career_cluster"], r["credential_tier"])),
)
def test_credential_attainment_values(marts: duckdb.DuckDBPyConnection, expected: dict) -> None:
    row = _one_row(
        marts,
        """
        select concentrators, credential_earners, credentials_earned,
            industry_requested_credentials
        from marts.credential_attainment
        where school_year = ? and entity_code = ? and career_cluster = ? and credential_tier = ?
        """,
        [
            int(expected["school_year"]),
            expected["entity_code"],
            expected["career_cluster"],
            expected["credential_tier"],
        ],
    )
    assert row == tuple(
        int(expected[c])
        for c in (
            "concentrators",
            "credential_earners",
            "credentials_earned",
            "industry_requested_credentials",
        )
    )


def test_equity_gap_of_sex_x_on_1s1_is_flagged(marts: duckdb.DuckDBPyConnection) -> None:
    """1S1 2024 at state level: all 8/10 = 0.8; X 1/1 (gap +0.2, flagged); F 3/4 (-0.05)."""
    gaps = dict(
        (value, (gap, flagged))
        for value, gap, flagged in marts.execute(
            """
            select group_value, gap, is_gap_above_threshold from marts.equity_gaps
            where school_year = 2024 and indicator_code = '1S1' and level = 'state'
              and program_of_study_code = 'ALL' and career_cluster = 'ALL'
              and group_type = 'sex'
            """
        ).fetchall()
    )
    assert set(gaps) == {"F", "M", "X"}
    assert gaps["X"][0] == pytest.approx(0.2) and gaps["X"][1] is True
    assert gaps["F"][0] == pytest.approx(-0.05) and gaps["F"][1] is False
    assert gaps["M"][0] == pytest.approx(0.0) and gaps["M"][1] is False


def test_school_cells_add_up_to_their_district_and_state(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    mismatches = marts.execute(
        """
        select parent.entity_code, parent.indicator_code
        from marts.perkins_indicators as parent
        join (
            select school_year, indicator_code, parent_entity_code, program_of_study_code,
                career_cluster, group_type, group_value, level,
                sum(denominator) as denominator, sum(numerator) as numerator
            from marts.perkins_indicators
            where level in ('school', 'district')
            group by all
        ) as children
          on children.parent_entity_code = parent.entity_code
         and children.school_year = parent.school_year
         and children.indicator_code = parent.indicator_code
         and children.program_of_study_code = parent.program_of_study_code
         and children.career_cluster = parent.career_cluster
         and children.group_type = parent.group_type
         and children.group_value = parent.group_value
        where (children.denominator, children.numerator)
            <> (parent.denominator, parent.numerator)
        """
    ).fetchall()
    assert mismatches == []


@pytest.mark.parametrize("mart", MARTS)
def test_marts_hold_no_student_level_columns(marts: duckdb.DuckDBPyConnection, mart: str) -> None:
    columns = {
        name
        for (name,) in marts.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = ?",
            [mart],
        ).fetchall()
    }
    assert columns, f"mart {mart} was not built"
    assert not columns & {"student_key", "student_id", "last_name", "first_name", "birth_date"}


def test_first_loaded_years_are_marked_incomplete_history(
    marts: duckdb.DuckDBPyConnection,
) -> None:
    # The fixture's history starts in 2023: neither 2023 nor 2024 reaches back four years.
    for mart in MARTS:
        years = marts.execute(
            f"select distinct school_year, is_history_complete from marts.{mart} order by 1"
        ).fetchall()
        assert years == [(2023, False), (2024, False)], mart


def test_no_final_status_is_revised_within_one_year(marts: duckdb.DuckDBPyConnection) -> None:
    # p05's TRANSFERRED_OUT is superseded by a row of the same year: the status as of 2024
    # already, so no cell is marked revised (the cross-year case is a unit test).
    assert marts.execute(
        "select count(*) from marts.perkins_indicators where is_final_status_revised"
    ).fetchall() == [(0,)]


def test_the_raw_sources_list_the_contracts_columns_in_order() -> None:
    """dbt/models/staging/_sources.yml describes the raw tables column by column, by hand;
    the contract (contracts.py) is what the loader writes. A column added to one only
    would go undocumented, or be documented and never loaded."""
    import yaml

    from dagster_project.contracts import EXTRACTS

    sources = yaml.safe_load((DBT_DIR / "models" / "staging" / "_sources.yml").read_text())
    tables = {t["name"]: t for s in sources["sources"] for t in s["tables"]}
    assert {e.name for e in EXTRACTS} <= tables.keys()
    for extract in EXTRACTS:
        listed = [c["name"] for c in tables[extract.name].get("columns", [])]
        assert listed == list(extract.warehouse_columns()), extract.name
