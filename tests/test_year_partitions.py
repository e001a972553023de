"""Year-partitioned models (issue 19, decision 0025): after any sequence of resubmissions,
the incrementally built models equal a full rebuild of the same raw data, and a resubmission
rebuilds only the school years whose inputs changed.

The sample's enrollment-family files are read straight into the raw tables (the loader is
tested elsewhere); a resubmission rewrites one (extract, district, school year) slice as a
corrected file would: some rows gone, a flag flipped on others. dbt runs in this process on
one parsed manifest, so each step costs the models' time, not a parse.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner

from dagster_project.publish.chunks import rows_fingerprint
from dagster_project.sample_data import generate
from dagster_project.warehouse import ensure_schema

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "dbt"
YEAR_PARTITIONED = ("int_student_groups", "perkins_indicators", "equity_gaps", "program_continuum")
# Built by student (decision 0049): a resubmission rebuilds the students it touches.
STUDENT_PARTITIONED = ("int_student_years",)
# The marts the partitioned models feed, and every model upstream of them.
UPSTREAM = ("+equity_gaps", "+program_continuum")
EXTRACTS = (
    "student_enrollment",
    "cte_course_enrollment",
    "assessment_results",
    "credential_attainment",
    "work_based_learning",
    "wage_records",
    "postsecondary_enrollment",
    "military_enlistment",
)
# A resubmission flips this Y/N column on some of its rows, where the extract has it.
FLIPPED = {
    "student_enrollment": "economically_disadvantaged",
    "cte_course_enrollment": "dual_credit",
}


class Dbt:
    """dbt against one warehouse file, parsed once."""

    def __init__(self, warehouse: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CTE_WAREHOUSE_PATH", str(warehouse))
        monkeypatch.setenv("DBT_PROFILES_DIR", str(DBT_DIR))
        monkeypatch.setenv("CTE_DBT_CODE_VERSION", "test")
        self.flags = ["--project-dir", str(DBT_DIR), "--target-path", str(work / "target")]
        self.flags += ["--log-path", str(work / "logs")]
        parsed = dbtRunner().invoke(["parse", *self.flags])
        assert parsed.success, parsed.exception
        self.runner = dbtRunner(manifest=parsed.result)

    def __call__(self, *args: str) -> None:
        result = self.runner.invoke([*args, *self.flags, "--quiet"])
        assert result.success, result.exception or [
            (r.node.name, r.message) for r in result.result if r.status != "success"
        ]

    def tests(self, *args: str) -> dict[str, tuple[str, str]]:
        """Run a command that runs data tests, passing or not: each test's status and the
        SQL it ran, by test name."""
        result = self.runner.invoke([*args, *self.flags, "--quiet"])
        assert result.exception is None, result.exception
        return {
            r.node.name: (str(r.status), r.node.compiled_code)
            for r in result.result
            if r.node.resource_type == "test"
        }


def _load_sample(landing: Path, warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse))
    ensure_schema(con)
    for extract in EXTRACTS:
        columns = {r[0] for r in con.execute(f"describe raw.{extract}").fetchall()}
        for csv in sorted(landing.glob(f"*/{extract}/*.csv")):
            header = con.sql(f"select * from read_csv('{csv}', all_varchar = true)").columns
            if "student_id" not in header:  # a publisher's own layout (tested elsewhere)
                continue
            year = int(csv.stem.split("__")[2])
            manifest_id = con.execute(
                "insert into raw.load_manifest (path, file_name, sha256, extract, school_year,"
                " rows_read, rows_loaded, rows_quarantined, status, loaded_at) values"
                " (?, ?, ?, ?, ?, 0, 0, 0, 'LOADED', now()) returning manifest_id",
                [str(csv), csv.name, csv.name, extract, year],
            ).fetchall()[0][0]
            kept = ", ".join(c for c in header if c in columns)
            con.execute(
                f"insert into raw.{extract} by name select {kept}, {manifest_id} as _manifest_id,"
                f" row_number() over () + 1 as _source_row, {year} as _file_year"
                " from read_csv(?, header = true, all_varchar = true)",
                [str(csv)],
            )
    con.close()


def _resubmit(
    warehouse: Path, extract: str, district: str, year: int, seed: int, drop: bool = True
) -> int:
    """Rewrite one slice as a corrected file would (some rows gone, a flag flipped on others
    where the extract has one); returns the rows changed."""
    pick = f"hash(student_id || '{seed}') % 5"
    slice_ = f"district_code = '{district}' and _file_year = {year}"
    changed = 0
    with duckdb.connect(str(warehouse)) as con:
        if drop:
            changed += con.execute(
                f"delete from raw.{extract} where {slice_} and {pick} = 0"
            ).fetchall()[0][0]
        if flag := FLIPPED.get(extract):
            changed += con.execute(
                f"update raw.{extract} set {flag} = case {flag} when 'Y' then 'N' else 'Y' end"
                f" where {slice_} and {pick} = 1"
            ).fetchall()[0][0]
    return changed


def _fingerprints(warehouse: Path) -> dict[str, tuple[int, int]]:
    """Rows and an order-free fingerprint of each partitioned model (dbt keeps its last
    database open in this process, so each file is read on its own connection)."""
    with duckdb.connect(str(warehouse)) as con:
        out = {}
        for model in STUDENT_PARTITIONED + YEAR_PARTITIONED:
            table = f"{'intermediate' if model.startswith('int_') else 'marts'}.{model}"
            columns = con.sql(f"select * from {table}").columns
            out[model] = con.execute(
                f"select count(*), {rows_fingerprint(columns)} from {table}"
            ).fetchall()[0]
        return out


def _years_built(warehouse: Path) -> dict[str, list[int]]:
    """The years each partitioned model built since the last call."""
    with duckdb.connect(str(warehouse)) as con:
        rows = con.execute(
            "select model, list(school_year order by school_year) from build_state.year_builds"
            " where school_year is not null group by model"  # null: the model was built
        ).fetchall()
        con.execute("delete from build_state.year_builds")
    return {model.split(".")[-1]: years for model, years in rows}


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path
) -> Iterator[tuple[Path, Path]]:
    work = tmp_path_factory.mktemp("year_partitions")
    generate("sample", years=3, seed=5, landing_dir=work / "landing")
    warehouse = work / "cte.duckdb"
    _load_sample(work / "landing", warehouse)
    yield work, warehouse


def test_resubmissions_rebuild_only_their_years_and_equal_a_full_rebuild(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    work, warehouse = built
    dbt = Dbt(warehouse, work, monkeypatch)
    dbt("seed")
    dbt("run", "--select", *UPSTREAM)
    with duckdb.connect(str(warehouse)) as con:
        years = [
            r[0]
            for r in con.sql("select distinct _file_year from raw.student_enrollment").fetchall()
        ]
        districts = [
            r[0]
            for r in con.sql("select distinct district_code from raw.student_enrollment").fetchall()
        ]
    oldest, newest = min(years), max(years)
    assert _years_built(warehouse) == dict.fromkeys(
        STUDENT_PARTITIONED + YEAR_PARTITIONED, sorted(years)
    )

    # Nothing changed: nothing is rebuilt.
    dbt("run", "--select", *UPSTREAM)
    assert _years_built(warehouse) == {}

    # A flag flipped in one district's newest enrollment: only the newest year is rebuilt
    # (no row is dropped, which would change the students' final status in earlier years).
    # int_student_years replaces its students' rows of every year, but only the newest
    # year's content changes, which is what the models it feeds fingerprint.
    district = sorted(districts)[0]
    assert _resubmit(warehouse, "student_enrollment", district, newest, seed=1, drop=False)
    dbt("run", "--select", *(f"source:raw.student_enrollment+,{m}" for m in UPSTREAM))
    built_years = _years_built(warehouse)
    assert newest in built_years.pop("int_student_years")
    assert built_years == {model: [newest] for model in YEAR_PARTITIONED}

    rng = random.Random(19)
    # The oldest and the newest year, then a year and an extract drawn at random.
    steps = [
        (oldest, "student_enrollment"),
        (newest, "cte_course_enrollment"),
        (rng.choice(years), rng.choice(EXTRACTS)),
    ]
    full = work / "full" / warehouse.name  # the same name: dbt's relations name the database
    full.parent.mkdir()
    for seed, (year, extract) in enumerate(steps, start=2):
        district = rng.choice(sorted(districts))
        assert _resubmit(warehouse, extract, district, year, seed), (extract, district, year)
        dbt("run", "--select", *(f"source:raw.{extract}+,{m}" for m in UPSTREAM))
        with duckdb.connect(str(warehouse)) as con:
            con.execute("checkpoint")  # dbt's connection may hold the last writes in the WAL
        shutil.copy(warehouse, full)
        monkeypatch.setenv("CTE_WAREHOUSE_PATH", str(full))
        dbt("run", "--full-refresh", "--select", *STUDENT_PARTITIONED, *YEAR_PARTITIONED)
        monkeypatch.setenv("CTE_WAREHOUSE_PATH", str(warehouse))
        assert _fingerprints(warehouse) == _fingerprints(full), (extract, district, year)


def _student_rows(warehouse: Path) -> dict[str, set[tuple]]:
    """int_student_years' rows, by student."""
    with duckdb.connect(str(warehouse)) as con:
        rows = con.sql("select * from intermediate.int_student_years").fetchall()
    out: dict[str, set[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], set()).add(row)
    return out


