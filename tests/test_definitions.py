"""The code location loads and holds the whole flow: every extract, dbt, publish, sensors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert "edfi_student_enrollment_changed" in sensors and "edfi/student_enrollment" in keys
    assert "edfi_cte_course_enrollment_changed" in sensors and "edfi/cte_course_enrollment" in keys
    assert "edfi_credential_attainment_changed" in sensors and "edfi/credential_attainment" in keys
    assert "edfi_assessment_results_changed" in sensors and "edfi/assessment_results" in keys
    assert {s.name for s in defs.schedules} == {"nightly_marts", "quarterly_labor_market"}
    nightly = defs.get_schedule_def("nightly_marts")
    assert nightly.tags["cte/actor"] == "schedule:nightly_marts"  # every run says who started it
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
    from dagster_project.assets.edfi import EDFI_ASSETS
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def("build_marts").asset_layer.selected_asset_keys
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    raw = {dg.AssetKey(["raw", e.name]) for e in EXTRACTS} | set(EDFI_ASSETS)  # loads: not marts
    assert selected == materializable - raw


def test_a_file_alone_rebuilds_only_the_models_that_read_its_extract(dbt_manifest):
    """The one-run path of a lone file (issue 19): its load, the models downstream of its
    extract, the report and the publish; not the models that never read it."""
    from dagster_project.code_location import asset_graph, publishes_by_extract
    from dagster_project.definitions import defs
    from dagster_project.settings import get_settings

    publishes = publishes_by_extract(asset_graph(get_settings()))
    assessment = {k.to_user_string() for k in publishes["assessment_results"].asset_keys}
    assert {"raw/assessment_results", "dq_report", "published_snapshot"} <= assessment
    assert any(k.endswith("perkins_indicators") for k in assessment)
    assert not any(k.endswith(("labor_market_alignment", "cost_per_student")) for k in assessment)
    assert not any(k.startswith("raw/") and k != "raw/assessment_results" for k in assessment)
    job = defs.resolve_job_def("load_and_publish").asset_layer.selected_asset_keys
    for each in publishes.values():
        assert set(each.asset_keys) <= job


def test_an_edfi_pull_alone_rebuilds_the_models_that_read_its_extract_and_publishes(
    dbt_manifest,
):
    """An Ed-Fi pull loads its extract's raw table, which the models read (nothing reads the
    pull's asset): its one run holds the pull, those models, the report and the publish,
    not the raw asset, which loads landed files (decision 0022)."""
    from dagster_project.assets.edfi import edfi_key
    from dagster_project.code_location import asset_graph, publishes_by_extract, pull_and_publish
    from dagster_project.ingest.edfi.mapping import ASSESSMENT_RESULTS
    from dagster_project.settings import get_settings

    assets = asset_graph(get_settings())
    key = edfi_key(ASSESSMENT_RESULTS)
    pulled = set(pull_and_publish(assets, key).asset_keys)
    landed = set(publishes_by_extract(assets)["assessment_results"].asset_keys)
    raw = dg.AssetKey(["raw", "assessment_results"])
    assert raw in landed and pulled == landed - {raw} | {key}


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


def test_the_ui_is_dg_dev_on_the_location_nm_cte_without_the_community_prompt(
    cte_home, monkeypatch
):
    """Issue 24: `dagster dev -m` warned "superseded" and named the location after its
    module; the UI opened behind a newsletter dialog."""
    import tomllib

    from dagster_project.cli import ensure_dagster_home, ui_command

    command = ui_command(3999)
    assert Path(command[0]).name == "dg" and Path(command[0]).exists()
    assert command[1] == "dev" and command[-2:] == ["-p", "3999"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert project["code_location_name"] == "nm_cte"
    assert project["code_location_target_module"] == "dagster_project.definitions"
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))  # restored afterwards
    ensure_dagster_home(cte_home)
    with dg.DagsterInstance.get() as instance:
        assert not instance.nux_enabled  # the webserver's shouldShowNux
        assert "dagster_project" in instance.managed_python_loggers


def test_the_ui_code_server_neither_reparses_a_fresh_project_nor_reaches_the_internet(
    dbt_manifest: Path, tmp_path: Path
):
    """Under `dg dev` dagster-dbt's prepare_if_dev re-parsed at every code-server load
    through `dbt --version`, three look-ups of pypi.org (and rewrote the manifest under a
    running `cte run`)."""
    log = tmp_path / "network.log"
    before = dbt_manifest.stat().st_mtime_ns
    env = os.environ | {
        "DAGSTER_IS_DEV_CLI": "1",
        "PYTHONPATH": str(REPO_ROOT / "tests" / "fixtures" / "no_network"),
        "CTE_NETWORK_LOG": str(log),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import dagster_project.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not log.exists(), log.read_text()
    assert dbt_manifest.stat().st_mtime_ns == before


def test_each_edfi_family_has_its_asset_pull_job_and_sensor(dbt_manifest):
    """Made from mapping.FAMILIES: a family is one entry there; the names stay as the docs
    and the runbooks say them (load_edfi_<extract>, edfi_<extract>_changed)."""
    from dagster_project.definitions import defs
    from dagster_project.ingest.edfi.mapping import FAMILIES

    for name in FAMILIES:
        job = defs.resolve_job_def(f"load_edfi_{name}")
        assert job.asset_layer.selected_asset_keys == {dg.AssetKey(["edfi", name])}
        sensor = defs.resolve_sensor_def(f"edfi_{name}_changed")
        assert {t.job_name for t in sensor.targets} == {f"load_edfi_{name}", "load_and_publish"}
    assert set(FAMILIES) == {
        "student_enrollment",
        "cte_course_enrollment",
        "credential_attainment",
        "assessment_results",
    }
