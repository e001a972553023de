"""The two doors out of the warehouse: the PED data-quality report and the analysts'
published snapshot (write-audit-publish)."""

import functools
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject, get_asset_key_for_model

from dagster_project.assets.dbt import build_dbt_assets
from dagster_project.assets.raw import raw_asset_key
from dagster_project.contracts import EXTRACTS
from dagster_project.ingest.audit import current_manifest_ids
from dagster_project.publish import (
    PublishBlocked,
    PublishOptions,
    SuppressionRules,
    current_code_version,
    publish_snapshot,
)
from dagster_project.publish.spec import load_publish_specs
from dagster_project.quality.gate import blocking_failures
from dagster_project.quality.report import refresh_report_for_run
from dagster_project.resources import SettingsParam, WarehouseResource
from dagster_project.scaleout.spark import marts_warehouse_path, published_manifest_path
from dagster_project.settings import REPO_ROOT, Settings


@dg.asset(
    deps=[raw_asset_key(e) for e in EXTRACTS],
    group_name="publish",
    kinds={"html"},
    description="Cross-file checks, then the PED data-quality report (warehouse/reports/dq/)",
)
def dq_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsParam
):
    with warehouse.connect() as con:
        cross, index = refresh_report_for_run(con, settings.reports_dir, context.run.run_id)
    failing = cross.filter(~cross["success"]) if cross.height else cross
    labor = failing.filter(failing["expectation"].str.starts_with("labor_market_"))
    for row in labor.iter_rows(named=True):
        # A labor-market file that reaches no mart, or a year on an older release: visible
        # in the run, not only on the state's report page.
        context.log.warning(
            f"{row['extract']} (manifest {row['manifest_id']}): {row['description']}"
        )
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(index)),
            "cross_file_checks": cross.height,
            "cross_file_failures": failing.height,
            "labor_market_problems": dg.MetadataValue.json(labor["description"].to_list()),
        }
    )


@functools.cache
def build_published_snapshot(project: DbtProject) -> dg.AssetsDefinition:
    """The publish asset, after the marts the manifest of ``project`` marks for publishing."""
    published_marts = [s.table for s in load_publish_specs(project.manifest_path)]
    dbt_assets = build_dbt_assets(project)

    @dg.asset(
        deps=[get_asset_key_for_model([dbt_assets], m) for m in published_marts],
        group_name="publish",
        kinds={"duckdb", "parquet"},
        description=(
            "Suppressed, de-identified copy of the marts (DuckDB's, or Spark's with "
            "CTE_WAREHOUSE=spark), swapped in atomically; refuses while a blocking check has "
            "failed, keeping the previous snapshot"
        ),
    )
    def published_snapshot(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsParam
    ):
        return _publish(context, warehouse, settings, project.manifest_path)

    return published_snapshot


def _publish(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    settings: Settings,
    duckdb_manifest: Path,
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        failures = blocking_failures(con)
        manifest_ids = current_manifest_ids(con)
    try:
        # With CTE_WAREHOUSE=spark, the DuckDB copy of the Spark marts and Spark's manifest.
        info = publish_snapshot(
            marts_warehouse_path(settings, Path(warehouse.path)),
            settings.published_dir,
            published_manifest_path(settings, duckdb_manifest),
            SuppressionRules(min_n=settings.min_n),
            blocking_failures=failures,
            manifest_ids=manifest_ids,
            code_version=current_code_version(REPO_ROOT),
            options=PublishOptions(workers=settings.publish_workers, progress=context.log.info),
        )
    except PublishBlocked as exc:
        raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"published {info.path} ({len(info.tables)} tables) in {info.seconds:.1f}s")
    if info.notes:
        # Withheld cells a reader could still derive, each named by its key (suppression.py,
        # notes); README, "Known limits", says which remain at state scale and why.
        context.log.warning(
            f"{len(info.notes)} withheld cells could not be protected by a complement; "
            f"first: {info.notes[0]}"
        )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(info.path)),
            "version": info.version,
            "tables": dg.MetadataValue.json(info.tables),
            "suppressed_cells": dg.MetadataValue.json(info.suppression),
            "cells_flagged_unprotected": len(info.notes),
            "submissions_included": len(manifest_ids),
            "marts_built_on": "spark" if settings.use_spark else "duckdb",
        }
    )
