"""The dbt project as Dagster sees it. Kept in its own module so the manifest can be
prepared ahead of time (`cte prepare`) instead of parsed at every import."""

import os

from dagster_dbt import DbtProject

from dagster_project.settings import REPO_ROOT, get_settings

# dbt reads the warehouse location from the environment (dbt/profiles.yml).
os.environ.setdefault("CTE_WAREHOUSE_PATH", str(get_settings().warehouse_path))

nm_cte_dbt = DbtProject(
    project_dir=REPO_ROOT / "dbt",
    profiles_dir=REPO_ROOT / "dbt",
    target=os.environ.get("CTE_DBT_TARGET", "duckdb"),
)
nm_cte_dbt.prepare_if_dev()
