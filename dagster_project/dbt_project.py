"""The dbt project as Dagster sees it. Kept in its own module so the manifest can be
prepared ahead of time (`cte prepare`) instead of parsed at every import."""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import REPO_ROOT, get_settings

# dagster-dbt runs `dbt` from PATH (also inside prepare_if_dev): use this interpreter's,
# whether or not the virtualenv is activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])
# dbt reads the warehouse location from the environment (dbt/profiles.yml).
os.environ.setdefault("CTE_WAREHOUSE_PATH", str(get_settings().warehouse_path))

nm_cte_dbt = DbtProject(
    project_dir=REPO_ROOT / "dbt",
    profiles_dir=REPO_ROOT / "dbt",
    target=os.environ.get("CTE_DBT_TARGET", "duckdb"),
)

if os.environ.get("DAGSTER_IS_DEV_CLI"):  # under `dg dev` (cte ui), as prepare_if_dev tests
    # Not nm_cte_dbt.prepare_if_dev(): at every code-server load it re-parses through
    # dagster-dbt's own resource, whose `dbt --version` asks PyPI (three look-ups), and
    # rewrites target/manifest.json under a running `cte run` (issue 24). `cte prepare`
    # parses only when the project changed, and never asks for the version.
    from dagster_project.cli import cmd_prepare

    cmd_prepare(None)
