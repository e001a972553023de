"""The sensor path, live: `dagster dev` running, files dropped into the landing zone.

Ten files landing at once each get one run; runs queue one at a time instead of failing on
DuckDB's lock; the marts then rebuild and publish by themselves; a file dropped again does
nothing; a corrected file landing alone is loaded and published in one run (issue 19).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.cli import ensure_dagster_home, ui_command
from dagster_project.contracts import EXTRACTS
from dagster_project.ingest.landing import list_landed
from dagster_project.sample_data import generate
from dagster_project.settings import get_settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Error loading repository location" in log.read_text(errors="ignore"):
            raise AssertionError(f"the code location failed to load:\n{log.read_text()[-3000:]}")
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def dagster_dev(cte_home, dbt_manifest, monkeypatch):
    home = ensure_dagster_home(cte_home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    log_path = cte_home.home / "dagster_dev.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        ui_command(_free_port()),
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def _runs(instance: dg.DagsterInstance, job_prefix: str) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.job_name.startswith(job_prefix)]


def test_files_landing_together_each_load_once_and_the_marts_republish(dagster_dev, tmp_path):
    settings, log = get_settings(), dagster_dev
    staging = tmp_path / "incoming"
    generate("tiny", years=1, seed=3, landing_dir=staging)
    files = sorted(p for e in EXTRACTS for p in list_landed(staging, e))[:10]
    assert len(files) == 10
    time.sleep(5)  # let the daemon start its sensors
    for path in files:  # all at once
        target = settings.landing_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)

    instance = dg.DagsterInstance.get()
    finished = {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }

    def loads_done():
        runs = _runs(instance, "load_")
        return runs if len(runs) == 10 and all(r.status in finished for r in runs) else None

    loads = _wait(loads_done, 900, "ten load runs", log)
    assert [r.status for r in loads] == [dg.DagsterRunStatus.SUCCESS] * 10
    assert len({r.tags["cte/file"] for r in loads}) == 10

    published = settings.published_path
    _wait(published.exists, 900, "the marts to rebuild and publish by themselves", log)
    _wait(
        lambda: not [r for r in instance.get_runs() if r.status not in finished],
        300,
        "the queue to drain",
        log,
    )

    with duckdb.connect(str(published), read_only=True) as con:
        [(before, manifest_ids)] = con.execute(
            "select snapshot_id, manifest_ids from snapshot"
        ).fetchall()
    assert len(manifest_ids) == 10

    # A corrected file of one slice, landing alone (the burst settled minutes ago): one run
    # loads and publishes it.
    original = next(p for p in files if p.parent.name == "assessment_results")
    corrected = settings.landing_dir / original.relative_to(staging).with_name(
        original.name.replace("0615T", "0715T")
    )
    assert corrected.name != original.name
    lines = original.read_text().splitlines(keepends=True)
    runs_before = {r.run_id for r in instance.get_runs()}
    landed = time.monotonic()
    corrected.write_text("".join(lines[:-1]))  # one row fewer

    def republished():
        with duckdb.connect(str(published), read_only=True) as con:
            [(now, ids)] = con.execute("select snapshot_id, manifest_ids from snapshot").fetchall()
        return ids if now != before else None

    ids = _wait(republished, 600, "the corrected file to be published", log)
    seconds = time.monotonic() - landed
    _wait(
        lambda: not [r for r in instance.get_runs() if r.status not in finished],
        120,
        "the queue to drain",
        log,
    )
    new_runs = [r for r in instance.get_runs() if r.run_id not in runs_before]
    assert [(r.job_name, r.status) for r in new_runs] == [
        ("load_and_publish", dg.DagsterRunStatus.SUCCESS)
    ]
    assert len(ids) == 10 and set(ids) != set(manifest_ids)  # the new file replaced the old
    print(f"a resubmission landed -> published in {seconds:.0f} s (one run)")

    # The same bytes again, under the same name after a delete-and-copy: no new run.
    again = settings.landing_dir / files[0].relative_to(staging)
    again.unlink()
    shutil.copy2(files[0], again)
    time.sleep(25)
    assert len(_runs(instance, "load_")) == 11

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        statuses = con.execute(
            "select status, count(*) from raw.load_manifest group by 1 order by 1"
        ).fetchall()
        alerts = con.execute("select count(*) from audit.run_alerts").fetchall()[0][0]
    assert statuses == [("LOADED", 10), ("SUPERSEDED", 1)]
    assert alerts == 0