def test_a_resubmission_replaces_only_its_students(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision 0049: one district's corrected enrollment file of one year replaces the rows
    of the students whose rows change, and no other. Every row is marked before the build
    (in locale, from the schools seed: the rule compares the enrollment columns with the
    table's): a row replaced loses the mark."""
    work, warehouse = built
    dbt = Dbt(warehouse, work, monkeypatch)
    dbt("seed")
    dbt("run", "--select", "+int_student_years")  # whatever the module did before: current
    _years_built(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        years = sorted(
            r[0]
            for r in con.sql("select distinct _file_year from raw.student_enrollment").fetchall()
        )
        district = con.sql("select max(district_code) from raw.student_enrollment").fetchall()
        year, district = years[1], district[0][0]  # a year with one before and one after
        in_slice = {
            r[0]
            for r in con.execute(
                "select student_id from raw.student_enrollment"
                " where district_code = ? and _file_year = ?",
                [district, year],
            ).fetchall()
        }
    before = _student_rows(warehouse)
    assert _resubmit(warehouse, "student_enrollment", district, year, seed=11)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update intermediate.int_student_years set locale = 'x' || coalesce(locale, '')"
        )

    results = dbt.tests(
        "build", "--select", "int_student_years", "--exclude-resource-type", "unit_test"
    )
    assert results and not _failed(results)
    with duckdb.connect(str(warehouse)) as con:
        replaced = con.sql(
            "select student_key, bool_and(new) from (select student_key,"
            " locale is null or locale not like 'x%' as new from intermediate.int_student_years)"
            " group by all having bool_or(new)"
        ).fetchall()
        con.execute(
            "update intermediate.int_student_years set locale = nullif(substr(locale, 2), '')"
            " where locale like 'x%'"
        )
        enrolled = {
            r[0]
            for r in con.execute(
                "select student_key from staging.stg_student_enrollment where school_year = ?",
                [year],
            ).fetchall()
        }
    after = _student_rows(warehouse)
    changed = {s for s in set(before) | set(after) if before.get(s) != after.get(s)}
    assert all(whole for _, whole in replaced), "a student's rows replaced in part"
    # Exactly the students whose rows changed, among the students of the slice resubmitted.
    assert {s for s, _ in replaced} == changed & set(after)
    assert changed <= in_slice
    # Among them, students whose rows of the year were all dropped: gone, or now attributed
    # to another year's row (found by the rows built last time only).
    assert any(s not in after for s in changed)
    assert any(s in after and s not in enrolled for s in changed)
    # The replaced rows' years are the years built, which the model's tests read.
    replaced_years = {r[1] for s in changed for r in before.get(s, set()) | after.get(s, set())}
    assert _years_built(warehouse) == {"int_student_years": sorted(replaced_years)}
    # Its tests read those years (decision 0044), as a year-partitioned model's do.
    years_read = ", ".join(map(str, sorted(replaced_years)))
    sql = results["primary_key_int_student_years_"][1]
    assert f"(school_year in ({years_read}) or school_year is null)" in sql


def _failed(results: dict[str, tuple[str, str]]) -> set[str]:
    return {name for name, (status, _) in results.items() if status != "pass"}


def test_tests_of_partitioned_models_read_the_years_built(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision 0044: a generic test of one year-partitioned model reads the school years
    its invocation built; a test of two models and a test outside a build read every row."""
    work, warehouse = built
    dbt = Dbt(warehouse, work, monkeypatch)
    dbt("seed")
    dbt("run", "--select", *UPSTREAM)  # whatever the module did before: built and current
    _years_built(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        years = sorted(
            r[0]
            for r in con.sql(
                "select distinct school_year from intermediate.int_student_groups"
            ).fetchall()
        )
        district = con.sql("select min(district_code) from raw.student_enrollment").fetchall()[0][0]
        # A row that breaks the key and the group value's not_null in the oldest year.
        con.execute(
            "insert into intermediate.int_student_groups select student_key, school_year,"
            f" group_type, null from intermediate.int_student_groups"
            f" where school_year = {years[0]} and group_type = 'all' limit 1"
        )
    newest = years[-1]
    planted = {"primary_key_int_student_groups_", "not_null_int_student_groups_group_value"}
    build = ("build", "--select", "int_student_groups", "--exclude-resource-type", "unit_test")

    # Nothing changed: the build tests no year.
    results = dbt.tests(*build)
    assert len(results) > 5 and not _failed(results)
    assert all("where school_year is null" in sql for _, sql in results.values())

    # One district's newest year resubmitted: its tests read the newest year only, and pass.
    assert _resubmit(warehouse, "student_enrollment", district, newest, seed=7, drop=False)
    dbt("run", "--select", "+int_student_groups", "--exclude", "int_student_groups")
    _years_built(warehouse)  # int_student_years' own
    results = dbt.tests(*build)
    assert _years_built(warehouse) == {"int_student_groups": [newest]}
    assert not _failed(results)
    sql = results["primary_key_int_student_groups_"][1]
    assert f"(school_year in ({newest}) or school_year is null)" in sql

    # `dbt test` on its own reads every row: the planted row fails.
    results = dbt.tests(
        "test", "--select", "int_student_groups", "--exclude-resource-type", "unit_test"
    )
    assert _failed(results) == planted
    assert not any("school_year in" in sql for _, sql in results.values())

    # A duplicate in the newest year's input: the build rebuilds that year and its test fails.
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into intermediate.int_student_years select * from"
            f" intermediate.int_student_years where school_year = {newest} and is_enrolled_hs"
            " limit 1"
        )
    results = dbt.tests(*build)
    assert _years_built(warehouse) == {"int_student_groups": [newest]}
    assert _failed(results) == {"primary_key_int_student_groups_"}

    # A full build tests every year: the planted row of the oldest year is gone with it,
    # the newest year's duplicate (from the input) fails.
    results = dbt.tests(*build, "--full-refresh")
    assert _years_built(warehouse) == {"int_student_groups": years}
    assert _failed(results) == {"primary_key_int_student_groups_"}
    in_years = f"(school_year in ({', '.join(map(str, years))}) or school_year is null)"
    assert all(in_years in sql for _, sql in results.values())

    # A relationships test (two parents) reads both models whole, in a build of both.
    dbt("run", "--select", "+int_student_groups", "--exclude", "int_student_groups")
    results = dbt.tests(
        "build",
        "--select",
        "int_student_groups",
        "perkins_indicators",
        "equity_gaps",
        "--indirect-selection",
        "cautious",
        "--exclude-resource-type",
        "unit_test",
    )
    relationships = {n: sql for n, (_, sql) in results.items() if n.startswith("relationships_")}
    assert relationships
    assert not any("school_year in" in sql for sql in relationships.values())
    assert "school_year in" in results["not_null_equity_gaps_school_year"][1]
