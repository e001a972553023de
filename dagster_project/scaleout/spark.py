"""Build the dbt project on Spark and hand its published marts to the publishing step.

Everything Spark does happens in one Python process, because dbt-spark's ``session``
method starts Spark inside dbt's process and keeps it for the life of that process: the
dbt invocations below (build, test ``cost_study``) and the reads of the marts share one JVM
and pay its start-up (about 14 s) once. The Dagster dbt asset calls ``build_on_spark`` in
its run's process when ``Settings.use_spark`` (CTE_WAREHOUSE=spark; assets/dbt.py).

``cost_study`` is a dbt Python model (the Student t survival function for its p-value has
no portable SQL). dbt-spark runs Python models only on Databricks or Dataproc, so on Spark
the build excludes it; this module then runs that same model file against the Spark
session, saves its table in Spark, and runs the model's dbt tests on it (decision 0005).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa

from dagster_project.publish.spec import load_publish_specs
from dagster_project.scaleout.raw_export import export_raw_parquet
from dagster_project.settings import Settings, environment
from dagster_project.warehouse import connect

SPARK_TARGET = "spark"
COST_STUDY = "cost_study"


class SparkBuildError(RuntimeError):
    """A dbt step on Spark failed; the message names the failing nodes."""


@dataclass(frozen=True)
class SparkLayout:
    """Spark's working folders, all under one root (CTE_SPARK_DIR, default warehouse/spark)."""

    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> SparkLayout:
        return cls(settings.spark_root)

    @property
    def raw_dir(self) -> Path:
        """Parquet exports of the raw schema, one folder per source table."""
        return self.root / "raw"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder for Spark builds, apart from the DuckDB manifest Dagster reads."""
        return self.root / "dbt_target"

    @property
    def manifest_path(self) -> Path:
        return self.dbt_target_dir / "manifest.json"

    @property
    def marts_path(self) -> Path:
        """A DuckDB copy of the Spark marts: what the publishing step reads."""
        return self.root / "spark_marts.duckdb"


@dataclass
class SparkBuild:
    raw_rows: dict[str, int]
    marts: dict[str, int]
    # Status of every dbt node and check run on Spark, by unique_id, over all invocations.
    results: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


def build_on_spark(
    settings: Settings,
    layout: SparkLayout | None = None,
    on_event: Callable[[Any], None] | None = None,
) -> SparkBuild:
    """Export raw to Parquet, build and test every model on Spark, copy the marts out.

    ``on_event`` receives every structured event of the dbt invocations (dbt's ``EventMsg``),
    as dbt's JSON log would write it: the Dagster asset turns them into materializations
    and check results.
    """
    layout = layout or SparkLayout.from_settings(settings)
    callbacks = [on_event] if on_event else []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with connect(settings.warehouse_path, read_only=True) as con:
        raw_rows = export_raw_parquet(con, layout.raw_dir)
    seconds["export_raw"] = _lap(started)

    # dbt runs in this process: profiles.yml's variables are set for its invocations only.
    with environment(settings.dbt_env() | {"CTE_SPARK_DIR": str(layout.root.resolve())}):
        step = time.perf_counter()
        # The project's on-run-start hook (spark_sources) registers the raw Parquet first.
        results = _dbt(settings, layout, callbacks, "build", "--exclude", COST_STUDY)
        seconds["dbt_build"] = _lap(step)  # includes Spark's start-up

        step = time.perf_counter()
        manifest = json.loads(layout.manifest_path.read_text())
        spark = _active_session(layout)
        build_cost_study(spark, manifest, settings.dbt_project_dir)
        results[cost_study_id(manifest)] = "success"
        results |= _dbt(settings, layout, callbacks, "test", "--select", COST_STUDY)
        seconds["cost_study"] = _lap(step)

    step = time.perf_counter()
    marts = copy_marts_to_duckdb(spark, layout.manifest_path, layout.marts_path)
    seconds["copy_marts"] = _lap(step)
    seconds["total"] = _lap(started)
    return SparkBuild(raw_rows=raw_rows, marts=marts, results=results, seconds=seconds)


def _lap(since: float) -> float:
    return round(time.perf_counter() - since, 2)


def cost_study_id(manifest: Mapping[str, Any]) -> str:
    """The unique_id of the model built outside dbt on Spark (no dbt event reports it)."""
    return f"model.{manifest['metadata']['project_name']}.{COST_STUDY}"


def _dbt(
    settings: Settings, layout: SparkLayout, callbacks: list[Callable[[Any], None]], *args: str
) -> dict[str, str]:
    """Run one dbt command on the Spark target in this process; status by unique_id."""
    from dbt.cli.main import dbtRunner

    project = str(settings.dbt_project_dir)
    result = dbtRunner(callbacks=callbacks).invoke(
        [
            *args,
            "--target",
            SPARK_TARGET,
            "--project-dir",
            project,
            "--profiles-dir",
            project,
            "--target-path",
            str(layout.dbt_target_dir),
            "--log-path",
            str(layout.root / "dbt_logs"),
        ]
    )
    if result.success:
        return {
            r.node.unique_id: str(r.status)
            for r in getattr(result.result, "results", None) or []
            if getattr(r, "node", None) is not None
        }
    failed = [
        f"{r.node.unique_id}: {r.message}"
        for r in getattr(result.result, "results", None) or []
        if getattr(r, "node", None) is not None and str(r.status) in {"error", "fail"}
    ]
    detail = "; ".join(failed[:10]) or str(result.exception)
    raise SparkBuildError(f"dbt {args[0]} on Spark failed: {detail}")


def _active_session(layout: SparkLayout) -> Any:
    """dbt's Spark session. Its folders were fixed when it started: a second build in the
    same process must use the same layout, or it would read another build's tables.

    dbt may start the session on one of its threads, where it is the "active" one; here it
    is the process's default session, which ``active()`` falls back to.
    """
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    try:
        spark = SparkSession.active()
    except PySparkRuntimeError as exc:
        raise SparkBuildError(
            "no Spark session after the dbt build (is the target 'spark'?)"
        ) from exc
    tables = spark.conf.get("spark.sql.warehouse.dir").removeprefix("file:")
    if Path(tables).resolve() != (layout.root / "tables").resolve():
        raise SparkBuildError(
            f"this process's Spark session keeps its tables in {tables}, not under "
            f"{layout.root}: run builds of different layouts in different processes"
        )
    return spark


def _relation(manifest: Mapping[str, Any], name: str) -> str:
    for node in manifest["nodes"].values():
        if node["resource_type"] in {"model", "seed"} and node["name"] == name:
            return f"{node['schema']}.{node['alias']}"
    raise SparkBuildError(f"{name} is not a model or seed of the dbt manifest")


class _ModelContext:
    """The two things a dbt Python model asks of its ``dbt`` argument: config and ref."""

    def __init__(self, spark: Any, manifest: Mapping[str, Any]):
        self._spark = spark
        self._manifest = manifest

    def config(self, **_: Any) -> None:
        """Materialization is decided here (a Spark table), not by the model."""

    def ref(self, name: str) -> Any:
        return self._spark.table(_relation(self._manifest, name))


def _load_model(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"dbt_model_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise SparkBuildError(f"cannot load the dbt Python model {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_cost_study(spark: Any, manifest: Mapping[str, Any], dbt_project_dir: Path) -> int:
    """Run the cost_study model file on the Spark session and save its table; rows written."""
    node = next(n for n in manifest["nodes"].values() if n["name"] == COST_STUDY)
    model = _load_model(dbt_project_dir / node["original_file_path"])
    context = _ModelContext(spark, manifest)
    frame = model.model(context, spark)
    # Arrow reads pandas' NaN as null, as dbt-duckdb does when it stores the model's frame;
    # columns coming from the input keep the input's Spark types.
    inputs = {f.name: f.dataType for f in context.ref("int_cost_group_comparison").schema}
    table = spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))
    table = table.select(
        *(table[c].cast(inputs[c]).alias(c) if c in inputs else table[c] for c in table.columns)
    )
    table.write.mode("overwrite").saveAsTable(f"{node['schema']}.{node['alias']}")
    return len(frame)


def copy_marts_to_duckdb(spark: Any, manifest_path: Path, target: Path) -> dict[str, int]:
    """Copy every published mart from Spark into a new DuckDB file, swapped in at the end.

    publish_snapshot reads its marts from a DuckDB file by ``"schema"."alias"``; this file
    has the same names, so publishing runs unchanged on marts built by Spark.
    """
    specs = load_publish_specs(manifest_path)
    staged = target.with_name(f".{target.name}.tmp")
    staged.unlink(missing_ok=True)
    rows: dict[str, int] = {}
    con = duckdb.connect(str(staged))
    try:
        for spec in specs:
            schema = spec.relation.split(".")[0]
            arrow = spark.table(spec.relation.replace('"', "`")).toArrow()
            con.execute(f"create schema if not exists {schema}")
            con.register("__mart", arrow)
            con.execute(f"create table {spec.relation} as select * from __mart")
            con.unregister("__mart")
            rows[spec.table] = arrow.num_rows
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(staged, target)
    return rows


def marts_warehouse_path(settings: Settings, working_warehouse: Path) -> Path:
    """The DuckDB file publishing reads marts from: the working warehouse, or Spark's copy."""
    if settings.use_spark:
        return SparkLayout.from_settings(settings).marts_path
    return working_warehouse


def published_manifest_path(settings: Settings, duckdb_manifest: Path) -> Path:
    """The dbt manifest that built the marts being published."""
    if settings.use_spark:
        return SparkLayout.from_settings(settings).manifest_path
    return duckdb_manifest
