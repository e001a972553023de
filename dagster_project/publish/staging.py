"""The staged snapshot's tables, built chunk by chunk (see chunks.py) without holding a
table in memory, suppressing only the partitions whose input changed since the current
snapshot.

1. plan: each table's partitions and their signatures, from one read-only pass per table;
2. partitions whose signature the current snapshot's fingerprints (``versions/<version>/
   partitions.parquet``, store.py) list are reused: their rows are read from that snapshot;
   the others are packed into chunks and suppressed in a process pool, each chunk into a
   Parquet file under the staging folder;
3. the staged DuckDB tables are made of both, in primary-key order, then the
   ``hidden_with`` rules run in SQL (linked.py). A table whose links need only its fresh
   rows keeps its reused ones a view over the current snapshot until then, and is sorted
   once, when they join it: a resubmission reads each large table once, not three times
   (decision 0050).

A reused row holds the current snapshot's values after its links ran. That is the row the
new links would give only where every link flags it as before, so a table with links has
its reused partitions checked against the current snapshot's linked tables, and the
partitions where a flag changed are suppressed again before the links run.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from dagster_project.child_processes import die_with
from dagster_project.publish.chunks import (
    CHUNK_ROWS,
    PARTITION_COLUMN,
    ChunkFindings,
    ChunkTask,
    TablePartitions,
    key_join,
    pack_chunks,
    plan_partitions,
    spec_fingerprint,
    suppress_chunk,
)
from dagster_project.publish.from_published import derive_from_published
from dagster_project.publish.linked import hide_linked, linked_flag, links_reusable, shows_ranges
from dagster_project.publish.spec import HiddenWith, PublishSpec
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import (
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    SuppressionRules,
)
from dagster_project.warehouse import connect

# Chunks per worker when few partitions changed (suppress_partitions): the pool balances
# chunks of unequal cost (an all-programs partition costs ten times a program's).
TASKS_PER_WORKER = 4
# The staging database sorts tables of millions of rows: past this it spills to disk.
STAGING_MEMORY = "2GB"
# The published file is written in DuckDB 1.0's storage format (number 64), which every
# DuckDB from 0.10 on opens: the DuckDB shell, R, DBeaver and the Python clients analysts
# have are 1.x (the newest shell on the package index, 1.5.6, reads 64 to 68; 2.x writes
# 69). A file keeps the version it was created with (decision 0017).
PUBLISHED_STORAGE_VERSION = "v1.0.0"
_OLD = "previous"  # the current snapshot, attached read-only while staging
log = logging.getLogger(__name__)


# The counts of PublishInfo.suppression read from a staged table (_count_published).
_COUNTED = ("small_n_rows", "complementary_rows", "coded_rates", "hidden_rates", "omitted_rows")


@dataclass(frozen=True)
class PublishOptions:
    """How a publish runs; none of these changes what is published."""

    # Processes suppressing chunks, at most the CPU count. They are spawned: a calling
    # script needs the ``if __name__ == "__main__"`` guard.
    workers: int = 2
    chunk_rows: int = CHUNK_ROWS  # rows per chunk (chunks.py); a larger partition is alone
    progress: Callable[[str], None] = log.info  # a line per table planned, chunk suppressed
    keep: int = 3  # snapshots kept for rollback (store.prune)
    lock_timeout: float = 600.0  # seconds to wait for another publish or rollback


@dataclass(frozen=True)
class Previous:
    """The current snapshot and, by table, its partitions' signatures with what their
    suppression noted (columns signature, propagation_only_cells, notes)."""

    path: Path
    partitions: dict[str, pl.DataFrame]


def read_fingerprints(snapshot: Path, sidecar: Path) -> Previous:
    """Raises OSError or polars errors when the sidecar is missing or unreadable."""
    columns = ["table", "signature", "propagation_only_cells", "note"]
    found = pl.read_parquet(sidecar, columns=columns)
    by_table = found.group_by("table", "signature", maintain_order=True).agg(
        pl.col("propagation_only_cells").first(), pl.col("note").drop_nulls().alias("notes")
    )
    partitions = {str(table): rows.drop("table") for (table,), rows in by_table.group_by("table")}
    return Previous(snapshot, partitions)


def fingerprints(plans: Sequence[TablePlan]) -> pl.DataFrame:
    """What read_fingerprints reads back: a row per partition and note (one with a null note
    for a partition without), no values of the tables, only their hashes."""
    return pl.concat([plan.fingerprints() for plan in plans])


@dataclass
class TablePlan:
    spec: PublishSpec
    partitions: TablePartitions
    reused: np.ndarray  # bool per partition: rows taken from the current snapshot
    # By partition index: the notes of its suppression and its cells checked by
    # propagation only (from the current snapshot's fingerprints where reused).
    notes: dict[int, list[str]] = field(default_factory=dict)
    propagation_only_cells: dict[int, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # _count_published's
    suppressed_chunks: int = 0

    def record(self, findings: ChunkFindings, partitions: Sequence[int]) -> None:
        """A chunk's findings, replacing those its partitions had."""
        for i in partitions:
            self.notes.pop(i, None)
            self.propagation_only_cells.pop(i, None)
        self.notes.update(findings.notes)
        self.propagation_only_cells.update(findings.propagation_only_cells)
        self.suppressed_chunks += 1

    def total(self) -> dict[str, int]:
        return {
            "rows": int(self.partitions.rows.sum()),
            **{name: self.counts.get(name, 0) for name in _COUNTED},
            "propagation_only_cells": sum(self.propagation_only_cells.values()),
            "reused_partitions": int(self.reused.sum()),
            "suppressed_partitions": int((~self.reused).sum()),
            "suppressed_chunks": self.suppressed_chunks,
        }

    def note_lines(self) -> list[str]:
        return [n for i in sorted(self.notes) for n in self.notes[i]]

    def signatures(self) -> pl.DataFrame:
        """Each partition's index (PARTITION_COLUMN) and signature."""
        return pl.DataFrame(
            {
                PARTITION_COLUMN: np.arange(len(self.partitions), dtype=np.int32),
                "signature": self.partitions.signatures,
            }
        )

    def fingerprints(self) -> pl.DataFrame:
        unchecked = np.zeros(len(self.partitions), dtype=np.int64)
        for i, cells in self.propagation_only_cells.items():
            unchecked[i] = cells
        partitions = self.signatures().with_columns(propagation_only_cells=unchecked)
        notes = pl.DataFrame(
            {
                PARTITION_COLUMN: [i for i, lines in self.notes.items() for _ in lines],
                "note": [line for lines in self.notes.values() for line in lines],
            },
            schema={PARTITION_COLUMN: pl.Int32, "note": pl.String},
        )
        return (
            partitions.join(notes, on=PARTITION_COLUMN, how="left", maintain_order="left")
            .drop(PARTITION_COLUMN)
            .select(pl.lit(self.spec.table).alias("table"), pl.all())
        )


