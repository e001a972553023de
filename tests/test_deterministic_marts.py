"""Two builds of the same raw data give identical marts (issue 19, decision 0035).

A backfill, a full refresh and the nightly run must publish the same numbers. DuckDB adds
doubles in an order that depends on its threads (and on the order an upstream table's rows
were written), so a plain sum() of doubles could differ in the last digit from one build to
the next. The tiny sample is loaded once and built three times, by DuckDB on one, two and
four threads; every table of the intermediate and marts schemas must hold the same rows,
compared as text (a double prints with the digits that round-trip, so equal text is equal
bits, -0.0 included). Before the fix (sorted_sum(), DECIMAL sums of money) comparison_outcomes
differed at tiny scale between one and four threads, and five tables at sample scale.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import REPO_ROOT
from dagster_project.warehouse import ensure_schema

DBT_DIR = REPO_ROOT / "dbt"
DBT = REPO_ROOT / ".venv" / "bin" / "dbt"
SCHEMAS = ("intermediate", "marts")
DUCKDB_THREADS = (1, 2, 4)

# The project's DuckDB profile with DuckDB's thread count set: dbt-duckdb hands `settings`
# to DuckDB's SET.
PROFILE = """\
nm_cte:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{path}"
      threads: 2
      settings:
        memory_limit: 2GB
        threads: {threads}
"""


def _dbt(warehouse: Path, work: Path, threads: int, *args: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "profiles.yml").write_text(PROFILE.format(path=warehouse, threads=threads))
    env = os.environ | {
        "CTE_WAREHOUSE_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    command = [
        str(DBT),
        *args,
        "--profiles-dir",
        str(work),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    done = subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    """The tiny sample (3 years, seed 7) loaded and seeded once, then built per thread count."""
    from dagster_project.ingest.loader import Loader
    from dagster_project.sample_data import generate

    root = tmp_path_factory.mktemp("deterministic")
    landing = root / "raw" / "landing"
    generate("tiny", 3, 7, landing)
    loaded = root / "loaded.duckdb"
    with duckdb.connect(str(loaded)) as con:
        ensure_schema(con)
        Loader(con, landing, b"key").load(p for p in landing.rglob("*") if p.is_file())
    _dbt(loaded, root / "seed", 1, "seed")
    built = {}
    for threads in DUCKDB_THREADS:
        warehouse = root / f"threads_{threads}.duckdb"
        shutil.copyfile(loaded, warehouse)
        _dbt(warehouse, root / f"work_{threads}", threads, "run", "--full-refresh")
        built[threads] = warehouse
    yield built


def _fingerprints(path: Path) -> dict[str, tuple[int, str]]:
    """Per table of SCHEMAS: its row count and the md5 of its rows as text, sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            f"where schema_name in {SCHEMAS} order by 1"
        ).fetchall()
        return {
            table: con.execute(
                "select count(*), "
                "md5(coalesce(string_agg(row_text, chr(10) order by row_text), '')) "
                f"from (select cast(t as varchar) as row_text from {table} as t)"
            ).fetchone()
            for (table,) in tables
        }


def _differing_rows(a: Path, b: Path, table: str) -> int:
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        return sum(
            con.execute(
                f"select count(*) from (select * from {x}.{table} except all "
                f"select * from {y}.{table})"
            ).fetchone()[0]
            for x, y in (("a", "b"), ("b", "a"))
        )


def test_every_intermediate_and_mart_table_is_identical_across_thread_counts(builds) -> None:
    first, *others = DUCKDB_THREADS
    reference = _fingerprints(builds[first])
    assert "marts.comparison_outcomes" in reference
    assert reference["marts.comparison_outcomes"][0] > 0
    for threads in others:
        prints = _fingerprints(builds[threads])
        assert prints.keys() == reference.keys()
        differing = {
            table: _differing_rows(builds[first], builds[threads], table)
            for table in reference
            if prints[table] != reference[table]
        }
        assert not differing, f"{first} vs {threads} DuckDB threads: rows differing {differing}"
