"""Move every landing sensor's cursor past the files already landed and loaded.

    DAGSTER_HOME=... CTE_HOME=... python -m benchmarks.sensor_cursors IDS_JSON  (from the repo root)

A home built by `cte run` has loaded every file without the sensors, so their cursors are
empty: `dagster dev` would request one run per landed file (thousands at state scale) before
getting to the resubmission being measured. This writes the cursor each sensor would hold
had it seen those files, into the instance `dagster dev` then uses, and writes each sensor's
ids to IDS_JSON so the benchmark can watch its ticks. It loads the definitions under the
code location name `dg dev` gives them (pyproject's [tool.dg.project]), so the ids match;
the status stays "declared in code" (the sensors' default, running), unlike `dagster sensor
cursor --set`, which records a new sensor as stopped.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path

from dagster import __version__ as dagster_version
from dagster._cli.utils import get_instance_for_cli
from dagster._cli.workspace.cli_target import WorkspaceOpts, get_repository_from_cli_opts
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    SensorInstigatorData,
)

from dagster_project.contracts import EXTRACTS
from dagster_project.ingest.landing import list_landed
from dagster_project.sensors import SETTLE_SECONDS, new_files
from dagster_project.settings import REPO_ROOT, get_settings


def _workspace(folder: Path) -> Path:
    """A workspace file naming the code location as `dg dev` does."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    path = folder / "sensor_cursors_workspace.yaml"
    path.write_text(
        json.dumps(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": project["code_location_target_module"],
                            "location_name": project["code_location_name"],
                            "working_directory": str(REPO_ROOT),
                        }
                    }
                ]
            }
        )
    )
    return path


def main(ids_path: Path) -> None:
    landing = get_settings().landing_dir
    ids: dict[str, dict[str, str]] = {}
    opts = WorkspaceOpts(workspace=(str(_workspace(ids_path.parent)),))
    with (
        get_instance_for_cli() as instance,
        get_repository_from_cli_opts(instance, dagster_version, opts, None) as repo,
    ):
        for extract in EXTRACTS:
            sensor = repo.get_sensor(f"{extract.name}_landed")
            # Every file counts as settled: nothing is being copied in now.
            _, cursor = new_files(list_landed(landing, extract), None, time.time() + SETTLE_SECONDS)
            data = SensorInstigatorData(
                min_interval=sensor.min_interval_seconds,
                cursor=cursor,
                sensor_type=sensor.sensor_type,
            )
            origin_id, selector_id = sensor.get_remote_origin_id(), sensor.selector_id
            state = instance.get_instigator_state(origin_id, selector_id)
            if state is None:
                instance.add_instigator_state(
                    InstigatorState(
                        sensor.get_remote_origin(),
                        InstigatorType.SENSOR,
                        InstigatorStatus.DECLARED_IN_CODE,
                        data,
                    )
                )
            else:
                instance.update_instigator_state(state.with_data(data))
            ids[sensor.name] = {"origin_id": origin_id, "selector_id": selector_id}
    # A file, not stdout: the code server Dagster starts logs to stdout too.
    ids_path.write_text(json.dumps(ids))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
