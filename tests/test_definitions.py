"""The code location loads and holds the whole flow: every extract, dbt, publish, sensors."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from dagster_project.contracts import EXTRACTS
from dagster_project.settings import REPO_ROOT


def test_definitions_hold_every_extract_and_the_flow(dbt_manifest):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for extract in EXTRACTS:
        assert f"raw/{extract.name}" in keys
        assert any(k.endswith(f"stg_{extract.name}") for k in keys), extract.name
    assert any(k.endswith("perkins_indicators") for k in keys)
    assert "published_snapshot" in keys
    assert "dq_report" in keys
    sensors = {s.name for s in defs.sensors}
    assert {f"{e.name}_landed" for e in EXTRACTS} <= sensors
    assert {"record_run_failures", "rebuild_marts_after_loads"} <= sensors
    assert {s.name for s in defs.schedules} == {"nightly_marts", "quarterly_labor_market"}
    # every raw asset carries the four checks, two of them blocking
    for extract in EXTRACTS:
        checks = graph.get(dg.AssetKey(["raw", extract.name])).check_keys
        assert {c.name for c in checks} == {
            "rows_reconcile",
            "expectations_error",
            "expectations_warn",
            "submissions_current",
        }


def test_build_marts_covers_every_model_and_publish_but_no_raw_asset(dbt_manifest):
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def("build_marts").asset_layer.selected_asset_keys
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    raw = {dg.AssetKey(["raw", e.name]) for e in EXTRACTS}
    assert selected == materializable - raw


def test_definitions_load_without_great_expectations(dbt_manifest):
    """Every run process, sensor tick and `cte` command imports the definitions; Great
    Expectations (seconds to import, pyspark with it) is imported only by a load that
    validates, or by the Data Docs build."""
    code = (
        "import sys; sys.modules['great_expectations'] = None\n"
        "from dagster_project.definitions import defs\n"
        "defs.resolve_job_def('build_marts')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
