"""Export the raw schema of the DuckDB working warehouse to Parquet, where Spark reads it.

Ingest keeps writing DuckDB (one writer, idempotent slice replacement); Spark only reads
raw. Each dbt source table becomes one folder ``<root>/<table>/`` that the ``spark_sources``
dbt macro registers as an external Parquet table. ``raw.quarantine`` is not a dbt source
and holds rejected raw values, so it never leaves DuckDB.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import duckdb

from dagster_project.contracts import EXTRACTS

RAW_SOURCE_TABLES: tuple[str, ...] = ("load_manifest", *(e.name for e in EXTRACTS))


def export_raw_parquet(con: duckdb.DuckDBPyConnection, root: Path) -> dict[str, int]:
    """Write every raw source table to ``root/<table>/part-00000.parquet``; rows per table.

    Each folder is written beside the old one and renamed into place, so a Spark job that
    lists a folder never sees a half-written file of this export.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows: dict[str, int] = {}
    for table in RAW_SOURCE_TABLES:
        staged = root / f".{table}.{uuid.uuid4().hex}"
        staged.mkdir()
        target = str(staged / "part-00000.parquet").replace("'", "''")
        con.execute(f"copy raw.{table} to '{target}' (format parquet, compression zstd)")
        rows[table] = con.execute(f"select count(*) from raw.{table}").fetchall()[0][0]
        _swap_in(staged, root / table)
    return rows


def _swap_in(staged: Path, final: Path) -> None:
    if final.exists():
        retired = final.with_name(f".{final.name}.old.{uuid.uuid4().hex}")
        final.rename(retired)
        staged.rename(final)
        shutil.rmtree(retired)
    else:
        staged.rename(final)
