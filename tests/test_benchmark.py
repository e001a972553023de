"""`python -m benchmarks.run --quick`: every figure of the benchmark, with sane values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTE_", "DAGSTER_HOME"))}
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--output-dir", str(out)]
    command += ["--data-dir", str(out / "data"), "--work-dir", str(out / "work")]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    (out / "bench.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "[bench" in result.stdout  # progress is printed as it goes
    [json_path] = out.glob("*-quick.json")
    return json.loads(json_path.read_text()), json_path.with_suffix(".md").read_text()


def test_full_rebuild_has_every_stage(quick):
    result, _ = quick
    full = result["full_rebuild"]
    assert full["ok"] and full["wall_seconds"] > 0
    stages = full["stages"]
    assert set(stages) == {
        "ingest",
        "quality_checks",
        "dbt_build",
        "publish",
        "startup_and_orchestration",
    }
    assert all(stages[s] > 0 for s in ("ingest", "quality_checks", "dbt_build", "publish"))
    assert sum(stages.values()) <= full["wall_seconds"] * 1.01
    assert 50 * 2**20 < full["peak_rss_bytes"] < 16 * 2**30


def test_floor_is_timed_and_cross_checked(quick):
    result, _ = quick
    floor = result["floor"]
    assert 0 < floor["seconds"] < result["full_rebuild"]["wall_seconds"]
    assert floor["ratio_full_rebuild_to_floor"] > 1
    check = floor["cross_check"]
    assert check["cells"] > 0 and set(check["levels"]) == {"state", "district", "school"}
    assert 0 <= check["agree"] <= check["cells"]
    assert check["state_examples"]


def test_resubmission_reaches_the_published_snapshot(quick):
    result, _ = quick
    resub = result["resubmission"]
    assert resub["ok"] and resub["seconds"] > 0
    assert resub["share_of_full_rebuild"] > 0
    assert resub["first_tick_requested_runs"] == 0  # the cursors kept old files out
    assert len(resub["new_manifest_ids"]) == 1 and len(resub["replaced_manifest_ids"]) == 1
    events = [e["event"] for e in resub["timeline"]]
    # A corrected file landing alone: one run loads, rebuilds and publishes (issue 19).
    assert "load_and_publish ended (SUCCESS)" in events
    # Each step's start and end, in order, so the report shows where the time went.
    steps = [e for e in events if e.startswith("step ")]
    assert steps[0] == "step raw__student_enrollment started"
    assert steps[-1] == "step published_snapshot succeeded"
    assert {"step dq_report succeeded", "step nm_cte_dbt_assets succeeded"} <= set(steps)
    assert events.index("load_and_publish enqueued") < events.index("load_and_publish started")
    assert not any(e.startswith(("load_student_enrollment", "build_marts")) for e in events)


def test_validation_share_and_rate(quick):
    result, _ = quick
    v = result["validation"]
    assert 0 < v["validate_seconds"] <= v["load_seconds"]
    assert 0 < v["share_of_load"] <= 1
    assert v["rows_validated"] > 0 and v["rows_per_second"] > 0


def test_analyst_latency_idle_and_under_load(quick):
    result, _ = quick
    analyst = result["analyst"]
    assert len(analyst["queries"]) == 8
    for condition in ("idle", "under_load"):
        s = analyst[condition]
        assert s["samples"] >= 8
        assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["max_ms"]


def test_growth_and_targets(quick):
    result, markdown = quick
    points = result["growth"]["points"]
    assert points and all(p["ratio_to_floor"] > 0 and p["rows"] > 0 for p in points)
    targets = {t["target"]: t for t in result["targets"]}
    assert {
        "resubmission to published",
        "resubmission / full rebuild",
        "validation / load time",
        "analyst p95, idle",
        "analyst p95, load running",
    } <= set(targets)
    assert all(t["measured"] is not None and t["met"] in (True, False) for t in targets.values())
    assert result["errors"] == {}
    assert result["machine"]["cpu_model"] in markdown and "| target |" in markdown


def test_results_record_what_the_snapshot_shows(quick):
    """The utility section: every published table's cells at min n and what became of them."""
    result, _ = quick
    rows = result["utility"]
    perkins = [r for r in rows if r["table_name"] == "perkins_indicators"]
    assert perkins and all(r["shown"] + r["withheld"] + r["omitted"] == r["cells"] for r in perkins)
    assert {r["scope"] for r in perkins} == {"every breakdown", "all students, all programs"}


def test_results_record_what_the_analyst_guide_questions_get(quick):
    """Issue 15, part 3: each question of the analyst guide on the benchmark's snapshot."""
    result, markdown = quick
    answers = result["analyst_answers"]
    assert len(answers) >= 16
    assert all(0 <= a["shown"] <= a["figures"] for a in answers)
    assert any(a["shown"] for a in answers)
    assert "## Analyst guide questions" in markdown
