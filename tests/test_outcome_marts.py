"""Outcome marts II (issue 6): a hand-worked golden fixture and recovery of planted effects.

The golden fixture (tests/fixtures/outcomes/*.csv, raw rows as ingest would store them)
describes four Albuquerque high schools, an Albuquerque middle school and a combined 6-12
school (Animas) in school year 2024; every expected figure below is
worked by hand in the comments. The recovery test generates sample-scale data, loads it with
the ingest loader and checks the marts against the effects planted in truth.json.

dbt runs as `dbt seed`, `dbt run` of the outcome marts and their ancestors, then `dbt test`
of the outcome models (unit tests included): the same nodes as `dbt build`, without letting
a failing test of another part of the project skip these models.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import REPO_ROOT
from dagster_project.warehouse import ensure_schema

DBT_DIR = REPO_ROOT / "dbt"
DBT = REPO_ROOT / ".venv" / "bin" / "dbt"
FIXTURES = Path(__file__).parent / "fixtures" / "outcomes"
# The outcome marts of issue 6 and their intermediate models, by area (dbt/models/README.md).
OUTCOME_MODELS = [
    f"path:models/{layer}/{area}"
    for layer in ("marts", "intermediate")
    for area in ("outcomes", "labor_market", "finance", "program_review")
]


def _dbt(warehouse: Path, target: Path, *args: str) -> None:
    env = os.environ | {
        "CTE_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    command = [str(DBT), *args, "--target-path", str(target), "--log-path", str(target / "logs")]
    done = subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}"


def _build_outcomes(warehouse: Path, target: Path) -> None:
    _dbt(warehouse, target, "seed")
    _dbt(warehouse, target, "run", "--select", *(f"+{m}" for m in OUTCOME_MODELS))
    _dbt(warehouse, target, "test", "--select", *OUTCOME_MODELS)


def _load_fixture(con: duckdb.DuckDBPyConnection) -> None:
    """Each CSV as one LOADED file of its extract: a manifest row, then its rows."""
    for csv in sorted(FIXTURES.glob("*.csv")):
        extract = csv.stem
        manifest_id = con.execute(
            "insert into raw.load_manifest (path, file_name, sha256, extract, status, loaded_at)"
            " values (?, ?, ?, ?, 'LOADED', now()) returning manifest_id",
            [str(csv), csv.name, extract, extract],
        ).fetchall()[0][0]
        con.execute(
            f"insert into raw.{extract} by name "
            f"select *, {manifest_id} as _manifest_id, 2024 as _file_year, "
            "row_number() over () + 1 as _source_row "
            "from read_csv(?, all_varchar = true, header = true)",
            [str(csv)],
        )


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    root = tmp_path_factory.mktemp("outcomes_golden")
    warehouse = root / "cte.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        _load_fixture(con)
    _build_outcomes(warehouse, root / "target")
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def _row(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, object]:
    cursor = con.execute(sql)
    rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}: {sql}"
    return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))


def test_program_outcomes_quarters_after_exit(golden: duckdb.DuckDBPyConnection) -> None:
    # a1 and a2 (WELD concentrators) graduate 2024-05-31 (2024 Q2): Q+2 = 2024 Q4, Q+4 =
    # 2025 Q2. a1 earns 3,000 + 1,000 in 2024 Q4 and 5,000 in 2025 Q2; a2 only in 2025 Q1
    # (neither quarter) and enrolls in two terms. Benchmark: OEWS 00-0000 median 12,000 / 4.
    row = _row(
        golden,
        "select * from marts.program_outcomes where exit_year = 2024 and level = 'school' "
        "and entity_code = '001-010' and program_of_study_code = 'WELD'",
    )
    assert row["leavers"] == 2 and row["graduates"] == 2
    assert row["q2_observed_leavers"] == 2 and row["employed_q2"] == 1
    assert row["employment_rate_q2"] == 0.5
    assert row["median_earnings_q2"] == 4000
    assert row["quarterly_wage_benchmark"] == 3000
    assert row["above_state_median_q2"] == 1 and row["above_state_median_share_q2"] == 1.0
    assert row["employed_q4"] == 1 and row["median_earnings_q4"] == 5000
    assert row["postsecondary_enrolled"] == 1 and row["postsecondary_rate"] == 0.5
    assert row["postsecondary_persisted"] == 1 and row["persistence_rate"] == 1.0


def test_labor_market_flags_keep_bls_flags(golden: duckdb.DuckDBPyConnection) -> None:
    occupations = {
        r[0]: r[1:]
        for r in golden.execute(
            "select soc_code, annual_median_wage, annual_median_wage_flag, wage_is_top_coded, "
            "is_high_wage, is_high_skill, is_high_demand from marts.labor_market_alignment "
            "where school_year = 2024 and region_scope = 'state' "
            "and program_of_study_code = 'WELD'"
        ).fetchall()
    }
    # '#': top-coded, the BLS cap; high demand by openings (150 >= 100); HS diploma: not high skill.
    assert occupations["51-4121"] == (239200.0, "#", True, True, False, True)
    # '*': wage unknown so high-wage unknown; growth 20% > the state's 10%: high demand.
    assert occupations["51-2041"] == (None, "*", False, None, True, True)
    summary = _row(
        golden,
        "select * from marts.labor_market_alignment where school_year = 2024 "
        "and region_scope = 'state' and program_of_study_code = 'WELD' and soc_code = 'ALL'",
    )
    assert summary["concentrator_graduates"] == 2
    assert summary["state_annual_openings"] == 170
    assert summary["graduates_per_100_openings"] == pytest.approx(200 / 170)


def test_a_regions_wage_comes_from_the_metro_area_of_its_schools(
    golden: duckdb.DuckDBPyConnection,
) -> None:
    """Every fixture school is Albuquerque's (district 001, Bernalillo county, CTE region 3):
    region 3's welders earn the Albuquerque area's 45,000 beside the state's top-coded wage;
    structural metal fabricators have no Albuquerque estimate, so no regional wage."""
    rows = {
        r[0]: r[1:]
        for r in golden.execute(
            "select soc_code, annual_median_wage, regional_median_wage, regional_wage_areas, "
            "regional_wage_coverage from marts.labor_market_alignment where school_year = 2024 "
            "and region_scope = 'region' and cte_region = '3' and program_of_study_code = 'WELD'"
        ).fetchall()
    }
    assert rows["51-4121"] == (239200.0, 45000.0, 1, 1.0)
    assert rows["51-2041"] == (None, None, None, None)
    state = _row(
        golden,
        "select regional_median_wage from marts.labor_market_alignment where school_year = 2024 "
        "and region_scope = 'state' and program_of_study_code = 'WELD' and soc_code = '51-4121'",
    )
    assert state["regional_median_wage"] is None


def test_comparison_matched_exactly(golden: duckdb.DuckDBPyConnection) -> None:
    # Strata: (a1 treated graduated, a3 control graduated), (a2 treated graduated, a4 control
    # dropped). Difference = 1/2 * (1 - 1) + 1/2 * (1 - 0) = 0.5. Every stratum has one
    # student of each side, so each side's variance around its overall mean stands in:
    # treated var(1, 1) = 0, controls var(1, 0) = 0.5 with 1 degree of freedom.
    # SE = sqrt(sum_s w_s^2 * (0 / 1 + 0.5 / 1)) = sqrt(2 * 1/4 * 0.5) = 0.5; Satterthwaite
    # df = 0.25^2 / (0.25^2 / 1) = 1, so the 95% interval is -/+ t(0.975, 1) = 12.706 SE,
    # not the normal 1.96 (issue 20: a t interval at small matched n).
    row = _row(
        golden,
        "select * from marts.comparison_outcomes where cohort = '2024' "
        "and comparison_scope = 'all' and outcome = 'graduation'",
    )
    assert (row["matched_strata"], row["matched_treated"], row["matched_controls"]) == (2, 2, 2)
    assert row["treated_mean"] == 1.0 and row["control_mean"] == 0.5
    assert row["difference"] == 0.5 and row["standard_error"] == pytest.approx(0.5)
    assert row["t_df"] == pytest.approx(1.0)
    assert row["ci_low"] == pytest.approx(0.5 - 12.706204736174703 * 0.5, rel=1e-6)
    assert row["ci_high"] == pytest.approx(0.5 + 12.706204736174703 * 0.5, rel=1e-6)
    assert row["outcome_population"] == "cohort members" and not row["is_conditional"]
    # Placement of graduates: a2's stratum has no graduated control, so only a1 vs a3. Both
    # graduated 2024-05-31: the placement quarter 2024 Q4 is covered (wages reach 2025 Q2,
    # postsecondary data year 2025), a1 is placed (wages in 2024 Q4), a3 is not, and a3 is
    # in no wage, postsecondary or enlistment record after exit: coverage 1 of 1 on each side,
    # found in records 1 of 1 (a1) and 0 of 1 (a3) - a3's "not placed" may be missing data.
    placement = _row(
        golden,
        "select * from marts.comparison_outcomes where cohort = '2024' "
        "and comparison_scope = 'program' and program_of_study_code = 'WELD' "
        "and outcome = 'placement_graduates'",
    )
    assert (placement["matched_treated"], placement["difference"]) == (1, 1.0)
    assert placement["standard_error"] is None and placement["ci_low"] is None
    assert placement["is_conditional"] and placement["outcome_population"] == "graduates"
    assert (placement["treated_population"], placement["treated_observed"]) == (1, 1)
    assert (placement["control_population"], placement["control_observed"]) == (1, 1)
    assert (placement["treated_in_records"], placement["control_in_records"]) == (1, 0)
    assert placement["control_in_records_share"] == 0.0
    # Among all leavers (unconditional): a4 dropped 2024-02-15 (Q = 2024 Q3, covered) and is
    # a leaver of a2's stratum, so both strata match: (1 - 0) for a1/a3 and (a2 placed by
    # postsecondary enrollment 2024-08-20: 1 - a4 not placed 0) -> difference 1.0.
    leavers = _row(
        golden,
        "select * from marts.comparison_outcomes where cohort = '2024' "
        "and comparison_scope = 'program' and program_of_study_code = 'WELD' "
        "and outcome = 'placement_leavers'",
    )
    assert (leavers["matched_strata"], leavers["matched_treated"]) == (2, 2)
    assert leavers["difference"] == 1.0 and not leavers["is_conditional"]


def test_cost_study_lesc_method(golden: duckdb.DuckDBPyConnection) -> None:
    # Fund 11000, function 1000: 44,000 - 4,000 at 001-010 (other funds and functions left
    # out), 56,000, 28,000, 28,000 over 4 students each. Combined school 064-010 (grades
    # 6-12): 2 of its 4 students are in grades 9-12, so they are the denominator and half
    # of its 28,000 is theirs: 14,000 / 2 = 7,000.
    spend = {
        (d, s): v
        for d, s, v in golden.execute(
            "select district_code, location_code, instruction_per_student "
            "from marts.cost_per_student where fiscal_year = 2024"
        ).fetchall()
    }
    assert spend == {
        ("001", "010"): 10000,
        ("001", "020"): 14000,
        ("001", "030"): 7000,
        ("001", "040"): 7000,
        ("064", "010"): 7000,
    }
    combined = _row(golden, "select * from marts.cost_per_student where district_code = '064'")
    assert combined["school_level"] == "COMBINED"
    assert (combined["enrolled_students"], combined["school_enrolled_students"]) == (2, 4)
    assert combined["school_instructional_spending"] == 28000
    assert combined["instructional_spending"] == 14000
    assert combined["school_cte_spending"] == 2000 and combined["cte_spending"] == 1000
    assert not combined["is_cte_powerhouse"] and combined["cte_spending_per_concentrator"] is None
    school = _row(
        golden,
        "select * from marts.cost_per_student where district_code = '001' "
        "and location_code = '010'",
    )
    assert school["is_cte_powerhouse"] and school["is_high_cost_specialist"]
    # Marginal CTE cost: the CTE program-code line (fund 24000, 6,000), not all instruction.
    assert school["cte_spending"] == 6000
    assert school["cte_spending_per_concentrator"] == 3000  # 6,000 / 2
    assert school["cte_spending_per_credential"] == 6000  # a2's credential is not verified
    # a1 employed, a2 enrolled; every 2024 leaver's quarter is covered (wages to 2025 Q2,
    # postsecondary data year 2024), so the count is complete.
    assert school["is_placement_complete"] and school["placement_observed_graduates"] == 3
    assert school["placed_graduates"] == 2 and school["cte_spending_per_placed_graduate"] == 3000
    # Powerhouses 001-010 and 001-020 (mean 12,000, variance 8e6) vs 001-030, 001-040 and
    # the combined school (7,000 each, variance 0).
    row = _row(
        golden,
        "select * from marts.cost_study where fiscal_year = 2024 "
        "and school_group = 'CTE_POWERHOUSE'",
    )
    assert (row["group_schools"], row["other_schools"]) == (2, 3)
    # Welch: t = 5,000 / sqrt(8e6 / 2 + 0 / 3) = 2.5 with 1 degree of freedom:
    # p = 1/2 - atan(2.5) / pi.
    assert row["mean_difference"] == 5000 and row["welch_t"] == 2.5 and row["welch_df"] == 1
    assert row["p_value_welch"] == pytest.approx(0.5 - math.atan(2.5) / math.pi)
    # Pooled: s^2 = (1 * 8e6 + 2 * 0) / 3, t = 5,000 / sqrt(s^2 (1/2 + 1/3)) = 1.5 sqrt(5)
    # with 3 degrees of freedom: p = 1/2 - (t / (sqrt(3) (1 + t^2/3)) + atan(t / sqrt(3))) / pi.
    t = 1.5 * math.sqrt(5)
    assert row["pooled_t"] == pytest.approx(t) and row["pooled_df"] == 3
    assert row["p_value_pooled"] == pytest.approx(
        0.5 - (t / (math.sqrt(3) * (1 + t * t / 3)) + math.atan(t / math.sqrt(3))) / math.pi
    )
    assert row["p_value_pooled"] < row["p_value_welch"]
    every = _row(
        golden,
        "select * from marts.cost_study where fiscal_year = 2024 "
        "and school_group = 'ALL_HIGH_SCHOOLS'",
    )
    assert (every["group_schools"], every["group_combined_schools"]) == (5, 1)
    assert every["p_value_welch"] is None and every["p_value_pooled"] is None


def test_funding_simulation_from_seed_parameters(golden: duckdb.DuckDBPyConnection) -> None:
    # 2 CTE schools * 25,000 + 4 concentrators * 350 + 1 tier-1 credential * 500
    # + 2 high-cost concentrators * 300 + 75 quality points * 40 = 55,500. Middle school
    # 001-235 is no CTE school: m1 completed an exploratory course in grade 8, below
    # formula_parameters cte_offer_min_grade (9).
    row = _row(
        golden,
        "select * from marts.funding_simulation where fiscal_year = 2024 and district_code = '001'",
    )
    assert row["cte_schools"] == 2 and row["concentrators"] == 4
    assert row["quality_points"] == 75
    assert row["simulated_allocation"] == 55500
    assert row["allocation_per_concentrator"] == 13875
    assert row["nextgen_award"] == 8000 and row["nextgen_award_per_participant"] == 2000
    # Per enrolled student: the 16 students in grades 9-12 of 001-010..040 (m1 is in grade 8).
    assert row["enrolled_students"] == 16 and row["nextgen_award_per_enrolled_student"] == 500
    quality = _row(golden, "select * from marts.program_quality where school_year = 2024")
    assert (quality["components_meeting"], quality["share_meeting"]) == (9, 0.75)
    assert quality["concentrators"] == 2


def test_marts_hold_no_student_columns(golden: duckdb.DuckDBPyConnection) -> None:
    columns = {
        c[0]
        for c in golden.execute(
            "select column_name from information_schema.columns where table_schema = 'marts'"
        ).fetchall()
    }
    assert columns and not columns & {"student_key", "student_id", "last_name", "birth_date"}


def test_outcome_marts_mark_the_first_loaded_year(golden: duckdb.DuckDBPyConnection) -> None:
    # The fixture holds school year 2024 alone: its concentrators rest on a partial history.
    for mart in (
        "program_outcomes",
        "labor_market_alignment",
        "comparison_outcomes",
        "cost_per_student",
        "funding_simulation",
        "program_quality",
    ):
        flags = golden.execute(f"select distinct is_history_complete from marts.{mart}").fetchall()
        assert flags == [(False,)], mart


@pytest.fixture(scope="module")
def recovered(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict]]:
    from dagster_project.ingest.loader import Loader
    from dagster_project.sample_data import generate, truth_path

    root = tmp_path_factory.mktemp("outcomes_recovery")
    landing = root / "raw" / "landing"
    generate("sample", 6, 7, landing)
    warehouse = root / "cte.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        Loader(con, landing, b"key").load(p for p in landing.rglob("*") if p.is_file())
    _build_outcomes(warehouse, root / "target")
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con, json.loads(truth_path(landing).read_text())
    con.close()


def _pooled(con: duckdb.DuckDBPyConnection, outcome: str, cohorts: list[int]) -> tuple:
    """Treated-weighted mean of the per-cohort differences of all concentrators, and its SE."""
    rows = con.execute(
        "select matched_treated, difference, standard_error from marts.comparison_outcomes "
        "where comparison_scope = 'all' and outcome = ? and cohort in "
        f"({', '.join(repr(str(c)) for c in cohorts)})",
        [outcome],
    ).fetchall()
    total = sum(r[0] for r in rows)
    estimate = sum(r[0] * r[1] for r in rows) / total
    se = math.sqrt(sum((r[0] / total) ** 2 * r[2] ** 2 for r in rows))
    return estimate, se


@pytest.mark.parametrize(
    ("outcome", "effect"),
    [
        ("graduation", "graduation_pp"),
        ("placement_graduates", "placement_pp"),
        ("earnings_q2_employed_graduates", "earnings_quarterly_dollars"),
    ],
)
def test_matched_comparison_recovers_planted_effects(
    recovered: tuple[duckdb.DuckDBPyConnection, dict], outcome: str, effect: str
) -> None:
    # Tolerance: the planted value lies within 2.5 standard errors of the estimate pooled over
    # the cohorts with full course history (others under-count concentrators, see truth.json).
    con, truth = recovered
    planted = truth["effects"][effect] / (100 if effect.endswith("_pp") else 1)
    estimate, se = _pooled(con, outcome, truth["full_history_cohorts"])
    assert abs(estimate - planted) <= 2.5 * se, (outcome, estimate, se, planted)
    assert estimate > 0 and se < planted  # the effect is detected, not only not contradicted


def test_cost_study_recovers_cte_heavy_spending(
    recovered: tuple[duckdb.DuckDBPyConnection, dict],
) -> None:
    # Planted: CTE-heavy high schools spend a fixed amount more per student every year; the
    # Powerhouse rule finds them. Tolerance: within 2.5 Welch standard errors, every year.
    con, truth = recovered
    planted = truth["effects"]["instructional_spending_per_student_cte_heavy_dollars"]
    heavy = {(s["district_code"], s["location_code"]) for s in truth["cte_heavy_schools"]}
    powerhouses = set(
        con.execute(
            "select distinct district_code, location_code from marts.cost_per_student "
            "where is_cte_powerhouse"
        ).fetchall()
    )
    assert powerhouses and powerhouses <= heavy
    rows = con.execute(
        "select mean_difference, welch_t from marts.cost_study "
        "where school_group = 'CTE_POWERHOUSE' and welch_t is not null"
    ).fetchall()
    assert rows
    for difference, t in rows:
        assert abs(difference - planted) <= 2.5 * difference / t
