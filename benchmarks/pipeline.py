"""The full rebuild, driven as `cte run` drives it, with stage times from Dagster's records.

`python -m dagster_project.cli run` runs in a child process in a fresh scratch home
(load_all_raw, then build_marts, in process, recorded in the home's Dagster instance). Its
wall time and the peak RSS of its process tree (dbt is a grandchild) are measured from
outside; stage times come from the runs' step events and the raw assets' metadata.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import profile
from benchmarks.common import PYTHON, REPO_ROOT, child_env, dagster_home, log
from benchmarks.procmon import PeakRss, children_cpu_seconds, gib

PROGRESS_SECONDS = 30
POLL_SECONDS = 2
LOADER_PHASES = ("read", "structure", "validate", "write")
CTE_RUN_JOBS = ("load_all_raw", "build_marts")
DBT_STEP = "nm_cte_dbt_assets"
REPORT_STEP = "dq_report"
PUBLISH_STEP = "published_snapshot"


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 2000))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-140:] if lines else ""


def run_full_rebuild(
    home: Path, label: str, profile_to: Path | None = None, max_rss_gib: float = 18.0
) -> dict[str, object]:
    """Run `cte run` once in ``home``; wall time, peak memory and per-stage times.
    With ``profile_to``, under py-spy (its own small RSS is then in the peak). A tree above
    ``max_rss_gib`` is killed before it starves the machine, and the run reported failed."""
    output = home / "cte_run.log"
    command = [PYTHON, "-m", "dagster_project.cli", "run"]
    if profile_to:
        command = profile.command(profile_to, command)
    log(f"full rebuild {label}: cte run in {home} (log {output})")
    started, cpu_before = time.monotonic(), children_cpu_seconds()
    with output.open("w") as out:
        proc = subprocess.Popen(
            command,
            env=child_env(home),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        killed = None
        with PeakRss(proc.pid) as peak:
            last_note = started
            while proc.poll() is None:
                try:
                    proc.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    if gib(peak.current) > max_rss_gib and killed is None:
                        killed = f"killed: process tree above {max_rss_gib} GiB"
                        log(f"  {killed}")
                        os.killpg(proc.pid, signal.SIGKILL)
                    if time.monotonic() - last_note >= PROGRESS_SECONDS:
                        last_note = time.monotonic()
                        log(
                            f"  ... {last_note - started:6.0f}s, tree RSS "
                            f"{gib(peak.current):.2f} GiB | {_last_line(output)}"
                        )
    wall = time.monotonic() - started
    result: dict[str, object] = {
        "ok": proc.returncode == 0,
        "returncode": proc.returncode,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(children_cpu_seconds() - cpu_before, 1),
        "peak_rss_bytes": peak.bytes,
        "peak_rss_gib": gib(peak.bytes),
        "log": str(output),
    }
    if proc.returncode != 0 or "Run failed" in _last_line(output):
        result["error_tail"] = output.read_text(errors="replace")[-3000:]
    result |= stage_times(dagster_home(home), wall)
    # py-spy exits 0 whatever its child did: success is both jobs' runs succeeding.
    succeeded = {r["job"] for r in result["runs"] if r["status"] == "SUCCESS"}
    result["ok"] = proc.returncode == 0 and set(CTE_RUN_JOBS) <= succeeded and not killed
    if killed:
        result["killed"] = killed
    if profile_to and profile_to.exists():
        result["profile"] = profile.summarize(profile_to)
    log(
        f"full rebuild {label}: {'ok' if result['ok'] else 'FAILED'} in {wall:.1f}s, "
        f"peak {gib(peak.bytes):.2f} GiB; stages {result.get('stages')}"
    )
    return result


def _raw_metadata(instance, run_id: str) -> dict[str, dict[str, float]]:
    """Loader metadata per raw asset (a multi-partition step repeats it per partition)."""
    from dagster import DagsterEventType

    by_asset: dict[str, dict[str, float]] = {}
    records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    for record in records:
        materialization = record.dagster_event.event_specific_data.materialization
        path = materialization.asset_key.path
        if path[0] != "raw" or path[1] in by_asset:
            continue
        meta = {k: v.value for k, v in materialization.metadata.items()}
        by_asset[path[1]] = {
            **{p: float(meta.get(f"seconds_{p}", 0.0)) for p in LOADER_PHASES},
            "rows_validated": int(meta.get("rows_validated", 0)),
            "rows_loaded": int(meta.get("rows_loaded", 0)),
        }
    return by_asset


def stage_times(home: Path, wall: float) -> dict[str, object]:
    """Stages of the runs recorded in the Dagster instance at ``home``."""
    import dagster as dg
    from dagster._core.execution.stats import build_run_step_stats_from_events

    steps: dict[str, float] = {}
    raw: dict[str, dict[str, float]] = {}
    runs = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for run in reversed(instance.get_runs()):
            stats = build_run_step_stats_from_events(run.run_id, instance.all_logs(run.run_id))
            durations = {
                s.step_key: (s.end_time or s.start_time) - s.start_time
                for s in stats
                if s.start_time is not None
            }
            steps.update(durations)
            runs.append(
                {
                    "job": run.job_name,
                    "status": run.status.value,
                    "seconds": round(sum(durations.values()), 2),
                }
            )
            if run.job_name == "load_all_raw":
                raw = _raw_metadata(instance, run.run_id)
    raw_steps = {k.removeprefix("raw__"): v for k, v in steps.items() if k.startswith("raw__")}
    load_seconds = sum(raw_steps.values())
    phases = {p: sum(m[p] for m in raw.values()) for p in LOADER_PHASES}
    validate = phases["validate"]
    stages = {
        "ingest": load_seconds - validate,
        "quality_checks": validate + steps.get(REPORT_STEP, 0.0),
        "dbt_build": steps.get(DBT_STEP, 0.0),
        "publish": steps.get(PUBLISH_STEP, 0.0),
    }
    stages["startup_and_orchestration"] = max(0.0, wall - sum(steps.values()))
    per_extract: dict[str, dict[str, float]] = defaultdict(dict)
    for name, seconds in raw_steps.items():
        meta = raw.get(name, {})
        loader = sum(meta.get(p, 0.0) for p in LOADER_PHASES)
        per_extract[name] = {
            "step_seconds": round(seconds, 3),
            **{f"{p}_seconds": round(meta.get(p, 0.0), 3) for p in LOADER_PHASES},
            "other_seconds": round(max(0.0, seconds - loader), 3),
            "rows_validated": meta.get("rows_validated", 0),
        }
    return {
        "stages": {k: round(v, 2) for k, v in stages.items()},
        "ingest_breakdown": {
            **{f"{p}_seconds": round(phases[p], 2) for p in LOADER_PHASES if p != "validate"},
            "selection_data_docs_checks_seconds": round(
                max(0.0, load_seconds - sum(phases.values())), 2
            ),
        },
        "load_seconds": round(load_seconds, 2),
        "validate_seconds": round(validate, 2),
        "report_seconds": round(steps.get(REPORT_STEP, 0.0), 2),
        "rows_validated": int(sum(m["rows_validated"] for m in raw.values())),
        "rows_loaded": int(sum(m["rows_loaded"] for m in raw.values())),
        "per_extract": dict(per_extract),
        "runs": runs,
    }
