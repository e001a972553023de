"""What `cte run` and `cte load` print (issue 24): a line per step, each warning once, and the
whole output of the run, children included, in the log file."""

import io
import logging
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.cli import ensure_dagster_home
from dagster_project.progress import (
    KEEP_LOGS,
    RunProgress,
    execute_job,
    new_log_path,
)


@dg.asset(check_specs=[dg.AssetCheckSpec("rows_reconcile", asset="raw__demo")])
def raw__demo(context: dg.AssetExecutionContext):
    for table in ("first", "second"):
        # dagster-dbt's warning names a test; two of them are one kind of warning.
        context.log.warning(f"Logging an observation for dbt test `{table}`: not selected")
    logging.getLogger("dagster_project.demo").warning("CTE_PSEUDONYM_KEY is not set")
    logging.getLogger("dagster_project.demo").warning("CTE_PSEUDONYM_KEY is not set")
    by_status = dg.MetadataValue.json({"LOADED": 1, "HELD": 1})
    yield dg.MaterializeResult(
        metadata={"files": 2, "rows_loaded": 1234, "files_held": 1, "files_by_status": by_status}
    )
    yield dg.AssetCheckResult(check_name="rows_reconcile", passed=False)


@dg.asset(deps=[raw__demo])
def published_snapshot():
    raise dg.Failure(description="the gate refused: expectations_error failed")


@dg.asset(deps=[raw__demo])
def dq_report():
    import json

    json.loads('{"nodes": {')  # a manifest read while dbt rewrote it


demo_job = dg.define_asset_job("demo", selection="*")
defs = dg.Definitions(assets=[raw__demo, published_snapshot, dq_report], jobs=[demo_job])


@pytest.fixture
def instance(cte_home, monkeypatch):
    """The project's own instance configuration, in a scratch home."""
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))  # restored afterwards
    ensure_dagster_home(cte_home)
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_a_line_per_step_and_each_warning_once(instance):
    console = io.StringIO()
    progress = RunProgress(console)
    result = execute_job(defs.resolve_job_def("demo"), instance, progress, raise_on_error=False)
    assert not result.success
    lines = console.getvalue().splitlines()
    [step] = [x for x in lines if x.strip().startswith("load demo")]
    assert "2 file(s), 1,234 rows loaded; 1 held; failed: rows_reconcile" in step
    [failed] = [x for x in lines if x.strip().startswith("publish")]
    assert "FAILED: the gate refused" in failed
    [crashed] = [x for x in lines if x.strip().startswith("quality report")]
    assert "FAILED: JSONDecodeError: Expecting property name" in crashed, crashed
    # The project's Python logging reaches the run (managed_python_loggers), shown once.
    assert sum("CTE_PSEUDONYM_KEY is not set" in x for x in lines) == 1
    assert sum("Logging an observation" in x for x in lines) == 1
    assert progress.repeats() == 2
    # Nothing else: no DEBUG event, no step start.
    assert len(lines) == 5, lines


CHILD = """
import subprocess, sys
from pathlib import Path
from dagster_project.progress import output_to_file

with output_to_file(Path(sys.argv[1])) as console:
    child = "import os; os.write(1, b'dbt out '); os.write(2, b'C err ')"
    subprocess.run([sys.executable, "-c", child])
    print("python print")
    print("a progress line", file=console)
print("after")
"""


def test_the_log_file_gets_the_output_of_children_too(tmp_path: Path):
    log = tmp_path / "run.log"
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(log)], capture_output=True, text=True, check=True
    )
    assert log.read_text().split() == ["dbt", "out", "C", "err", "python", "print"]
    assert run.stdout.splitlines() == ["a progress line", "after"]
    assert run.stderr == ""


def test_old_logs_are_pruned(tmp_path: Path):
    for i in range(KEEP_LOGS + 5):
        (tmp_path / f"cte-run-20260101T0000{i:02d}Z.log").write_text("x")
    path = new_log_path(tmp_path, "load")
    assert path.name.startswith("cte-load-") and not path.exists()
    remaining = sorted(p.name for p in tmp_path.glob("cte-*.log"))
    assert len(remaining) == KEEP_LOGS - 1
    assert remaining[0] == "cte-run-20260101T000006Z.log"  # the newest kept
