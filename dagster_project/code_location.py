"""The code location's assets, checks, jobs, sensors, schedules and resources, built from
one Settings: by definitions.py for Dagster (`dg dev`, the daemon, each run's process) and
by the `cte` commands, which hand it the settings their main read."""

from __future__ import annotations

import functools

import dagster as dg

from dagster_project.assets.dbt import build_dbt_assets
from dagster_project.assets.edfi import EDFI_ASSETS, edfi_key
from dagster_project.assets.publish import build_published_snapshot, dq_report
from dagster_project.assets.raw import raw_asset_key, raw_assets
from dagster_project.contracts import EXTRACTS, get_extract
from dagster_project.dbt_project import dbt_project
from dagster_project.ingest.edfi.mapping import FAMILIES
from dagster_project.jobs import (
    build_marts,
    edfi_jobs,
    jobs,
    load_and_publish,
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
        *EDFI_ASSETS.values(),
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
            publishes_by_extract(assets),
            edfi_configured=settings.edfi is not None,
            edfi_families={
                name: (edfi_jobs[name], pull_and_publish(assets, edfi_key(family)))
                for name, family in FAMILIES.items()
            },
        ),
        # Steps run one after another in the run's process: DuckDB admits one writing process.
        executor=dg.in_process_executor,
        resources=resources_for(settings),
    )
