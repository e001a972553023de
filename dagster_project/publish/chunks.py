"""One published table suppressed in chunks of whole partitions, each read on its own.

A partition is the rows sharing the values of ``PublishSpec.partition_columns``: no
sibling group crosses one, so suppressing partitions separately gives the table's result.
Consecutive partitions (in key order) are packed into chunks of about ``CHUNK_ROWS`` rows;
memory is then bounded by the chunk size times the worker count, not by the table.

A chunk's signature fingerprints its partitions' input rows and everything else the
suppression depends on; a publish whose chunk has the signature of one in the current
snapshot can take that snapshot's rows instead of suppressing again (see snapshot.py).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from dagster_project.publish import (
    complements,
    disclosure,
    from_published,
    linked,
    siblings,
    spec,
    suppression,
)
from dagster_project.publish.spec import PublishSpec
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import SuppressedTable, SuppressionRules, suppress
from dagster_project.warehouse import connect

# The code a chunk's suppressed rows depend on: a change to any of it suppresses every chunk
# again (test_publish_chunks checks that every publish module they import is here).
FINGERPRINTED_CODE = (suppression, complements, siblings, disclosure, spec, linked, from_published)

# Rows per chunk: at state scale a perkins_indicators chunk of 200k rows suppresses in
# ~15 s at ~0.6 GiB; larger chunks only raise the peak, smaller ones add per-chunk overhead.
CHUNK_ROWS = 200_000
# The chunk each staged row came from, until the staged tables are final.
CHUNK_COLUMN = "__chunk"
_ROWS, _HASH = "__rows", "__hash"


@dataclass(frozen=True)
class Chunk:
    index: int
    keys: pa.Table  # the partition columns' values of its partitions
    rows: int
    signature: str


@dataclass
class ChunkCounts:
    """A chunk's share of PublishInfo.suppression: rows read, and what a reader sees of them
    once the links have run (staging._count_published), except the check's own figures."""

    rows: int = 0
    small_n_rows: int = 0
    complementary_rows: int = 0
    coded_rates: int = 0
    hidden_rates: int = 0
    propagation_only_cells: int = 0
    omitted_rows: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, table: SuppressedTable) -> ChunkCounts:
        return cls(
            rows=table.rows,
            small_n_rows=table.small_n_rows,
            complementary_rows=table.complementary_rows,
            coded_rates=table.coded_rates,
            hidden_rates=table.hidden_rates,
            propagation_only_cells=table.propagation_only_cells,
            omitted_rows=table.omitted_rows,
            notes=list(table.notes),
        )


def spec_fingerprint(spec_: PublishSpec, rules: SuppressionRules, columns: str) -> str:
    """What a table's suppression depends on besides its rows: the spec (not its prose), the
    rules, the input's column names and types, and the code of suppression and links."""
    prose_free = (
        spec_.primary_key,
        spec_.cell_size,
        spec_.counts,
        spec_.rates,
        spec_.derived,
        spec_.derived_from,
        spec_.sibling_sets,
        spec_.hidden_with,  # reused rows hold what the links hid
        spec_.relation,
    )
    code = "".join(inspect.getsource(m) for m in (*FINGERPRINTED_CODE, sys.modules[__name__]))
    versions = f"{duckdb.__version__} {pl.__version__}"
    parts = (repr(prose_free), repr(rules), columns, versions, code)
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def rows_fingerprint(columns: Sequence[str]) -> str:
    """An order-free fingerprint of a group of rows: the XOR of a hash per row.

    DuckDB's hash of several values (or of a row) is linear in XOR, so the XOR of row
    hashes alone is that of each column's values: two rows swapping a value, a numerator
    of 5 -> 6 in one cell and 6 -> 5 in another, kept the fingerprint, and a stale chunk was
    reused. Hashing each row's hash again mixes the columns (dbt/macros/year_partitions.sql
    fingerprints the same way)."""
    return f"bit_xor(hash(hash({', '.join(map(_quote, columns))})))"