def plan_tables(
    warehouse: Path,
    specs: Sequence[PublishSpec],
    rules: SuppressionRules,
    previous: Previous | None,
) -> list[TablePlan]:
    """Each table's partitions; those the current snapshot holds already are marked reused,
    with what their suppression noted."""
    reusable_links = links_reusable(specs)
    plans = []
    with connect(warehouse, read_only=True) as con:
        for spec in specs:
            columns = repr(con.execute(f"describe select * from {spec.relation}").fetchall())
            parts = plan_partitions(con, spec, spec_fingerprint(spec, rules, columns))
            plan = TablePlan(spec, parts, np.zeros(len(parts), dtype=bool))
            known = (previous.partitions if previous else {}).get(spec.table)
            if known is not None and (not spec.hidden_with or reusable_links):
                _reuse(plan, known)
            plans.append(plan)
    return plans


def _reuse(plan: TablePlan, known: pl.DataFrame) -> None:
    """Marks the partitions whose signature ``known`` lists as reused, with their notes."""
    found = plan.signatures().join(known, on="signature", how="inner")
    plan.reused[found[PARTITION_COLUMN].to_numpy()] = True
    noted = found.filter((pl.col("propagation_only_cells") > 0) | (pl.col("notes").list.len() > 0))
    for i, cells, notes in noted.select(
        PARTITION_COLUMN, "propagation_only_cells", "notes"
    ).iter_rows():
        if cells:
            plan.propagation_only_cells[i] = cells
        if notes:
            plan.notes[i] = notes


