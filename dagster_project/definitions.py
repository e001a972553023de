"""The Dagster code location: assets, checks, jobs, sensors, schedules and resources."""

import dagster as dg

from dagster_project.assets.dbt import nm_cte_dbt_assets
from dagster_project.assets.edfi import (
    EDFI_COURSES_KEY,
    EDFI_KEY,
    edfi_cte_course_enrollment,
    edfi_student_enrollment,
)
from dagster_project.assets.publish import dq_report, published_snapshot
from dagster_project.assets.raw import raw_asset_key, raw_assets
from dagster_project.contracts import EXTRACTS
from dagster_project.dbt_project import nm_cte_dbt
from dagster_project.jobs import (
    build_marts,
    jobs,
    load_and_publish,
    load_edfi,
    load_edfi_courses,
    load_jobs,
    schedules,
)
from dagster_project.resources import LocalDbtCliResource, WarehouseResource
from dagster_project.sensors import LandAndPublish, build_sensors
from dagster_project.settings import disable_telemetry

disable_telemetry()

assets = [
    *raw_assets,
    edfi_student_enrollment,
    edfi_cte_course_enrollment,
    nm_cte_dbt_assets,
    dq_report,
    published_snapshot,
]


def _land_and_publish(key: dg.AssetKey) -> LandAndPublish:
    """What a file (or an Ed-Fi pull) changes: its raw asset and everything downstream."""
    downstream = dg.AssetSelection.assets(key).downstream().resolve(assets)
    return LandAndPublish(load_and_publish, tuple(sorted(downstream)))


publishes = {e.name: _land_and_publish(raw_asset_key(e)) for e in EXTRACTS}

defs = dg.Definitions(
    assets=assets,
    jobs=jobs,
    schedules=schedules,
    sensors=build_sensors(
        load_jobs,
        build_marts,
        load_edfi,
        publishes,
        _land_and_publish(EDFI_KEY),
        {"cte_course_enrollment": (load_edfi_courses, _land_and_publish(EDFI_COURSES_KEY))},
    ),
    # Steps run one after another in the run's process: DuckDB admits one writing process.
    executor=dg.in_process_executor,
    resources={
        "warehouse": WarehouseResource.from_settings(),
        "dbt": LocalDbtCliResource(project_dir=nm_cte_dbt),
    },
)
