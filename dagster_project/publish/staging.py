"""The staged snapshot's tables, built chunk by chunk (see chunks.py) without holding a
table in memory, suppressing only the chunks whose input changed since the current snapshot.

1. plan: each table's chunks and their signatures, from one read-only pass per table;
2. chunks whose signature the current snapshot's fingerprints (``versions/<version>/
   chunks.parquet``, store.py) list are reused: their rows are read from that snapshot; the others
   are suppressed in a process pool, each into a Parquet file under the staging folder;
3. the staged DuckDB tables are made of both, then the ``hidden_with`` rules run in SQL
   (linked.py) and each table is sorted by its primary key.

A reused row holds the current snapshot's values after its links ran. That is the row the
new links would give only where every link flags it as before, so a table with links has
its reused chunks checked against the current snapshot's linked tables, and the chunks
where a flag changed are suppressed again before the links run.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from dagster_project.child_processes import die_with
from dagster_project.publish.chunks import (
    CHUNK_COLUMN,
    CHUNK_ROWS,
    Chunk,
    ChunkCounts,
    ChunkTask,
    key_join,
    plan_chunks,
    spec_fingerprint,
    suppress_chunk,
)
from dagster_project.publish.from_published import derive_from_published
from dagster_project.publish.linked import hide_linked, linked_flag, links_reusable, shows_ranges
from dagster_project.publish.spec import PublishSpec
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import (
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    SuppressionRules,
)
from dagster_project.warehouse import connect

# The staging database sorts tables of millions of rows: past this it spills to disk.
STAGING_MEMORY = "2GB"
# The published file is written in DuckDB 1.0's storage format (number 64), which every
# DuckDB from 0.10 on opens: the DuckDB shell, R, DBeaver and the Python clients analysts
# have are 1.x (the newest shell on the package index, 1.5.6, reads 64 to 68; 2.x writes
# 69). A file keeps the version it was created with (decision 0017).
PUBLISHED_STORAGE_VERSION = "v1.0.0"
_OLD = "previous"  # the current snapshot, attached read-only while staging
log = logging.getLogger(__name__)


# ChunkCounts' fields summed into PublishInfo.suppression.
_SUMMED = (
    "rows",
    "small_n_rows",
    "complementary_rows",
    "coded_rates",
    "hidden_rates",
    "propagation_only_cells",
    "omitted_rows",
)


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
    """The current snapshot and its chunks' counts, by table and signature."""

    path: Path
    chunks: dict[str, dict[str, ChunkCounts]]


def read_fingerprints(snapshot: Path, sidecar: Path) -> Previous:
    """Raises OSError or polars errors when the sidecar is missing or unreadable."""
    chunks: dict[str, dict[str, ChunkCounts]] = {}
    for row in pl.read_parquet(sidecar).iter_rows(named=True):
        table, signature = row.pop("table"), row.pop("signature")
        chunks.setdefault(table, {})[signature] = ChunkCounts(**row)
    return Previous(snapshot, chunks)


def fingerprints(plans: Sequence[TablePlan]) -> pl.DataFrame:
    """What read_fingerprints reads back: no values of the tables, only their hashes."""
    rows = [
        {"table": plan.spec.table, "signature": chunk.signature, **asdict(plan.counts[i])}
        for plan in plans
        for i, chunk in enumerate(plan.chunks)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "signature": pl.String,
            **dict.fromkeys(_SUMMED, pl.Int64),
            "notes": pl.List(pl.String),
        },
    )


@dataclass
class TablePlan:
    spec: PublishSpec
    chunks: list[Chunk]
    counts: dict[int, ChunkCounts] = field(default_factory=dict)  # by chunk index
    reused: set[int] = field(default_factory=set)

    def total(self) -> dict[str, int]:
        counts = [self.counts[i] for i in range(len(self.chunks))]
        summed = {name: sum(getattr(c, name) for c in counts) for name in _SUMMED}
        summed["reused_chunks"] = len(self.reused)
        summed["suppressed_chunks"] = len(self.chunks) - len(self.reused)
        return summed

    def notes(self) -> list[str]:
        return [n for i in range(len(self.chunks)) for n in self.counts[i].notes]


def plan_tables(
    warehouse: Path,
    specs: Sequence[PublishSpec],
    rules: SuppressionRules,
    previous: Previous | None,
    chunk_rows: int,
) -> list[TablePlan]:
    """Each table's chunks; those the current snapshot holds already are marked reused."""
    reusable_links = links_reusable(specs)
    plans = []
    with connect(warehouse, read_only=True) as con:
        for spec in specs:
            columns = repr(con.execute(f"describe select * from {spec.relation}").fetchall())
            chunks = plan_chunks(con, spec, spec_fingerprint(spec, rules, columns), chunk_rows)
            plan = TablePlan(spec, chunks)
            known = (previous.chunks if previous else {}).get(spec.table, {})
            if not spec.hidden_with or reusable_links:
                for chunk in chunks:
                    if chunk.signature in known:
                        plan.counts[chunk.index] = known[chunk.signature]
                        plan.reused.add(chunk.index)
            plans.append(plan)
    return plans


