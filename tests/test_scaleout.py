"""Scale-out (docs/scale-out.md): the same dbt models build the same published marts on
Spark as on DuckDB, run the same checks, publish from Spark; Dagster keeps its runs and
asset materializations in PostgreSQL.

Slow: one DuckDB build and one Spark build of the whole project at tiny scale (Spark pays
about 14 s of start-up and roughly 0.5 s per model or test). Skipped only when Java or
PostgreSQL is not on the machine, or the `spark` / `postgres` extras are not installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.publish.spec import load_publish_specs
from dagster_project.settings import REPO_ROOT, Settings, get_settings

pytestmark = pytest.mark.slow

DBT = Path(sys.executable).parent / "dbt"
PSEUDONYM_KEY = b"scale-out-test-key"


def _require_spark() -> None:
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java: apt-get install openjdk-17-jre-headless")
    if (
        importlib.util.find_spec("pyspark") is None
        or importlib.util.find_spec("dbt.adapters.spark") is None
    ):
        pytest.skip("dbt-spark is not installed: pip install -e '.[spark]'")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Two tiny school years generated, loaded into a DuckDB warehouse of their own."""
    from dagster_project.ingest.loader import Loader
    from dagster_project.sample_data import generate
    from dagster_project.warehouse import ensure_schema

    home = tmp_path_factory.mktemp("scaleout")
    saved = {k: os.environ.get(k) for k in ("CTE_HOME", "CTE_LANDING_DIR", "CTE_WAREHOUSE_DIR")}
    os.environ["CTE_HOME"] = str(home)
    os.environ.pop("CTE_LANDING_DIR", None)
    os.environ.pop("CTE_WAREHOUSE_DIR", None)
    settings = get_settings()
    generate("tiny", years=2, seed=7, landing_dir=settings.landing_dir)
    settings.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_schema(con)
        paths = [p for p in settings.landing_dir.rglob("*") if p.is_file()]
        Loader(con, settings.landing_dir, PSEUDONYM_KEY).load(paths)
    yield settings
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def duckdb_build(tiny: Settings) -> tuple[Path, Path]:
    """`dbt build` on a copy of the warehouse with dbt-duckdb: (warehouse, target dir)."""
    warehouse = tiny.warehouse_dir / "duckdb_build.duckdb"
    shutil.copyfile(tiny.warehouse_path, warehouse)
    target = tiny.warehouse_dir / "dbt_target_duckdb"
    env = os.environ | {"CTE_WAREHOUSE_PATH": str(warehouse), "CTE_DBT_TARGET": "duckdb"}
    done = subprocess.run(
        [str(DBT), "build", "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=tiny.dbt_project_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-6000:]
    return warehouse, target


@pytest.fixture(scope="module")
def spark_run(tiny: Settings, dbt_manifest: Path) -> Iterator[tuple[Any, list[Any]]]:
    """The module's one Spark build, as a data engineer runs it: the `build_marts` job with
    CTE_WAREHOUSE=spark, in process. A spy keeps what build_on_spark returned: (run, builds).
    """
    _require_spark()
    import dagster as dg

    from dagster_project.assets import dbt as dbt_assets
    from dagster_project.code_location import build_definitions

    builds = []
    build_on_spark = dbt_assets.build_on_spark

    def spy(*args: Any, **kwargs: Any) -> Any:
        builds.append(build_on_spark(*args, **kwargs))
        return builds[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTE_WAREHOUSE", "spark")
        patch.setenv("CTE_SPARK_DIR", str(tiny.warehouse_dir / "spark"))
        patch.setattr(dbt_assets, "build_on_spark", spy)
        # The code location as a process started with these variables builds it.
        defs = build_definitions(get_settings())
        run = defs.resolve_job_def("build_marts").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
        yield run, builds


@pytest.fixture(scope="module")
def spark_build(tiny: Settings, spark_run):
    from dagster_project.scaleout.spark import SparkLayout

    run, builds = spark_run
    failures = [e.step_failure_data.error for e in run.all_events if e.is_step_failure]
    assert builds, failures
    return SparkLayout(tiny.warehouse_dir / "spark"), builds[0]


# --- comparing marts ----------------------------------------------------------------------


def _rows_by_key(
    con: duckdb.DuckDBPyConnection, relation: str, key: list[str]
) -> tuple[list[str], dict[tuple, tuple]]:
    """Column names and rows keyed by the mart's primary key (unique: a dbt test says so)."""
    cursor = con.execute(f"select * from {relation}")
    names = [d[0] for d in cursor.description]
    positions = [names.index(k) for k in key]
    rows = {tuple(str(r[p]) for p in positions): r for r in cursor.fetchall()}
    return names, rows


def _same(a: object, b: object) -> bool:
    """Equal, except that numbers with a fraction may differ in the last bits: the engines
    add doubles in different orders, so a fixed rounding would still split values that sit
    on a rounding boundary. NaN counts as null (pandas' missing value)."""
    numeric = (float, Decimal)
    if isinstance(a, numeric) or isinstance(b, numeric):
        fa, fb = (None if v is None or math.isnan(float(v)) else float(v) for v in (a, b))
        if fa is None or fb is None:
            return fa is fb
        return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _assert_same_rows(
    duck: duckdb.DuckDBPyConnection,
    spark: duckdb.DuckDBPyConnection,
    relation: str,
    key: list[str],
) -> int:
    """The same columns and rows by primary key in both files (see _same); rows compared."""
    duck_columns, duck_rows = _rows_by_key(duck, relation, key)
    spark_columns, spark_rows = _rows_by_key(spark, relation, key)
    assert duck_columns == spark_columns, relation
    assert duck_rows.keys() == spark_rows.keys(), relation
    for k, duck_row in duck_rows.items():
        different = [
            (name, d, s)
            for name, d, s in zip(duck_columns, duck_row, spark_rows[k], strict=True)
            if not _same(d, s)
        ]
        assert not different, (relation, k, different)
    return len(duck_rows)


def test_raw_schema_exported_to_parquet_without_quarantine(tiny: Settings, spark_build) -> None:
    layout, build = spark_build
    with duckdb.connect(str(tiny.warehouse_path), read_only=True) as con:
        for table, rows in build.raw_rows.items():
            assert con.execute(f"select count(*) from raw.{table}").fetchall()[0][0] == rows
            files = str(layout.raw_dir / table / "*.parquet")
            assert con.execute(f"select count(*) from read_parquet('{files}')").fetchall() == [
                (rows,)
            ]
    assert build.raw_rows["student_enrollment"] > 0
    assert not (layout.raw_dir / "quarantine").exists()


def test_published_marts_equal_on_duckdb_and_spark(duckdb_build, spark_build) -> None:
    warehouse, target = duckdb_build
    layout, build = spark_build
    duck_specs = load_publish_specs(target / "manifest.json")
    spark_specs = load_publish_specs(layout.manifest_path)
    assert [s.table for s in duck_specs] == [s.table for s in spark_specs]
    assert set(build.marts) == {s.table for s in spark_specs}
    with (
        duckdb.connect(str(warehouse), read_only=True) as duck,
        duckdb.connect(str(layout.marts_path), read_only=True) as spark,
    ):
        for spec in duck_specs:
            rows = _assert_same_rows(duck, spark, spec.relation, list(spec.primary_key))
            assert rows == build.marts[spec.table], spec.table
    # A comparison of empty tables would prove nothing.
    assert sum(build.marts.values()) > 1000


def test_spark_runs_the_same_checks(duckdb_build, spark_build) -> None:
    _, target = duckdb_build
    _, build = spark_build
    duck_results = json.loads((target / "run_results.json").read_text())["results"]
    duck_tests = {
        r["unique_id"]: r["status"]
        for r in duck_results
        if r["unique_id"].startswith(("test.", "unit_test."))
    }
    spark_tests = {k: v for k, v in build.results.items() if k.startswith(("test.", "unit_test."))}
    assert len(duck_tests) > 100
    assert set(spark_tests) == set(duck_tests)
    assert set(spark_tests.values()) == {"pass"}
    assert any("cost_study" in k for k in spark_tests)


def test_dagster_job_on_spark_publishes_the_duckdb_marts(
    tiny: Settings, duckdb_build, spark_run, spark_build
) -> None:
    """`build_marts` with CTE_WAREHOUSE=spark: every dbt asset and check reported from the
    Spark build (cost_study too), the DQ report built, and the published snapshot equal to
    the one publishing the DuckDB-built marts gives."""
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

    from dagster_project.assets.dbt import build_dbt_assets
    from dagster_project.dbt_project import dbt_project
    from dagster_project.publish import SuppressionRules, publish_snapshot

    nm_cte_dbt_assets = build_dbt_assets(dbt_project(tiny))

    run, _ = spark_run
    layout, _ = spark_build
    assert run.success
    materialized = {e.asset_key for e in run.get_asset_materialization_events()}
    assert set(nm_cte_dbt_assets.keys) <= materialized
    assert {"dq_report", "published_snapshot"} <= {k.path[-1] for k in materialized}
    checks = run.get_asset_check_evaluations()
    assert {c.asset_check_key for c in checks} == set(nm_cte_dbt_assets.check_keys)
    assert all(c.passed for c in checks)
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets([nm_cte_dbt_assets])
    cost_study = translator.get_asset_spec(manifest, "model.nm_cte.cost_study", project).key
    assert any(c.asset_key == cost_study for c in checks)

    spark_manifest = json.loads(layout.manifest_path.read_text())
    assert spark_manifest["metadata"]["adapter_type"] == "spark"
    # The asset graph comes from the DuckDB manifest: the Spark build has the same nodes.
    assert spark_manifest["nodes"].keys() == manifest["nodes"].keys()
    with duckdb.connect(str(tiny.published_path), read_only=True) as con:
        invocation = con.execute("select dbt_invocation_id from snapshot").fetchall()[0][0]
    assert invocation == spark_manifest["metadata"]["invocation_id"]

    warehouse, target = duckdb_build
    from_duckdb = publish_snapshot(
        warehouse,
        tiny.warehouse_dir / "published_from_duckdb",
        target / "manifest.json",
        SuppressionRules(min_n=tiny.min_n),
        blocking_failures=[],
        manifest_ids=[1],
        code_version="test",
    )
    specs = load_publish_specs(target / "manifest.json")
    with (
        duckdb.connect(str(from_duckdb.path), read_only=True) as duck,
        duckdb.connect(str(tiny.published_path), read_only=True) as spark,
    ):
        for spec in specs:
            _assert_same_rows(duck, spark, f'"{spec.table}"', list(spec.primary_key))
    assert sum(from_duckdb.tables.values()) > 1000


def test_default_warehouse_needs_no_pyspark(dbt_manifest: Path) -> None:
    """Without CTE_WAREHOUSE the definitions load with pyspark unavailable: the Spark code
    imports it only when a Spark build starts ([spark] stays an optional extra)."""
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from dagster_project.definitions import defs\n"
        "defs.resolve_job_def('build_marts')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"CTE_WAREHOUSE", "CTE_DBT_TARGET"}}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]


# --- Dagster on PostgreSQL ----------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[dict[str, str]]:
    """A fresh database on the local server that scripts/postgres.sh starts."""
    if importlib.util.find_spec("dagster_postgres") is None:
        pytest.skip("dagster-postgres is not installed: pip install -e '.[postgres]'")
    script = REPO_ROOT / "scripts" / "postgres.sh"
    started = subprocess.run([str(script)], capture_output=True, text=True)
    if started.returncode != 0 and shutil.which("pg_lsclusters") is None:
        pytest.skip(f"PostgreSQL cannot be installed here: {started.stderr[-500:]}")
    assert started.returncode == 0, started.stdout + started.stderr
    env = {
        "CTE_PG_HOST": "127.0.0.1",
        "CTE_PG_PORT": os.environ.get("CTE_PG_PORT", "5432"),
        "CTE_PG_USER": os.environ.get("CTE_PG_USER", "cte"),
        "CTE_PG_PASSWORD": os.environ.get("CTE_PG_PASSWORD", "cte"),
        "CTE_PG_DB": f"cte_test_{uuid.uuid4().hex[:12]}",
    }
    admin = _pg_connect(env, "postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"create database {env['CTE_PG_DB']}")
    yield env
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {env['CTE_PG_DB']} with (force)")
    admin.close()


def _pg_connect(env: dict[str, str], db: str | None = None):
    import psycopg2

    return psycopg2.connect(
        host=env["CTE_PG_HOST"],
        port=int(env["CTE_PG_PORT"]),
        user=env["CTE_PG_USER"],
        password=env["CTE_PG_PASSWORD"],
        dbname=db or env["CTE_PG_DB"],
    )


def test_dagster_run_recorded_in_postgres(
    tiny: Settings, postgres_db: dict[str, str], dbt_manifest: Path, tmp_path: Path
) -> None:
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(
        REPO_ROOT / "dagster_project" / "instance" / "dagster.postgres.yaml",
        home / "dagster.yaml",
    )
    saved = {k: os.environ.get(k) for k in (*postgres_db, "DAGSTER_HOME", "CTE_PSEUDONYM_KEY")}
    os.environ.update(postgres_db | {"DAGSTER_HOME": str(home)})
    os.environ["CTE_PSEUDONYM_KEY"] = PSEUDONYM_KEY.decode()
    try:
        from dagster_project.code_location import build_definitions
        from dagster_project.partitions import school_years

        # The code location as a process started with these variables builds it.
        defs = build_definitions(get_settings())

        instance = dg.DagsterInstance.get()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        instance.add_dynamic_partitions(school_years.name, ["2025"])
        result = defs.resolve_job_def("load_student_enrollment").execute_in_process(
            instance=instance,
            partition_key="2025",
            run_config={
                "ops": {"raw__student_enrollment": {"config": {"district": None, "reload": True}}}
            },
        )
        assert result.success
        run_id = result.run_id
        instance.dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    # Read back with plain SQL: the records are in PostgreSQL, not in files under home.
    with _pg_connect(postgres_db) as con, con.cursor() as cur:
        cur.execute("select status, partition from runs where run_id = %s", (run_id,))
        assert cur.fetchall() == [("SUCCESS", "2025")]
        cur.execute(
            "select asset_key from event_logs where run_id = %s "
            "and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        assert [json.loads(k) for (k,) in cur.fetchall()] == [["raw", "student_enrollment"]]
        cur.execute(
            "select count(*) from event_logs where run_id = %s "
            "and dagster_event_type = 'ASSET_CHECK_EVALUATION'",
            (run_id,),
        )
        assert cur.fetchall()[0][0] > 0
        cur.execute(
            "select partition from dynamic_partitions where partitions_def_name = %s",
            ("school_year",),
        )
        assert cur.fetchall() == [("2025",)]
    assert not list(home.rglob("*.db"))