def suppress_partitions(
    warehouse: Path,
    plans: Sequence[TablePlan],
    chosen: dict[str, np.ndarray],
    rules: SuppressionRules,
    folder: Path,
    options: PublishOptions,
) -> dict[str, list[Path]]:
    """Each table's ``chosen`` partitions (indices, ascending) packed into chunks and
    suppressed into ``folder``, ``options.workers`` at a time: the chunk files by table."""
    workers = max(1, min(os.cpu_count() or 1, options.workers))
    progress = options.progress
    by_table = {p.spec.table: p for p in plans}
    rows = sum(int(by_table[t].partitions.rows[p].sum()) for t, p in chosen.items())
    # A few changed partitions (a resubmission) still keep every worker busy: chunks of at
    # most an even share of TASKS_PER_WORKER tasks per worker, the costliest started first.
    size = min(options.chunk_rows, max(1, math.ceil(rows / (workers * TASKS_PER_WORKER))))
    tasks: list[ChunkTask] = []
    files: dict[str, list[Path]] = {}
    for table, partitions in chosen.items():
        plan = by_table[table]
        for chunk in pack_chunks(plan.partitions, plan.spec, partitions, size):
            out = folder / f"{table}.{plan.suppressed_chunks + len(files.get(table, []))}.parquet"
            files.setdefault(table, []).append(out)
            tasks.append(ChunkTask(warehouse, plan.spec, rules, chunk.keys, out, chunk.cost))
    tasks.sort(key=lambda t: -t.cost)
    started = time.monotonic()

    def done(task: ChunkTask, findings: ChunkFindings) -> None:
        plan = by_table[task.spec.table]
        plan.record(findings, task.keys[PARTITION_COLUMN].to_pylist())
        ours = files[task.spec.table]
        progress(
            f"{task.spec.table}: chunk {ours.index(task.out) + 1}/{len(ours)} suppressed, "
            f"{findings.rows:,} rows ({time.monotonic() - started:.1f}s into suppression)"
        )

    # Starting a worker (imports included) costs more than suppressing a tenth of a chunk.
    if workers <= 1 or len(tasks) <= 1 or rows <= options.chunk_rows // 10:
        for task in tasks:
            done(task, suppress_chunk(task))
        return files
    # spawn, not fork: polars and DuckDB run threads, which a fork would copy mid-lock.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        # A publish killed at once (kill -9) would leave its workers suppressing for minutes.
        initializer=die_with,
        initargs=(os.getpid(),),
    )
    try:
        futures: dict[Future[ChunkFindings], ChunkTask] = {
            pool.submit(suppress_chunk, t): t for t in tasks
        }
        for future in as_completed(futures):
            done(futures[future], future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return files


def _register_partitions(con: duckdb.DuckDBPyConnection, plan: TablePlan, which: np.ndarray) -> str:
    """The keys of the given partitions (a bool mask or indices) as a view; its name
    (_unregister_partitions drops it). Filtered in SQL: pyarrow's filter of equity_gaps'
    8.6 million keys took seconds, at every publish."""
    keys = plan.partitions.keys.append_column("__chosen", pa.array(_mask(plan, which)))
    con.register("__partition_keys", keys)
    con.execute(
        "create or replace temp view __partitions as "
        "select * exclude (__chosen) from __partition_keys where __chosen"
    )
    return "__partitions"


def _unregister_partitions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop view __partitions")
    con.unregister("__partition_keys")


def _mask(plan: TablePlan, which: np.ndarray) -> np.ndarray:
    if which.dtype == bool:
        return which
    mask = np.zeros(len(plan.partitions), dtype=bool)
    mask[which] = True
    return mask


def _stage_table(
    con: duckdb.DuckDBPyConnection, plan: TablePlan, files: list[Path], aside: bool
) -> None:
    """The table from its suppressed chunks' files and its reused partitions' snapshot rows,
    in primary-key order; with ``aside``, the reused rows stay a view over the current
    snapshot (_reused) until the links have run on the others, and the table is put in
    order once, when they join it (_finish): each pass over a table of millions of rows
    costs seconds of a resubmission's publish."""
    table = _quote(plan.spec.table)
    reused = ""
    if plan.reused.any():
        _keep_reused_keys(con, plan)
        on = key_join(plan.spec.partition_columns, "o", "k")
        reused = (
            f"select o.*, k.{PARTITION_COLUMN} from {_OLD}.{table} o "
            f"join {_reused_keys(plan.spec)} k on {on}"
        )
    fresh = "select * from read_parquet(?)" if files else ""
    params = [[str(f) for f in files]] if files else []
    if aside:
        con.execute(f"create temp view {_reused(plan.spec)} as {reused}")
        # The fresh rows' columns, even where no partition changed.
        fresh = fresh or f"select * from {_reused(plan.spec)} limit 0"
        con.execute(f"create table {table} as {fresh}", params)
    else:
        rows = " union all by name ".join(part for part in (fresh, reused) if part)
        con.execute(
            f"create table {table} as select * from ({rows}) order by {_key_order(plan.spec)}",
            params,
        )


def _reused_keys(spec: PublishSpec) -> str:
    """The temp table of a table's reused partitions' keys (_keep_reused_keys)."""
    return _quote(f"__reused_keys_{spec.table}")


def _keep_reused_keys(con: duckdb.DuckDBPyConnection, plan: TablePlan) -> None:
    """The keys of the table's partitions marked reused, as a temp table: what the view of
    its reused rows (_reused) reads, made again when a partition stops being reused."""
    keys = _register_partitions(con, plan, plan.reused)
    con.execute(f"create or replace temp table {_reused_keys(plan.spec)} as select * from {keys}")
    _unregister_partitions(con)


def _reused(spec: PublishSpec) -> str:
    """The view of a table's reused rows while they are kept aside (_stage_table)."""
    return _quote(f"__reused_{spec.table}")


def _links_on_fresh_rows_only(plans: Sequence[TablePlan]) -> set[str]:
    """Tables whose reused rows can skip the links: they hold the current snapshot's values
    after its links ran, which the links would give again, for the stale check has
    suppressed again every partition where a link flags a row differently or the display it
    links to changed (decision 0046). A table whose
    links read itself, or that other tables' links read, stays whole: its rows are what the
    links compare."""
    linked_to = {link.table for p in plans for link in p.spec.hidden_with}
    return {
        p.spec.table
        for p in plans
        if p.reused.any()
        and p.spec.hidden_with
        and p.spec.table not in linked_to
        and all(link.table != p.spec.table for link in p.spec.hidden_with)
    }


def _stale_partitions(
    con: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    previous: Previous,
    aside: bool,
    by_table: dict[str, TablePlan],
) -> np.ndarray:
    """Reused partitions of a table with links where some row's link flag or linked display
    differs from the one the current snapshot's linked tables give (indices, ascending).
    Only rows whose linked row may have changed are compared (_linked_partition_fresh)."""
    if any(link.table not in previous.partitions for link in plan.spec.hidden_with):
        return np.flatnonzero(plan.reused)
    stale: set[int] = set()
    table = _reused(plan.spec) if aside else _quote(plan.spec.table)
    for link in plan.spec.hidden_with:
        new, old = _quote(link.table), f"{_OLD}.{_quote(link.table)}"
        new_ranges, old_ranges = shows_ranges(con, link, new), shows_ranges(con, link, old)
        new_join, new_flag, new_params = linked_flag(
            link, new, "t", "n", extra=_linked_display(link, new_ranges), ranges=new_ranges
        )
        old_join, old_flag, old_params = linked_flag(
            link, old, "t", "o", extra=_linked_display(link, old_ranges), ranges=old_ranges
        )
        fresh, fresh_params = "true", []
        if new_ranges == old_ranges:
            fresh, fresh_params = _linked_partition_fresh(link, by_table[link.table])
        # The linked display too: a range's width, a coded bound and a copy (display_as)
        # follow it where no flag changes.
        rows = con.execute(
            f"select distinct t.{PARTITION_COLUMN} from {table} t {new_join} {old_join} "
            f"where t.{PARTITION_COLUMN} in "
            f"(select {PARTITION_COLUMN} from {_reused_keys(plan.spec)}) and {fresh} "
            f"and ({new_flag}, coalesce(n.__ranged, false), n.__small, n.__display) "
            f"is distinct from ({old_flag}, coalesce(o.__ranged, false), o.__small, o.__display)",
            [*new_params, *old_params, *fresh_params],
        ).fetchall()
        stale |= {int(r[0]) for r in rows}
    return np.array(sorted(stale), dtype=np.int64)


def _linked_partition_fresh(link: HiddenWith, linked: TablePlan) -> tuple[str, list[Any]]:
    """SQL on a linking row ``t``, with its parameters: its linked row lies in a partition of
    ``linked`` that is not reused. A reused partition holds the current snapshot's rows, so
    a row linked into one reads what it read at the last publish, present or not (equity_gaps
    against the 43 of 4,489 perkins_indicators partitions a district's resubmission changes).
    "true" where the link does not fix the linked partition (no narrowing)."""
    if not linked.reused.any():
        return "true", []
    ours = link.join_columns()
    conditions, params = [], []
    for column in linked.spec.partition_columns:
        if column in ours:
            conditions.append(f"r.{_quote(column)} is not distinct from t.{_quote(ours[column])}")
        elif column in link.where:
            conditions.append(f"r.{_quote(column)} is not distinct from ?")
            params.append(link.where[column])
        else:
            return "true", []
    reused = _reused_keys(linked.spec)
    return f"not exists (select 1 from {reused} r where {' and '.join(conditions)})", params


def _linked_display(link: HiddenWith, shown: bool) -> str:
    """SQL for linked_flag's ``extra``: the linked column's display as ``__display``."""
    return f"{_quote(link.column + DISPLAY_SUFFIX)} as __display" if shown else "null as __display"


def _stale_tables(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[TablePlan],
    previous: Previous | None,
    aside: set[str],
) -> dict[str, np.ndarray]:
    """By table, the reused partitions to suppress again (see _stale_partitions)."""
    if previous is None:
        return {}
    by_table = {p.spec.table: p for p in plans}
    stale = {
        p.spec.table: _stale_partitions(con, p, previous, p.spec.table in aside, by_table)
        for p in plans
        if p.spec.hidden_with and p.reused.any()
    }
    return {table: partitions for table, partitions in stale.items() if len(partitions)}


def _replace_partitions(
    con: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    stale: np.ndarray,
    files: list[Path],
    aside: bool,
) -> None:
    """The ``stale`` partitions' rows from their new chunk ``files`` instead of the current
    snapshot's. A table that is not ``aside`` is out of key order afterwards."""
    table = _quote(plan.spec.table)
    plan.reused[stale] = False
    if aside:
        _keep_reused_keys(con, plan)  # the view of the reused rows leaves them out now
    else:
        keys = _register_partitions(con, plan, stale)
        con.execute(
            f"delete from {table} "
            f"where {PARTITION_COLUMN} in (select {PARTITION_COLUMN} from {keys})"
        )
        _unregister_partitions(con)
    chunks = [str(f) for f in files]
    con.execute(f"insert into {table} by name select * from read_parquet(?)", [chunks])


def _count_published(con: duckdb.DuckDBPyConnection, plan: TablePlan) -> None:
    """The table's counts as a reader sees them, read from the staged table once the links
    have run (a link can withhold or leave out rows its own suppression showed)."""
    reason = _quote(SUPPRESSION_REASON)
    coded, hidden = ["0"], ["0"]
    for rate in plan.spec.rates:
        display = _quote(rate.column + DISPLAY_SUFFIX)
        coded.append(f"({reason} is null and ({display} like '>=%' or {display} like '<=%'))::int")
        hidden.append(
            f"({reason} is null and {_quote(rate.column)} is null and {display} is not null)::int"
        )
    rows, small_n, complementary, coded_rates, hidden_rates = con.execute(
        f"select count(*), count(*) filter (where {reason} = 'SMALL_N'), "
        f"count(*) filter (where {reason} = 'COMPLEMENTARY'), "
        f"coalesce(sum({' + '.join(coded)}), 0), coalesce(sum({' + '.join(hidden)}), 0) "
        f"from {_quote(plan.spec.table)}"
    ).fetchone()
    plan.counts = {
        "small_n_rows": int(small_n),
        "complementary_rows": int(complementary),
        "coded_rates": int(coded_rates),
        "hidden_rates": int(hidden_rates),
        "omitted_rows": int(plan.partitions.rows.sum()) - int(rows),
    }


def _key_order(spec: PublishSpec) -> str:
    """SQL: the primary-key order a reader will scan a published table in."""
    return ", ".join(f"{_quote(c)} nulls last" for c in spec.primary_key)


def _finish(con: duckdb.DuckDBPyConnection, plan: TablePlan, aside: bool, in_order: bool) -> None:
    """The table as published: its reused rows back beside the others (``aside``), in
    primary-key order (sorted again unless ``in_order``), without its partition column."""
    spec = plan.spec
    table = _quote(spec.table)
    if in_order and not aside:
        con.execute(f"alter table {table} drop column {PARTITION_COLUMN}")
    else:
        rows = table
        if aside:
            rows = f"(select * from {table} union all by name select * from {_reused(spec)})"
        con.execute(
            f"create table __sorted as select * exclude ({PARTITION_COLUMN}) from {rows} "
            f"order by {_key_order(spec)}"
        )
        if aside:
            con.execute(f"drop view {_reused(spec)}")
        con.execute(f"drop table {table}")
        con.execute(f"alter table __sorted rename to {table}")
    con.execute(f"drop table if exists {_reused_keys(spec)}")


def stage(
    warehouse: Path,
    staged: Path,
    folder: Path,
    specs: Sequence[PublishSpec],
    rules: SuppressionRules,
    previous: Previous | None,
    options: PublishOptions,
) -> list[TablePlan]:
    """The suppressed tables in the new DuckDB file ``staged``; chunk files go to ``folder``.

    Plan, suppress the partitions that changed, stage them beside the reused ones, suppress
    again the reused partitions a link now flags differently, run the links, finish (rows
    together, in key order), count."""
    progress = options.progress
    folder.mkdir()
    plans = plan_tables(warehouse, specs, rules, previous)
    for plan in plans:
        progress(
            f"{plan.spec.table}: {int(plan.partitions.rows.sum()):,} rows in "
            f"{len(plan.partitions):,} partition(s), {int(plan.reused.sum()):,} reused from "
            "the current snapshot"
        )
    fresh = {p.spec.table: np.flatnonzero(~p.reused) for p in plans}
    files = suppress_partitions(warehouse, plans, fresh, rules, folder, options)
    con = duckdb.connect(
        str(staged), config={"storage_compatibility_version": PUBLISHED_STORAGE_VERSION}
    )
    try:
        con.execute(f"set memory_limit = '{STAGING_MEMORY}'")
        con.execute(f"set temp_directory = '{folder / 'spill'}'")
        if previous is not None and any(p.reused.any() for p in plans):
            con.execute(f"attach '{previous.path}' as {_OLD} (read_only)")
        aside = _links_on_fresh_rows_only(plans)
        for plan in plans:
            _stage_table(con, plan, files.get(plan.spec.table, []), plan.spec.table in aside)
        progress("tables staged")
        stale = _stale_tables(con, plans, previous, aside)
        if stale:
            again = suppress_partitions(warehouse, plans, stale, rules, folder, options)
            for plan in plans:
                if plan.spec.table in stale:
                    _replace_partitions(
                        con,
                        plan,
                        stale[plan.spec.table],
                        again[plan.spec.table],
                        plan.spec.table in aside,
                    )
        hide_linked(con, list(specs), rules)
        # Reused rows hold what the derivations give too (their display columns included).
        derive_from_published(con, list(specs))
        progress("links run")
        for plan in plans:
            table = plan.spec.table
            _finish(con, plan, table in aside, in_order=table not in stale)
            _count_published(con, plan)
        con.execute("checkpoint")
    finally:
        con.close()
    for plan in plans:
        t = plan.total()
        progress(
            f"{plan.spec.table}: {t['small_n_rows']:,} rows small n, "
            f"{t['complementary_rows']:,} complementary, {t['hidden_rates']:,} rates hidden; "
            f"{t['suppressed_partitions']:,} partition(s) suppressed in "
            f"{t['suppressed_chunks']} chunk(s), {t['reused_partitions']:,} reused"
        )
    return plans