def chunk_file(folder: Path, table: str, index: int) -> Path:
    return folder / f"{table}.{index}.parquet"


def suppress_chunks(
    warehouse: Path,
    plans: Sequence[TablePlan],
    indexes: dict[str, Iterable[int]],
    rules: SuppressionRules,
    folder: Path,
    options: PublishOptions,
) -> None:
    """Suppress the given chunks of each table into ``folder``, ``options.workers`` at a
    time."""
    workers = max(1, min(os.cpu_count() or 1, options.workers))
    progress = options.progress
    by_table = {p.spec.table: p for p in plans}
    tasks = [
        ChunkTask(
            warehouse,
            by_table[table].spec,
            rules,
            i,
            by_table[table].chunks[i].keys,
            chunk_file(folder, table, i),
        )
        for table, chosen in indexes.items()
        for i in chosen
    ]

    def done(task: ChunkTask, counts: ChunkCounts, started: float) -> None:
        plan = by_table[task.spec.table]
        plan.counts[task.index] = counts
        progress(
            f"{task.spec.table}: chunk {task.index + 1}/{len(plan.chunks)} suppressed, "
            f"{counts.rows:,} rows ({time.monotonic() - started:.1f}s into suppression)"
        )

    started = time.monotonic()
    # Starting a worker (imports included) costs more than suppressing a chunk's worth.
    rows = sum(by_table[t.spec.table].chunks[t.index].rows for t in tasks)
    if workers <= 1 or len(tasks) <= 1 or rows <= options.chunk_rows:
        for task in tasks:
            done(task, suppress_chunk(task), started)
        return
    # spawn, not fork: polars and DuckDB run threads, which a fork would copy mid-lock.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        # A publish killed at once (kill -9) would leave its workers suppressing for minutes.
        initializer=die_with,
        initargs=(os.getpid(),),
    )
    try:
        futures: dict[Future[ChunkCounts], ChunkTask] = {
            pool.submit(suppress_chunk, t): t for t in tasks
        }
        for future in as_completed(futures):
            done(futures[future], future.result(), started)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _keys_of(plan: TablePlan, indexes: Iterable[int]) -> pa.Table:
    """The partition keys of the given chunks, each with its chunk's index."""
    return pa.concat_tables(
        plan.chunks[i].keys.append_column(
            CHUNK_COLUMN, pa.array([i] * plan.chunks[i].keys.num_rows, pa.int32())
        )
        for i in indexes
    )


def _stage_table(con: duckdb.DuckDBPyConnection, plan: TablePlan, folder: Path) -> None:
    """The table from its suppressed chunks' files and its reused chunks' snapshot rows."""
    table = _quote(plan.spec.table)
    parts = []
    files = [
        str(chunk_file(folder, plan.spec.table, i))
        for i in range(len(plan.chunks))
        if i not in plan.reused
    ]
    if files:
        parts.append("select * from read_parquet(?)")
    if plan.reused:
        con.register("__reused_keys", _keys_of(plan, sorted(plan.reused)))
        on = key_join(plan.spec.partition_columns, "o", "k")
        parts.append(
            f"select o.*, k.{CHUNK_COLUMN} from {_OLD}.{table} o join __reused_keys k on {on}"
        )
    params = [files] if files else []
    con.execute(f"create table {table} as {' union all by name '.join(parts)}", params)
    if plan.reused:
        con.unregister("__reused_keys")


def _stale_chunks(con: duckdb.DuckDBPyConnection, plan: TablePlan, previous: Previous) -> set[int]:
    """Reused chunks of a table with links where some row's link flag differs from the one
    the current snapshot's linked tables give."""
    if any(link.table not in previous.chunks for link in plan.spec.hidden_with):
        return set(plan.reused)
    stale: set[int] = set()
    table = _quote(plan.spec.table)
    for link in plan.spec.hidden_with:
        new, old = _quote(link.table), f"{_OLD}.{_quote(link.table)}"
        new_join, new_flag, new_params = linked_flag(
            link, new, "t", "n", ranges=shows_ranges(con, link, new)
        )
        old_join, old_flag, old_params = linked_flag(
            link, old, "t", "o", ranges=shows_ranges(con, link, old)
        )
        rows = con.execute(
            f"select distinct t.{CHUNK_COLUMN} from {table} t {new_join} {old_join} "
            f"where list_contains(?, t.{CHUNK_COLUMN}) and ({new_flag}, "
            f"coalesce(n.__ranged, false), n.__small) is distinct from ({old_flag}, "
            "coalesce(o.__ranged, false), o.__small)",
            [*new_params, *old_params, sorted(plan.reused)],
        ).fetchall()
        stale |= {int(r[0]) for r in rows}
    return stale


def _stale_tables(
    con: duckdb.DuckDBPyConnection, plans: Sequence[TablePlan], previous: Previous | None
) -> dict[str, set[int]]:
    """By table, the reused chunks to suppress again (see _stale_chunks)."""
    if previous is None:
        return {}
    stale = {
        p.spec.table: _stale_chunks(con, p, previous)
        for p in plans
        if p.spec.hidden_with and p.reused
    }
    return {table: chunks for table, chunks in stale.items() if chunks}


