"""Every dbt model, seed and test as Dagster assets and asset checks.

``build_dbt_assets(project)`` makes them, once per project (a cached factory, as
dagster-open-platform does): @dbt_assets reads the manifest, which `cte prepare` writes.
One set of assets for both warehouses. The asset graph comes from the DuckDB manifest; on
Spark (CTE_WAREHOUSE=spark) the same body builds the project with dbt-spark instead, whose
manifest has the same models, seeds and tests under the same unique_ids, and reports its
results as the same materializations and check results (docs/scale-out.md). pyspark (the
optional [spark] extra) is imported only when a Spark build starts.
"""

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtProject,
    dbt_assets,
)
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dbt_common.events.functions import msg_to_dict

from dagster_project.resources import LocalDbtCliResource, SettingsParam
from dagster_project.scaleout.spark import SparkLayout, build_on_spark, cost_study_id
from dagster_project.settings import Settings

# dbt's events for a finished node: what dagster-dbt turns into materializations and checks.
RESULT_EVENTS = frozenset({"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"})


class CteDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


@functools.cache
def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    """The dbt assets of ``project`` (dbt_project.dbt_project), built once per process."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=CteDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
    )
    def nm_cte_dbt_assets(
        context: dg.AssetExecutionContext, dbt: LocalDbtCliResource, settings: SettingsParam
    ):
        if settings.use_spark:
            yield from _build_on_spark(context, settings)
        else:
            # Unit tests check the SQL's logic on fixtures, not the data: they run with the
            # test suite (tests/test_dbt_models.py), not in every build (decision 0025).
            build = dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context)
            yield from build.stream()
            dbt.keep_parse(build)

    return nm_cte_dbt_assets


def _build_on_spark(context: dg.AssetExecutionContext, settings: Settings) -> Iterator[Any]:
    """Build every model on Spark in this process, then report it as `dbt build` would.

    The whole project builds whatever the selection (the Spark build is one unit: raw
    export, dbt, cost_study, the marts copy); nodes outside the selection are recorded as
    plain materializations. Events are reported after the build, also when it fails.
    """
    raw_events: list[dict[str, Any]] = []

    def keep(msg: Any) -> None:
        if msg.info.name in RESULT_EVENTS:
            raw_events.append(msg_to_dict(msg))

    try:
        build = build_on_spark(settings, SparkLayout.from_settings(settings), on_event=keep)
    except Exception:
        yield from _dagster_events(context, raw_events)
        raise
    yield from _dagster_events(context, raw_events)
    # cost_study is built outside dbt on Spark, so no dbt event reports it (decision 0005).
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    unique_id = cost_study_id(manifest)
    key = translator.get_asset_spec(manifest, unique_id, project).key
    yield _selected_or_materialization(
        context,
        dg.Output(
            None,
            output_name=key.to_python_identifier(),
            metadata={"unique_id": unique_id, "status": build.results[unique_id]},
        ),
    )
    context.log.info(f"Spark build, seconds by step: {build.seconds}; rows by mart: {build.marts}")


def _dagster_events(context: dg.AssetExecutionContext, raw_events: list[dict[str, Any]]):
    """dagster-dbt's own translation of dbt's result events, as on DuckDB."""
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    for raw in raw_events:
        event = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        for dagster_event in event.to_default_asset_events(
            manifest=manifest, dagster_dbt_translator=translator, context=context, project=project
        ):
            yield _selected_or_materialization(context, dagster_event)


def _selected_or_materialization(context: dg.AssetExecutionContext, event: Any) -> Any:
    """An output Dagster did not select becomes a materialization: the node was rebuilt."""
    if isinstance(event, dg.Output) and event.output_name not in context.selected_output_names:
        return dg.AssetMaterialization(
            asset_key=context.asset_key_for_output(event.output_name), metadata=event.metadata
        )
    return event
