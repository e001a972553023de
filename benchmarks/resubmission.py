"""A district's corrected file through the live sensor path, until analysts can see it.

`dagster dev` (webserver and daemon) runs on the home of a finished full rebuild, in its own
session so it can be stopped as a group. Once the sensors have ticked with nothing to do, a
corrected student_enrollment file for one district and year lands under a later timestamp.
The clock runs from the moment the file is in the folder until the published snapshot lists
the new submission's manifest id (sensor tick, load run, automation tick, dbt build, publish).
Analyst queries keep running against the published snapshot meanwhile ("under load").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from benchmarks import analyst
from benchmarks.common import (
    PYTHON,
    REPO_ROOT,
    child_env,
    dagster_home,
    free_port,
    landing_dir,
    log,
    published_path,
)
from dagster_project.contracts import get_extract
from dagster_project.ingest.landing import file_name, list_landed, parse_file_name

EXTRACT = "student_enrollment"
FLIPPED_COLUMN = "economically_disadvantaged"  # a valid correction: Y <-> N on one row
READY_TIMEOUT = 300
QUIET_SECONDS = 10
POLL_SECONDS = 0.5
# After the snapshot is seen, how long its run may take to be marked ended (not timed).
RUN_END_GRACE_SECONDS = 60


def corrected_submission(landing: Path, rows: int = 1) -> tuple[Path, Path]:
    """(original, corrected) for the largest district file of the latest year: the flag of
    its first ``rows`` rows flipped, named with a timestamp 30 days later, written outside
    the folder. The original is that slice's latest submission, so a second measurement on
    the same home corrects the first one's correction."""
    files = [parse_file_name(p) for p in list_landed(landing, get_extract(EXTRACT))]
    latest = max(f.year for f in files)
    largest = max((f for f in files if f.year == latest), key=lambda f: f.path.stat().st_size)
    same_slice = (f for f in files if f.slice_key == largest.slice_key)
    original = max(same_slice, key=lambda f: f.submitted_at)
    frame = pl.read_csv(original.path, infer_schema=False, encoding="utf8-lossy")
    flipped = pl.when(pl.int_range(pl.len()) < rows).then(
        pl.when(pl.col(FLIPPED_COLUMN) == "Y").then(pl.lit("N")).otherwise(pl.lit("Y"))
    )
    frame = frame.with_columns(flipped.otherwise(pl.col(FLIPPED_COLUMN)).alias(FLIPPED_COLUMN))
    name = file_name(
        EXTRACT, original.district, original.year, original.submitted_at + timedelta(days=30)
    )
    staging = landing.parent / "incoming"
    staging.mkdir(exist_ok=True)
    corrected = staging / name
    frame.write_csv(corrected)
    return original.path, corrected


def read_snapshot(published: Path) -> dict[str, object] | None:
    if not published.exists():
        return None
    try:
        with duckdb.connect(str(published), read_only=True) as con:
            snapshot_id, published_at, ids = con.execute(
                "select snapshot_id, published_at, manifest_ids from snapshot"
            ).fetchall()[0]
    except duckdb.Error:
        return None  # swapped or being written: look again next poll
    return {"snapshot_id": snapshot_id, "published_at": str(published_at), "manifest_ids": ids}