def _replace_chunks(
    con: duckdb.DuckDBPyConnection, plan: TablePlan, indexes: set[int], folder: Path
) -> None:
    table = _quote(plan.spec.table)
    files = [str(chunk_file(folder, plan.spec.table, i)) for i in sorted(indexes)]
    con.execute(f"delete from {table} where list_contains(?, {CHUNK_COLUMN})", [sorted(indexes)])
    con.execute(f"insert into {table} by name select * from read_parquet(?)", [files])
    plan.reused -= indexes


def _count_published(con: duckdb.DuckDBPyConnection, plan: TablePlan, fresh: list[int]) -> None:
    """The counts of the given chunks as a reader sees them, read from the staged table once
    the links have run (a link can withhold or leave out rows its own suppression showed)."""
    reason = _quote(SUPPRESSION_REASON)
    coded, hidden = ["0"], ["0"]
    for rate in plan.spec.rates:
        display = _quote(rate.column + DISPLAY_SUFFIX)
        coded.append(f"({reason} is null and ({display} like '>=%' or {display} like '<=%'))::int")
        hidden.append(
            f"({reason} is null and {_quote(rate.column)} is null and {display} is not null)::int"
        )
    measured = con.execute(
        f"select {CHUNK_COLUMN}, count(*), count(*) filter (where {reason} = 'SMALL_N'), "
        f"count(*) filter (where {reason} = 'COMPLEMENTARY'), sum({' + '.join(coded)}), "
        f"sum({' + '.join(hidden)}) from {_quote(plan.spec.table)} "
        f"where list_contains(?, {CHUNK_COLUMN}) group by 1",
        [fresh],
    ).fetchall()
    published = {int(row[0]): row[1:] for row in measured}
    for i in fresh:
        rows, small_n, complementary, coded_rates, hidden_rates = published.get(i, (0,) * 5)
        counts = plan.counts[i]
        counts.small_n_rows, counts.complementary_rows = int(small_n), int(complementary)
        counts.coded_rates, counts.hidden_rates = int(coded_rates), int(hidden_rates)
        counts.omitted_rows = counts.rows - int(rows)


def _sort(con: duckdb.DuckDBPyConnection, spec: PublishSpec) -> None:
    """The table in primary-key order without its chunk column, as a reader will scan it."""
    table = _quote(spec.table)
    order = ", ".join(f"{_quote(c)} nulls last" for c in spec.primary_key)
    con.execute(
        f"create table __sorted as select * exclude ({CHUNK_COLUMN}) from {table} order by {order}"
    )
    con.execute(f"drop table {table}")
    con.execute(f"alter table __sorted rename to {table}")


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

    Plan, suppress the chunks that changed, stage them beside the reused ones, suppress
    again the reused chunks a link now flags differently, run the links, count, sort."""
    progress = options.progress
    folder.mkdir()
    plans = plan_tables(warehouse, specs, rules, previous, options.chunk_rows)
    for plan in plans:
        progress(
            f"{plan.spec.table}: {sum(c.rows for c in plan.chunks):,} rows in "
            f"{len(plan.chunks)} chunk(s), {len(plan.reused)} reused from the current snapshot"
        )
    fresh = {p.spec.table: [i for i in range(len(p.chunks)) if i not in p.reused] for p in plans}
    suppress_chunks(warehouse, plans, fresh, rules, folder, options)
    con = duckdb.connect(
        str(staged), config={"storage_compatibility_version": PUBLISHED_STORAGE_VERSION}
    )
    try:
        con.execute(f"set memory_limit = '{STAGING_MEMORY}'")
        con.execute(f"set temp_directory = '{folder / 'spill'}'")
        if previous is not None and any(p.reused for p in plans):
            con.execute(f"attach '{previous.path}' as {_OLD} (read_only)")
        for plan in plans:
            _stage_table(con, plan, folder)
        stale = _stale_tables(con, plans, previous)
        if stale:
            suppress_chunks(warehouse, plans, stale, rules, folder, options)
            for plan in plans:
                if plan.spec.table in stale:
                    _replace_chunks(con, plan, stale[plan.spec.table], folder)
        hide_linked(con, list(specs), rules)
        derive_from_published(con, list(specs))
        for plan in plans:
            fresh_chunks = [i for i in range(len(plan.chunks)) if i not in plan.reused]
            if fresh_chunks:
                _count_published(con, plan, fresh_chunks)
            _sort(con, plan.spec)
        con.execute("checkpoint")
    finally:
        con.close()
    for plan in plans:
        t = plan.total()
        progress(
            f"{plan.spec.table}: {t['small_n_rows']:,} rows small n, "
            f"{t['complementary_rows']:,} complementary, {t['hidden_rates']:,} rates hidden; "
            f"{t['suppressed_chunks']} chunk(s) suppressed, {t['reused_chunks']} reused"
        )
    return plans
