"""`cte run` at tiny scale, as a user runs it: every row accounted for, marts published,
and no personal value anywhere outside the raw stage."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from dagster_project.contracts import EXTRACTS, Pii
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.landing import list_landed, parse_file_name
from dagster_project.ingest.sample import register_sample_files
from dagster_project.settings import DEVELOPMENT_PSEUDONYM_KEY

pytestmark = pytest.mark.slow


NO_NETWORK = Path(__file__).parent / "fixtures" / "no_network"


def _offline(home: Path) -> dict[str, str]:
    """Every Python process of the run (dbt's too) fails and logs any non-loopback connect."""
    return {"PYTHONPATH": str(NO_NETWORK), "CTE_NETWORK_LOG": str(home / "network.log")}


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("e2e")
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "CTE_LANDING_DIR",
            "CTE_WAREHOUSE_DIR",
            "CTE_WAREHOUSE_PATH",
            "CTE_PSEUDONYM_KEY",
            "DAGSTER_HOME",
        }
    }
    env["CTE_HOME"] = str(home)
    env |= _offline(home)
    result = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "run", "--scale", "tiny", "--years", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    (home / "cte_run.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "Marts built" in result.stdout
    return home


def _landed_rows(path: Path) -> int:
    landed = parse_file_name(path)
    if landed.suffix == ".xlsx":
        return pl.read_excel(path, infer_schema_length=0).height
    if landed.suffix == ".parquet":
        return pl.read_parquet(path).height
    text = path.read_bytes().decode("utf-8", errors="replace")
    return sum(1 for line in text.splitlines()[1:] if line.strip())


def test_every_row_of_every_file_is_loaded_or_quarantined(tiny_home):
    landing = tiny_home / "raw" / "landing"
    files = {p.name: p for e in EXTRACTS for p in list_landed(landing, e)}
    assert {parse_file_name(p).extract.name for p in files.values()} >= {
        e.name for e in EXTRACTS if not e.optional
    }
    with duckdb.connect(str(tiny_home / "warehouse" / "cte.duckdb"), read_only=True) as con:
        manifest = con.execute(
            "select manifest_id, file_name, rows_read, status from raw.load_manifest"
        ).fetchall()
        assert {name for _, name, _, _ in manifest} == set(files)
        assert all(status == "LOADED" for *_, status in manifest)
        for _, name, rows_read, _ in manifest:
            assert rows_read == _landed_rows(files[name]), name
        balances = reconcile(con, [m for m, *_ in manifest])
    assert len(balances) == len(manifest)
    assert all(b.balanced for b in balances)
    assert sum(b.rows_in_table for b in balances) > 0


def test_published_snapshot_holds_the_marts(tiny_home):
    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert {"perkins_indicators", "program_continuum", "catalog", "snapshot"} <= tables
        assert con.execute("select count(*) from perkins_indicators").fetchall()[0][0] > 0


def _personal_values(landing: Path) -> tuple[set[str], set[str], set[str]]:
    """Raw student IDs, their development-key pseudonyms, and full names in the input."""
    ids, names = set(), set()
    for extract in EXTRACTS:
        if not any(c.pii is Pii.STUDENT_ID for c in extract.columns):
            continue
        for path in list_landed(landing, extract):
            if parse_file_name(path).suffix != ".csv":
                continue
            frame = pl.read_csv(path, infer_schema=False)
            ids |= set(frame["student_id"].drop_nulls().to_list())
            if "last_name" in frame.columns:
                names |= {
                    f"{f} {la}"
                    for f, la in zip(frame["first_name"], frame["last_name"], strict=True)
                }
    key = DEVELOPMENT_PSEUDONYM_KEY.encode()
    hashes = {hmac.new(key, i.encode(), hashlib.sha256).hexdigest() for i in ids}
    return ids, hashes, names


def _database_hits(path: Path, forbidden: set[str]) -> list[str]:
    hits = []
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("create temp table forbidden(v varchar)")
        con.executemany("insert into forbidden values (?)", [[v] for v in forbidden])
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where not internal and database_name = current_database()"
        ).fetchall()
        for schema, table, column in columns:
            found = con.execute(
                f'select count(*) from "{schema}"."{table}" '
                f'where cast("{column}" as varchar) in (select v from forbidden)'
            ).fetchall()[0][0]
            if found:
                hits.append(f"{path.name}:{schema}.{table}.{column} ({found})")
    return hits


