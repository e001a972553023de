"""The code location's assets, checks, jobs, sensors, schedules and resources, built from
one Settings: by definitions.py for Dagster (`dg dev`, the daemon, each run's process) and
by the `cte` commands, which hand it the settings their main read."""

from __future__ import annotations

import functools

import dagster as dg

from dagster_project.assets.dbt import build_dbt_assets
from dagster_project.assets.edfi import (
    EDFI_ASSESSMENTS_KEY,
    EDFI_COURSES_KEY,
    EDFI_CREDENTIALS_KEY,
    EDFI_KEY,
    edfi_assessment_results,
    edfi_credential_attainment,
    edfi_cte_course_enrollment,
    edfi_student_enrollment,
)
from dagster_project.assets.publish import build_published_snapshot, dq_report
from dagster_project.assets.raw import raw_asset_key, raw_assets
from dagster_project.contracts import EXTRACTS, get_extract
from dagster_project.dbt_project import dbt_project
from dagster_project.jobs import (
    build_marts,
    jobs,
    load_and_publish,
    load_edfi,
    load_edfi_assessments,
    load_edfi_courses,
    load_edfi_credentials,
    load_jobs,
    schedules,
)
from dagster_project.resources import resources_for
from dagster_project.sensors import LandAndPublish, build_sensors
from dagster_project.settings import Settings


def asset_graph(settings: Settings) -> list[dg.AssetsDefinition]:
    """Every asset, in the order data flows."""
    project = dbt_project(settings)
    return [
        *raw_assets,
        edfi_student_enrollment,
        edfi_cte_course_enrollment,
        edfi_credential_attainment,
        edfi_assessment_results,
        build_dbt_assets(project),
        dq_report,
        build_published_snapshot(project),
    ]


def land_and_publish(assets: list[dg.AssetsDefinition], key: dg.AssetKey) -> LandAndPublish:
    """What a file changes: its raw asset and everything downstream."""
    downstream = dg.AssetSelection.assets(key).downstream().resolve(assets)
    return LandAndPublish(load_and_publish, tuple(sorted(downstream)))


def pull_and_publish(assets: list[dg.AssetsDefinition], key: dg.AssetKey) -> LandAndPublish:
    """What an Ed-Fi pull (``edfi/<extract>``) changes: it loads its extract's raw table, so
    the models reading that table, the report and the publish follow it; not the raw asset
    itself (it loads the landed files). Nothing in the graph reads the pull's asset."""
    raw = raw_asset_key(get_extract(key.path[-1]))
    downstream = dg.AssetSelection.assets(raw).downstream().resolve(assets) - {raw}
    return LandAndPublish(load_and_publish, tuple(sorted(downstream | {key})))


def publishes_by_extract(assets: list[dg.AssetsDefinition]) -> dict[str, LandAndPublish]:
    return {e.name: land_and_publish(assets, raw_asset_key(e)) for e in EXTRACTS}


@functools.lru_cache(maxsize=4)
def build_definitions(settings: Settings) -> dg.Definitions:
    """The code location of ``settings``; the same object for the same settings."""
    assets = asset_graph(settings)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=build_sensors(
            load_jobs,
            build_marts,
            load_edfi,
            publishes_by_extract(assets),
            pull_and_publish(assets, EDFI_KEY),
            edfi_configured=settings.edfi is not None,
            edfi_families={
                "cte_course_enrollment": (
                    load_edfi_courses,
                    pull_and_publish(assets, EDFI_COURSES_KEY),
                ),
                "credential_attainment": (
                    load_edfi_credentials,
                    pull_and_publish(assets, EDFI_CREDENTIALS_KEY),
                ),
                "assessment_results": (
                    load_edfi_assessments,
                    pull_and_publish(assets, EDFI_ASSESSMENTS_KEY),
                ),
            },
        ),
        # Steps run one after another in the run's process: DuckDB admits one writing process.
        executor=dg.in_process_executor,
        resources=resources_for(settings),
    )
