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

from benchmarks.analyst_answers import answers
from dagster_project.contracts import EXTRACTS, Pii
from dagster_project.ingest.audit import reconcile
from dagster_project.ingest.landing import list_landed, parse_file_name
from dagster_project.ingest.layouts import find_layout, header_name
from dagster_project.ingest.sample import register_sample_files
from dagster_project.settings import DEVELOPMENT_PSEUDONYM_KEY

pytestmark = pytest.mark.slow


NO_NETWORK = Path(__file__).parent / "fixtures" / "no_network"


def _offline(home: Path) -> dict[str, str]:
    """Every Python process of the run (dbt's too) fails and logs any non-loopback connect."""
    return {"PYTHONPATH": str(NO_NETWORK), "CTE_NETWORK_LOG": str(home / "network.log")}


def _env(home: Path) -> dict[str, str]:
    """The environment of a user's shell in HOME, offline, with no key (only the generated
    sample loads)."""
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
    return env | _offline(home)


def _cte(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`cte ARGS` in HOME, offline, with no key (only the generated sample loads)."""
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("e2e")
    result = _cte(home, "run", "--scale", "tiny", "--years", "3")
    (home / "cte_run.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "Marts built" in result.stdout
    return home


def _landed_rows(path: Path) -> int:
    landed = parse_file_name(path)
    if landed.suffix == ".xlsx":
        # Data rows: a publisher's title above the header and notes below the table fill
        # one cell only.
        sheet = pl.read_excel(path, has_header=False, infer_schema_length=0)
        filled = sheet.select(pl.sum_horizontal(pl.all().is_not_null().cast(pl.Int32)))
        return int((filled.to_series() > 1).sum()) - 1
    if landed.suffix == ".parquet":
        return pl.read_parquet(path).height
    text = path.read_bytes().decode("utf-8", errors="replace")
    rows = sum(1 for line in text.splitlines()[1:] if line.strip())
    return rows - _no_records(path)


def _no_records(path: Path) -> int:
    """Rows a publisher's layout declares no record (the Clearinghouse's not-found and
    degree rows): counted in the manifest's notes, not in rows_read."""
    frame = pl.read_csv(path, infer_schema=False)
    layout = find_layout(parse_file_name(path).extract, [c.lower() for c in frame.columns])
    if layout is None or not layout.not_records:
        return 0
    by_name = {header_name(c): c for c in frame.columns}
    none = pl.any_horizontal(
        pl.col(by_name[r.column]).str.strip_chars().str.to_uppercase().is_in(r.values)
        for r in layout.not_records
    )
    return frame.filter(none).height


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


