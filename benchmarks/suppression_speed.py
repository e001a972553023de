"""Seconds and an output hash of suppress() on one publish chunk per table (issue 15).

    python -m benchmarks.suppression_speed --warehouse PATH [--table perkins_indicators ...]
        [--manifest PATH]

PATH is a built warehouse (e.g. <work-dir>/state-1y-s7/warehouse/cte.duckdb after
`benchmarks.run --only full`). For each table the largest chunk of its latest partitions,
as the publish step plans it (chunks.py), is read and suppressed with the publish rules;
the hash covers the suppressed frame, its counts and its notes, so two versions of the
suppression code can be compared for identical output, and where the output differs, the
counts that measure what it costs readers (rows withheld for small n and as complements,
counts published as ranges) compare its utility. ``--profile`` adds cProfile's top
functions by cumulative time. CPU seconds are given too: on a shared machine they vary less.
``--manifest`` reads the publish specs from another dbt manifest than the project's (the
one the warehouse was built with).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import time
from pathlib import Path

import polars as pl

from dagster_project.dbt_project import dbt_project
from dagster_project.publish.chunks import CHUNK_ROWS, plan_chunks, read_chunk
from dagster_project.publish.spec import PublishSpec, load_publish_specs
from dagster_project.publish.suppression import SuppressedTable, SuppressionRules, suppress
from dagster_project.settings import get_settings
from dagster_project.warehouse import connect

DEFAULT_TABLES = ("perkins_indicators", "program_continuum", "equity_gaps")


def largest_latest_chunk(warehouse: Path, spec: PublishSpec) -> pl.DataFrame:
    """The largest chunk, latest first on ties (chunks are planned in key order)."""
    with connect(warehouse, read_only=True) as con:
        chunks = plan_chunks(con, spec, "", CHUNK_ROWS)
        chunk = max(reversed(chunks), key=lambda c: c.rows)
        return read_chunk(con, spec, chunk.keys)


def output_hash(table: SuppressedTable) -> str:
    digest = hashlib.sha256(table.frame.write_csv().encode())
    # The rows of notes_at and unchecked_at are named in the notes already.
    skipped = ("frame", "notes", "notes_at", "unchecked_at")
    counts = {k: v for k, v in vars(table).items() if k not in skipped}
    digest.update(repr(sorted(counts.items())).encode())
    digest.update("\n".join(table.notes).encode())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suppression_speed")
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--table", action="append", help=f"default: {', '.join(DEFAULT_TABLES)}")
    parser.add_argument("--manifest", type=Path, help="default: the dbt project's manifest")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    settings = get_settings()
    manifest = args.manifest or dbt_project(settings).manifest_path
    specs = {s.table: s for s in load_publish_specs(manifest)}
    rules = SuppressionRules(min_n=settings.min_n)
    for name in args.table or DEFAULT_TABLES:
        frame = largest_latest_chunk(args.warehouse, specs[name])
        profiler = cProfile.Profile() if args.profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        table = suppress(frame, specs[name], rules)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{name}: {frame.height:,} rows, {seconds:.1f} s ({cpu:.1f} s CPU), "
            f"output {output_hash(table)}; {table.small_n_rows:,} small-n rows, "
            f"{table.complementary_rows:,} complementary rows, {table.ranged_counts:,} ranged "
            f"counts"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