def _set_cursors(home: Path, env: dict[str, str]) -> dict[str, dict[str, str]]:
    ids_path = home / "sensor_ids.json"
    result = subprocess.run(
        [PYTHON, "-m", "benchmarks.sensor_cursors", str(ids_path)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"setting sensor cursors failed:\n{result.stderr[-3000:]}")
    return json.loads(ids_path.read_text())


def _start_dagster_dev(home: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    from dagster_project.cli import ui_command

    out = (home / "dagster_dev.log").open("w")
    return subprocess.Popen(
        ui_command(port),
        env=env,
        cwd=REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        # Its own process group: the webserver, daemon and code servers stop together.
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait_for_runs_to_end(instance, seconds: float) -> None:
    """The snapshot appears before its run is marked ended: wait a little (the clock has
    stopped) so the timeline holds the run's end."""
    deadline = time.time() + seconds
    while _active_runs(instance) and time.time() < deadline:
        time.sleep(POLL_SECONDS)


def _ticks(instance, ids: dict[str, str], after: float) -> list:
    ticks = instance.get_ticks(ids["origin_id"], ids["selector_id"], limit=50)
    return [t for t in ticks if t.timestamp >= after]


def _active_runs(instance) -> int:
    from dagster import DagsterRunStatus, RunsFilter

    active = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
    ]
    return instance.get_runs_count(RunsFilter(statuses=active))


def _wait_ready(instance, proc, sensor_ids: dict[str, str], since: float) -> dict[str, object]:
    """Until the enrollment sensor has ticked and no run has been active for a while."""
    deadline = time.monotonic() + READY_TIMEOUT
    quiet_since = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dagster dev exited early; see dagster_dev.log in the home")
        ticked = _ticks(instance, sensor_ids, since)
        busy = _active_runs(instance)
        if ticked and not busy:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET_SECONDS:
                return {
                    "ready_seconds": round(time.time() - since, 1),
                    "first_tick_requested_runs": sum(len(t.run_ids) for t in ticked),
                }
        else:
            quiet_since = None
        time.sleep(1)
    raise RuntimeError(f"dagster dev not ready (sensor ticks, idle) within {READY_TIMEOUT}s")


def _failed_run(instance, dropped: float) -> str | None:
    """The first run created for the resubmission that failed, with its failure message."""
    from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

    after = datetime.fromtimestamp(dropped, UTC)
    failed = instance.get_runs(
        RunsFilter(created_after=after, statuses=[DagsterRunStatus.FAILURE]), limit=1
    )
    if not failed:
        return None
    run = failed[0]
    records = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    reason = records[-1].dagster_event.message if records else "no failure event"
    return f"run {run.job_name} failed: {reason}"


def _run_steps(instance, run) -> list[dict[str, object]]:
    """When the run was enqueued (after Dagster wrote its planned materializations and
    checks) and when each step started and ended: where a resubmission's time goes."""
    from dagster import DagsterEventType

    kinds = {
        DagsterEventType.RUN_ENQUEUED: "enqueued",
        DagsterEventType.STEP_START: "started",
        DagsterEventType.STEP_SUCCESS: "succeeded",
        DagsterEventType.STEP_FAILURE: "failed",
    }
    events = []
    for record in instance.all_logs(run.run_id, of_type=set(kinds)):
        event = record.dagster_event
        what = kinds[event.event_type]
        name = (
            f"{run.job_name} {what}" if event.step_key is None else f"step {event.step_key} {what}"
        )
        events.append({"event": name, "at": record.timestamp})
    return events


def _timeline(instance, dropped: float, sensor_ids: dict[str, str]) -> list[dict[str, object]]:
    from dagster import RunsFilter

    events: list[dict[str, object]] = []
    for tick in _ticks(instance, sensor_ids, dropped):
        if tick.run_ids:
            events.append({"event": "sensor tick requested load", "at": tick.timestamp})
    after = datetime.fromtimestamp(dropped, UTC)
    for record in instance.get_run_records(RunsFilter(created_after=after)):
        run = record.dagster_run
        created = record.create_timestamp.timestamp()
        events.append({"event": f"{run.job_name} created", "at": created})
        events.extend(_run_steps(instance, run))
        if record.start_time:
            events.append({"event": f"{run.job_name} started", "at": record.start_time})
        if record.end_time:
            events.append(
                {"event": f"{run.job_name} ended ({run.status.value})", "at": record.end_time}
            )
    for event in events:
        event["seconds_after_drop"] = round(float(event.pop("at")) - dropped, 1)
    return sorted(events, key=lambda e: e["seconds_after_drop"])


def measure_resubmission(home: Path, timeout: float, rows: int = 1) -> dict[str, object]:
    """Seconds from a corrected file landing (``rows`` rows corrected) to a published
    snapshot that includes it, with analyst query timings taken meanwhile."""
    import dagster as dg

    from dagster_project.cli import ensure_dagster_home
    from dagster_project.settings import get_settings

    settings = dataclasses.replace(
        get_settings(), landing_dir=landing_dir(home), warehouse_dir=home / "warehouse"
    )
    ensure_dagster_home(settings)
    env = child_env(home, DAGSTER_HOME=str(dagster_home(home)))
    published = published_path(home)
    before = read_snapshot(published)
    if before is None:
        raise RuntimeError("no published snapshot to resubmit against (the rebuild failed?)")
    log("resubmission: moving sensor cursors past the landed files ...")
    sensor_ids = _set_cursors(home, env)
    port = free_port()
    started = time.time()
    log(f"resubmission: starting dagster dev on 127.0.0.1:{port} ...")
    proc = _start_dagster_dev(home, env, port)
    result: dict[str, object] = {"port": port}
    try:
        with dg.DagsterInstance.from_config(str(dagster_home(home))) as instance:
            enrollment_sensor = sensor_ids[f"{EXTRACT}_landed"]
            result |= _wait_ready(instance, proc, enrollment_sensor, started)
            log(f"resubmission: dagster dev ready after {result['ready_seconds']}s")
            original, corrected = corrected_submission(landing_dir(home), rows)
            target = original.parent / corrected.name
            params = analyst.parameters(published)
            os.replace(corrected, target)
            dropped = time.time()
            log(f"resubmission: landed {target.name}; waiting for a snapshot that includes it")
            rounds, after, failure, last_note = [], None, None, dropped
            while time.time() - dropped < timeout:
                rounds.append(analyst.run_round(published, params))
                snapshot = read_snapshot(published)
                if snapshot and set(snapshot["manifest_ids"]) - set(before["manifest_ids"]):
                    after = snapshot
                    break
                if time.time() - last_note > 30:
                    last_note = time.time()
                    log(f"  ... {last_note - dropped:5.0f}s since the file landed")
                    failure = _failed_run(instance, dropped)
                    if failure:
                        log(f"  {failure}")
                        break
                time.sleep(POLL_SECONDS)
            seen = time.time()
            _wait_for_runs_to_end(instance, RUN_END_GRACE_SECONDS)
            result |= {
                "ok": after is not None,
                "seconds": round(seen - dropped, 1) if after else None,
                "timeout_seconds": timeout,
                "failure": failure,
                "district": parse_file_name(target).district,
                "corrected_rows": rows,
                "school_year": parse_file_name(target).year,
                "original_file": original.name,
                "corrected_file": target.name,
                "new_manifest_ids": sorted(set(after["manifest_ids"]) - set(before["manifest_ids"]))
                if after
                else [],
                "replaced_manifest_ids": sorted(
                    set(before["manifest_ids"]) - set(after["manifest_ids"])
                )
                if after
                else [],
                "snapshot_before": before["snapshot_id"],
                "snapshot_after": after["snapshot_id"] if after else None,
                "timeline": _timeline(instance, dropped, enrollment_sensor),
                "analyst_under_load": analyst.summarize(rounds),
            }
    finally:
        log("resubmission: stopping dagster dev")
        _stop(proc)
    log(f"resubmission: {'ok' if result.get('ok') else 'NOT SEEN'} in {result.get('seconds')}s")
    return result