def test_a_published_gap_holds_the_marts_gap_and_flag(tiny_home):
    """Issue 15: a gap to a ranged or coded rate is published as a range; the mart's gap
    lies in it, and where the flag is published it is the mart's flag. So is every trigger
    flag, some set from a ranged or coded rate."""
    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    working = tiny_home / "warehouse" / "cte.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        con.execute(f"attach '{working}' as w (read_only)")
        key = (
            "school_year, indicator_code, level, entity_code, program_of_study_code, "
            "career_cluster, group_type, group_value"
        )
        rows = con.execute(
            f"""select w.gap, p.gap, p.gap_display, p.is_gap_above_threshold,
                    w.is_gap_above_threshold
            from equity_gaps p join w.marts.equity_gaps w using ({key})"""
        ).fetchall()
    ranged = [r for r in rows if r[1] is None and r[2] is not None]
    assert ranged, "the sample publishes no gap as a range"
    for true_gap, _, display, _, _ in ranged:
        low, high = (float(end.removesuffix(" pts")) for end in display.split(" to "))
        assert low - 1e-9 <= round(true_gap * 100, 9) <= high + 1e-9, (true_gap, display)
    assert all(r[3] == r[4] for r in rows if r[3] is not None)
    assert any(r[3] is not None for r in ranged)
    with duckdb.connect(str(published), read_only=True) as con:
        con.execute(f"attach '{working}' as w (read_only)")
        flags = con.execute(
            f"""select p.is_below_target_trigger, w.is_below_target_trigger, p.rate is null
            from perkins_indicators p join w.marts.perkins_indicators w using ({key})
            where p.is_below_target_trigger is not null"""
        ).fetchall()
    assert all(shown == true for shown, true, _ in flags)
    assert any(from_range for _, _, from_range in flags), "no trigger flag from a range"


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
            layout = find_layout(extract, [c.lower() for c in frame.columns])
            if layout is not None:  # a publisher's layout: its own names for the ID and names
                by_name = {header_name(c): c for c in frame.columns}
                [id_column, *_] = [by_name[n] for n in layout.columns["student_id"] if n in by_name]
                names_as = {"first name": "first_name", "last name": "last_name"}
                frame = frame.rename(
                    {id_column: "student_id"}
                    | {by_name[n]: c for n, c in names_as.items() if n in by_name}
                )
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
    # Reports, Data Docs, Dagster's storage and logs, the run's own output and its full log
    # (warehouse/logs): text scan.
    text_files = [
        p
        for root in (warehouse / "reports", warehouse / "dagster_home", warehouse / "logs")
        for p in root.rglob("*")
        if p.is_file()
    ]
    text_files.append(tiny_home / "cte_run.log")
    assert any(p.suffix == ".html" for p in text_files)
    assert any(p.name.startswith("cte-run-") for p in text_files)
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
    # Every "-- answer:" column is in its answer (the state-scale benchmark then checks
    # that the figures are there: python -m benchmarks.analyst_answers).
    checked = [a for a in answers(published) if a.question.answer_columns]
    assert len(checked) >= 12
    assert any(a.shown for a in checked)


def _snapshot_state(published: Path) -> tuple:
    with duckdb.connect(str(published), read_only=True) as con:
        return tuple(con.execute("select * from snapshot").fetchall())


def _published_rows(published: Path) -> dict[str, list]:
    with duckdb.connect(str(published), read_only=True) as con:
        return {
            t: con.execute(f"select * from {t} order by all").fetchall()
            for t in ("perkins_indicators", "program_continuum")
        }


def test_the_run_makes_no_outbound_connection(tiny_home: Path) -> None:
    """Issue 23: `dbt --version` reached PyPI before every build. Each attempt is logged by
    tests/fixtures/no_network/sitecustomize.py (and fails, as on an air-gapped server)."""
    log = tiny_home / "network.log"
    attempts = log.read_text().splitlines() if log.exists() else []
    assert attempts == []


REPO = Path(__file__).parent.parent
RUNS_ON_THE_SAMPLE = "# runs on the sample"


def _sample_examples() -> list[tuple[str, str]]:
    """The shell blocks of README.md and docs/*.md that start with RUNS_ON_THE_SAMPLE, as
    (file, block); indented blocks in lists included."""
    found = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for indent, block in re.findall(
            r"^( *)```sh\n(.*?)^\1```", doc.read_text(), flags=re.S | re.M
        ):
            lines = [line.removeprefix(indent) for line in block.splitlines()]
            if lines and lines[0].strip() == RUNS_ON_THE_SAMPLE:
                found.append((doc.name, "\n".join(lines)))
    return found


def test_the_command_examples_of_the_readme_and_docs_run_on_the_sample(tiny_home: Path):
    """Issue 24: the README's `cte load ... --district 012` named a district the sample lacks
    and read nothing. Each marked block runs as a user pastes it, in the project folder after
    `make run` (here the sample home, with the test's venv as `.venv`); it must exit 0 and
    print each `# -> text` line's text."""
    examples = _sample_examples()
    assert {name for name, _ in examples} >= {"README.md", "operations.md", "analyst-guide.md"}
    venv = tiny_home / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    for name, block in examples:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=tiny_home,
            env=_env(tiny_home),
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{name}:\n{block}\n{output[-3000:]}"
        for expected in re.findall(r"^# -> (.+)$", block, flags=re.M):
            assert expected in output, f"{name}: {expected!r} not in\n{output[-3000:]}"


def _last_line(result: subprocess.CompletedProcess, command: str) -> str:
    [line] = [x for x in (result.stdout + result.stderr).splitlines() if x.startswith(command)]
    return line


