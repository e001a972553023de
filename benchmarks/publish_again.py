"""Publish a built warehouse again into a scratch directory, with the publish's progress
lines and its utility summary (issue 15): what a change to the suppression does to a
state-scale snapshot, without rebuilding the warehouse.

    python -m benchmarks.publish_again --warehouse PATH --out DIR [--manifest PATH]

PATH is a built warehouse (e.g. <work-dir>/state-10y-s7/warehouse/cte.duckdb after
`benchmarks.run --only full`); DIR a new directory (a fresh DIR suppresses everything; a DIR
holding a snapshot reuses its unchanged partitions, decision 0042). Prints the seconds and
the snapshot's `publication_summary`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.dbt_project import dbt_project
from dagster_project.publish import PublishOptions, SuppressionRules, publish_snapshot
from dagster_project.publish.utility import UTILITY_TABLE
from dagster_project.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, help="default: the project's dbt manifest")
    args = parser.parse_args()
    manifest = args.manifest or dbt_project(get_settings()).manifest_path
    start = time.monotonic()
    info = publish_snapshot(
        args.warehouse,
        args.out,
        manifest,
        SuppressionRules(),
        blocking_failures=[],
        manifest_ids=[],
        code_version="benchmark",
        options=PublishOptions(
            progress=lambda line: print(f"{time.monotonic() - start:8.1f} {line}", flush=True)
        ),
    )
    print(f"published in {info.seconds:.1f} s: {info.path}")
    with duckdb.connect(str(info.path), read_only=True) as con:
        summary = con.sql(f"select * from {UTILITY_TABLE} order by all").pl()
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200):
        print(summary)


if __name__ == "__main__":
    main()