def partitions(con: duckdb.DuckDBPyConnection, spec_: PublishSpec) -> pa.Table:
    """Each partition's key, row count and a fingerprint of its rows, in key order."""
    columns = con.sql(f"select * from {spec_.relation}").columns
    row_hash = rows_fingerprint(columns)
    keys = ", ".join(map(_quote, spec_.partition_columns))
    group = f"group by {keys} order by {keys} nulls last" if keys else ""
    select = f"{keys}, " if keys else ""
    return con.sql(
        f"select {select}count(*) as {_ROWS}, {row_hash} as {_HASH} from {spec_.relation} {group}"
    ).to_arrow_table()


def plan_chunks(
    con: duckdb.DuckDBPyConnection, spec_: PublishSpec, fingerprint: str, chunk_rows: int
) -> list[Chunk]:
    """Consecutive partitions packed into chunks of at most ``chunk_rows`` rows (a larger
    partition alone). With several partition columns a new first-column value (the school
    year) starts a chunk too, so that a change in one year leaves other years' chunks, and
    their signatures, as they were."""
    found = partitions(con, spec_)
    columns = list(spec_.partition_columns)
    rows = found[_ROWS].to_pylist()
    lead = found[columns[0]].to_pylist() if len(columns) > 1 else [None] * len(rows)
    starts, total = [0], 0
    for i, n in enumerate(rows):
        if i > starts[-1] and (total + n > chunk_rows or lead[i] != lead[i - 1]):
            starts.append(i)
            total = 0
        total += n
    bounds = list(zip(starts, [*starts[1:], len(rows)], strict=True))
    return [
        _chunk(index, found.slice(start, end - start), columns, fingerprint)
        for index, (start, end) in enumerate(bounds)
    ]


def _chunk(index: int, found: pa.Table, columns: list[str], fingerprint: str) -> Chunk:
    digest = hashlib.sha256(fingerprint.encode())
    # One hash per partition row (key, row count, row fingerprint), vectorized: a table
    # without sibling sets has a partition per row, millions at state scale.
    digest.update(pl.from_arrow(found).hash_rows().to_numpy().tobytes())
    return Chunk(index, found.select(columns), sum(found[_ROWS].to_pylist()), digest.hexdigest())


def key_join(columns: Sequence[str], left: str, right: str) -> str:
    """Join condition matching partitions, null key values included."""
    conditions = [f"{left}.{_quote(c)} is not distinct from {right}.{_quote(c)}" for c in columns]
    return " and ".join(conditions) or "true"


def read_chunk(con: duckdb.DuckDBPyConnection, spec_: PublishSpec, keys: pa.Table) -> pl.DataFrame:
    if not spec_.partition_columns:  # one partition: the whole table
        return con.sql(f"select * from {spec_.relation}").pl()
    con.register("__chunk_keys", keys)
    try:
        on = key_join(spec_.partition_columns, "t", "k")
        return con.sql(f"select t.* from {spec_.relation} t semi join __chunk_keys k on {on}").pl()
    finally:
        con.unregister("__chunk_keys")


@dataclass(frozen=True)
class ChunkTask:
    warehouse: Path
    spec: PublishSpec
    rules: SuppressionRules
    index: int
    keys: pa.Table
    out: Path


def suppress_chunk(task: ChunkTask) -> ChunkCounts:
    """Read one chunk from the warehouse, suppress it, write it to ``task.out`` as Parquet.
    Runs in a worker process: only the counts travel back."""
    with connect(task.warehouse, read_only=True) as con:
        frame = read_chunk(con, task.spec, task.keys)
    table = suppress(frame, task.spec, task.rules)
    table.frame.with_columns(pl.lit(task.index, pl.Int32).alias(CHUNK_COLUMN)).write_parquet(
        task.out
    )
    return ChunkCounts.of(table)