def test_no_personal_value_leaves_the_raw_stage(tiny_home):
    ids, hashes, names = _personal_values(tiny_home / "raw" / "landing")
    assert ids and names
    warehouse = tiny_home / "warehouse"
    # The working warehouse holds pseudonyms only: never a raw ID or a name.
    assert _database_hits(warehouse / "cte.duckdb", ids | names) == []
    # Published snapshots (current and history) hold neither IDs nor pseudonyms nor names.
    snapshots = list((warehouse / "published").rglob("*.duckdb"))
    assert snapshots
    for snapshot in snapshots:
        assert _database_hits(snapshot, ids | hashes | names) == []
    for parquet in (warehouse / "published").rglob("*.parquet"):
        with duckdb.connect() as con:
            cells = con.execute(f"select * from read_parquet('{parquet}')").fetchall()
        values = {str(v) for row in cells for v in row}
        assert not values & (ids | hashes | names), parquet.name
    # Reports, Data Docs, Dagster's storage and logs, the run's own output: text scan.
    text_files = [
        p
        for root in (warehouse / "reports", warehouse / "dagster_home")
        for p in root.rglob("*")
        if p.is_file()
    ]
    text_files.append(tiny_home / "cte_run.log")
    assert any(p.suffix == ".html" for p in text_files)
    for path in text_files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        assert not set(re.findall(r"(?<!\d)\d{9}(?!\d)", text)) & ids, path
        assert not set(re.findall(r"[0-9a-f]{64}", text)) & hashes, path
        assert not any(name in text for name in names), path


def test_every_sql_example_in_the_analyst_guide_runs_on_the_snapshot(tiny_home, monkeypatch):
    monkeypatch.chdir(tiny_home)  # the Parquet examples use paths from the project root
    guide = (Path(__file__).parent.parent / "docs" / "analyst-guide.md").read_text()
    examples = re.findall(r"```sql\n(.*?)```", guide, flags=re.S)
    assert len(examples) >= 10
    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        for sql in examples:
            for statement in filter(str.strip, sql.split(";")):
                con.execute(statement).fetchall()


def _snapshot_state(published: Path) -> tuple:
    with duckdb.connect(str(published), read_only=True) as con:
        return tuple(con.execute("select * from snapshot").fetchall())


def test_a_blocking_failure_keeps_the_previous_snapshot(tiny_home, tmp_path):
    """A district resubmits a file with grade 14 in a tenth of its rows: the rows are
    quarantined, the ERROR expectation fails, publishing refuses, and analysts keep the
    snapshot they had. The PED report names the file."""
    from dagster_project.sample_data import write_defects

    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    before = _snapshot_state(published)
    defects = write_defects(tmp_path / "defects", seed=7)
    [grade_14] = [d for d in defects if d["defect"] == "grade_14"]
    target = tiny_home / "raw" / "landing" / grade_14["file"]
    target.write_bytes((tmp_path / "defects" / grade_14["file"]).read_bytes())
    # Generated too, so it may load without a key once registered beside the landing zone.
    register_sample_files(tiny_home / "raw" / "landing", [target])

    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "CTE_LANDING_DIR",
            "CTE_WAREHOUSE_DIR",
            "CTE_WAREHOUSE_PATH",
            "CTE_PSEUDONYM_KEY",
            "DAGSTER_HOME",
        }
    }
    env["CTE_HOME"] = str(tiny_home)
    env |= _offline(tiny_home)
    result = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "blocking check" in output and target.name in output
    assert _snapshot_state(published) == before
    reports = tiny_home / "warehouse" / "reports" / "dq"
    assert "Blocking problems" in (reports / "index.html").read_text()
    district_page = (reports / "001" / "2025.html").read_text()
    assert target.name in district_page and "grade_level" in district_page


def test_the_run_makes_no_outbound_connection(tiny_home: Path) -> None:
    """Issue 23: `dbt --version` reached PyPI before every build. Each attempt is logged by
    tests/fixtures/no_network/sitecustomize.py (and fails, as on an air-gapped server)."""
    log = tiny_home / "network.log"
    attempts = log.read_text().splitlines() if log.exists() else []
    assert attempts == []
