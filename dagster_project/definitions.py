"""The Dagster code location: assets, checks, jobs, sensors, schedules and resources."""

import dagster as dg

from dagster_project.assets.dbt import nm_cte_dbt_assets
from dagster_project.assets.edfi import edfi_student_enrollment
from dagster_project.assets.publish import dq_report, published_snapshot
from dagster_project.assets.raw import raw_assets
from dagster_project.dbt_project import nm_cte_dbt
from dagster_project.jobs import build_marts, jobs, load_edfi, load_jobs, schedules
from dagster_project.resources import LocalDbtCliResource, WarehouseResource
from dagster_project.sensors import build_sensors
from dagster_project.settings import disable_telemetry

disable_telemetry()

defs = dg.Definitions(
    assets=[*raw_assets, edfi_student_enrollment, nm_cte_dbt_assets, dq_report, published_snapshot],
    jobs=jobs,
    schedules=schedules,
    sensors=build_sensors(load_jobs, build_marts, load_edfi),
    # Steps run one after another in the run's process: DuckDB admits one writing process.
    executor=dg.in_process_executor,
    resources={
        "warehouse": WarehouseResource.from_settings(),
        "dbt": LocalDbtCliResource(project_dir=nm_cte_dbt),
    },
)