def test_an_excel_resave_and_a_short_file_are_held_and_the_published_counts_unchanged(tiny_home):
    """District 001 resends its 2025 enrollment opened and saved in Excel (zeros stripped,
    CRLF, BOM) and a course file with 30 % of its rows. Both are held; `cte run` exits
    non-zero naming them; the state still publishes, with the same counts."""
    from test_delivery_guard import excel_resave

    landing = tiny_home / "raw" / "landing"
    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    before, snapshot_before = _published_rows(published), _snapshot_state(published)
    enrollment = next((landing / "enrollment" / "student_enrollment").glob("*__001__2025__*"))
    excel = enrollment.with_name("student_enrollment__001__2025__20260301T100000.csv")
    excel.write_bytes(excel_resave(enrollment))
    courses = next((landing / "enrollment" / "cte_course_enrollment").glob("*__001__2025__*"))
    lines = courses.read_bytes().splitlines(keepends=True)
    short = courses.with_name("cte_course_enrollment__001__2025__20260301T100000.csv")
    short.write_bytes(b"".join(lines[: 1 + (len(lines) - 1) * 3 // 10]))
    # Written by the generator's tools, so they load without a key once registered.
    register_sample_files(landing, [excel, short])

    result = _cte(tiny_home, "run")
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    line = _last_line(result, "cte run:")
    assert "2 file(s) read: 2 held" in line and excel.name in line and short.name in line
    assert "LOST_LEADING_ZEROS" in line and "VOLUME_DROP" in line
    # Published again (a held file never stops the state), with the same numbers.
    assert _snapshot_state(published) != snapshot_before
    assert _published_rows(published) == before
    page = (tiny_home / "warehouse" / "reports" / "dq" / "001" / "2025.html").read_text()
    assert "Held files: not used until reviewed" in page and "No blocking problems" not in page
    assert excel.name in page and short.name in page and "leading zeros" in page

    # `cte load` says the same: the latest enrollment of the slice, read again, is held.
    again = _cte(tiny_home, "load", "student_enrollment", "2025", "--district", "001", "--reload")
    assert again.returncode == 1 and "1 held" in _last_line(again, "cte load:")
    fine = _cte(tiny_home, "load", "assessment_results", "2025", "--district", "001", "--reload")
    assert fine.returncode == 0, (fine.stdout + fine.stderr)[-3000:]
    assert _last_line(fine, "cte load:") == "cte load: 1 file(s) read: 1 current"


def test_a_reviewer_releases_the_short_file_and_the_next_run_publishes_it(tiny_home):
    published = tiny_home / "warehouse" / "published" / "cte_marts.duckdb"
    before = _published_rows(published)
    listing = _cte(tiny_home, "review", "list")
    assert listing.returncode == 0 and "2 held submission(s)" in listing.stdout
    [course_line] = [x for x in listing.stdout.splitlines() if "cte_course_enrollment" in x]
    manifest_id = course_line.split()[0]
    refused = _cte(tiny_home, "review", "release", manifest_id)
    assert refused.returncode != 0 and "--by NAME" in refused.stderr
    released = _cte(
        tiny_home, "review", "release", manifest_id, "--by", "P. Reviewer", "--note", "confirmed"
    )
    assert released.returncode == 0 and "now current" in released.stdout, released.stderr
    with duckdb.connect(str(tiny_home / "warehouse" / "cte.duckdb"), read_only=True) as con:
        status = con.execute(
            "select status from raw.load_manifest where manifest_id = ?", [int(manifest_id)]
        ).fetchall()
        decisions = con.execute(
            "select manifest_id, decision, reviewer, note from audit.review_decisions"
        ).fetchall()
    assert status == [("LOADED",)]
    assert decisions == [(int(manifest_id), "RELEASE", "P. Reviewer", "confirmed")]
    result = _cte(tiny_home, "run")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert _last_line(result, "cte run:") == "cte run: 0 file(s) read: nothing new"
    # The released file is current now: the course-based counts changed.
    assert _published_rows(published) != before
