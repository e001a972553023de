"""One published table suppressed in chunks of whole partitions, each read on its own.

A partition is the rows sharing the values of ``PublishSpec.partition_columns``: no
sibling group crosses one, so suppressing partitions separately gives the table's result.
Partitions (in key order) are packed into chunks of about ``CHUNK_ROWS`` rows; memory is
then bounded by the chunk size times the worker count, not by the table.

A partition's signature fingerprints its input rows and everything else the suppression
depends on; a publish finding the signature of a partition in the current snapshot takes
that snapshot's rows instead of suppressing it again (see staging.py), so one district's
resubmission suppresses the partitions holding that district and nothing else.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
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
from dagster_project.publish.suppression import SuppressionRules, suppress
from dagster_project.warehouse import connect

# The code a partition's suppressed rows depend on: a change to any of it suppresses every
# partition again (test_publish_chunks checks that every publish module they import is here).
FINGERPRINTED_CODE = (suppression, complements, siblings, disclosure, spec, linked, from_published)

# Rows per chunk: at state scale a perkins_indicators chunk of 200k rows suppresses in
# ~50 s CPU at ~0.6 GiB; larger chunks only raise the peak, smaller ones add per-chunk
# overhead.
CHUNK_ROWS = 200_000
# The partition each staged row came from (its index in TablePartitions), until the staged
# tables are final.
PARTITION_COLUMN = "__partition"
_ROWS, _HASH = "__rows", "__hash"


@dataclass(frozen=True)
class TablePartitions:
    """A table's partitions in key order: their keys (the partition columns and
    PARTITION_COLUMN, the index), row counts and signatures."""

    keys: pa.Table
    rows: np.ndarray
    signatures: np.ndarray  # uint64, one per partition

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Chunk:
    keys: pa.Table  # its partitions' rows of TablePartitions.keys
    rows: int
    # What suppressing it costs, roughly: a partition's complementary search grows about with
    # the square of its rows (state scale: 1,000 rows ~0.1 s CPU, 3,000 ~0.6 s, 8,500 3-16 s).
    cost: int


@dataclass
class ChunkFindings:
    """What one chunk's suppression says besides its rows, by partition index: the lines of
    ``SuppressedTable.notes`` and its cells checked by propagation only."""

    rows: int = 0
    notes: dict[int, list[str]] = field(default_factory=dict)
    propagation_only_cells: dict[int, int] = field(default_factory=dict)


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
        spec_.partition_by,
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


def plan_partitions(
    con: duckdb.DuckDBPyConnection, spec_: PublishSpec, fingerprint: str
) -> TablePartitions:
    """Each partition's key, row count and signature, in key order: the signature hashes
    the key, the row count, a fingerprint of the rows and ``fingerprint`` (spec_fingerprint)
    together, vectorized (a table without sibling sets has a partition per row, millions at
    state scale)."""
    columns = con.sql(f"select * from {spec_.relation}").columns
    keys = ", ".join(map(_quote, spec_.partition_columns))
    group = f"group by {keys} order by {keys} nulls last" if keys else ""
    select = f"{keys}, " if keys else ""
    found = con.sql(
        f"select {select}count(*) as {_ROWS}, {rows_fingerprint(columns)} as {_HASH} "
        f"from {spec_.relation} {group}"
    ).pl()
    signatures = found.with_columns(pl.lit(fingerprint).alias("__fingerprint")).hash_rows()
    index = pl.int_range(pl.len(), dtype=pl.Int32).alias(PARTITION_COLUMN)
    return TablePartitions(
        keys=found.select(*spec_.partition_columns, index).to_arrow(),
        rows=found[_ROWS].to_numpy(),
        signatures=signatures.to_numpy(),
    )


def pack_chunks(
    parts: TablePartitions, spec_: PublishSpec, chosen: np.ndarray, chunk_rows: int
) -> list[Chunk]:
    """The ``chosen`` partitions (indices, ascending) packed in order into chunks of at
    most ``chunk_rows`` rows (a larger partition alone). With several partition columns a
    new first-column value (the school year) starts a chunk too: a chunk's memory and a
    worker's share stay within one year."""
    if not len(chosen):
        return []
    columns = spec_.partition_columns
    lead = parts.keys[columns[0]].to_pylist() if len(columns) > 1 else [None] * len(parts)
    starts: list[int] = []
    total = 0
    for position, i in enumerate(chosen.tolist()):
        n = int(parts.rows[i])
        if not starts or total + n > chunk_rows or lead[i] != lead[chosen[position - 1]]:
            starts.append(position)
            total = 0
        total += n
    bounds = zip(starts, [*starts[1:], len(chosen)], strict=True)
    return [_chunk(parts, chosen[a:b]) for a, b in bounds]


def _chunk(parts: TablePartitions, partitions: np.ndarray) -> Chunk:
    rows = parts.rows[partitions].astype(np.int64)
    return Chunk(parts.keys.take(partitions), int(rows.sum()), int((rows**2).sum()))


def plan_chunks(
    con: duckdb.DuckDBPyConnection, spec_: PublishSpec, fingerprint: str, chunk_rows: int
) -> list[Chunk]:
    """Every partition of the table packed into chunks (a publish without reuse)."""
    parts = plan_partitions(con, spec_, fingerprint)
    return pack_chunks(parts, spec_, np.arange(len(parts)), chunk_rows)


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
    keys: pa.Table
    out: Path
    cost: int  # Chunk.cost


def suppress_chunk(task: ChunkTask) -> ChunkFindings:
    """Read one chunk from the warehouse, suppress it, write it to ``task.out`` as Parquet
    with each row's partition index. Runs in a worker process: only the findings travel
    back."""
    with connect(task.warehouse, read_only=True) as con:
        frame = read_chunk(con, task.spec, task.keys)
    table = suppress(frame, task.spec, task.rules)
    with_partition(table.frame, task.spec, task.keys).write_parquet(task.out)
    findings = ChunkFindings(rows=table.rows)
    noted = with_partition(table.notes_at, task.spec, task.keys)[PARTITION_COLUMN]
    for i, note in zip(noted.to_list(), table.notes, strict=True):
        findings.notes.setdefault(i, []).append(note)
    unchecked = with_partition(table.unchecked_at, task.spec, task.keys)[PARTITION_COLUMN]
    findings.propagation_only_cells = dict(unchecked.value_counts().iter_rows())
    return findings


def with_partition(frame: pl.DataFrame, spec_: PublishSpec, keys: pa.Table) -> pl.DataFrame:
    """``frame`` (rows holding the partition columns) with each row's partition index from
    ``keys`` (a Chunk's)."""
    index = pl.from_arrow(keys)
    if not spec_.partition_columns:  # one partition: the whole table
        return frame.with_columns(pl.lit(index[PARTITION_COLUMN][0]).alias(PARTITION_COLUMN))
    columns = list(spec_.partition_columns)
    return frame.join(index, on=columns, how="left", nulls_equal=True, maintain_order="left")
