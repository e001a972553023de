"""Write-audit-publish: a suppressed, de-identified copy of the marts, swapped in atomically.

Layout of ``published_dir``::

    cte_marts.duckdb            the current snapshot (what analysts open, read-only)
    history/<version>.duckdb    hard links to the current and the last ``keep`` snapshots
    parquet -> parquet_versions/<version>/   one Parquet file per table
    .publish.lock               serializes publishes (flock; released if a publish dies)

A publish never writes into a file or folder a reader can see: it builds
``.cte_marts.<id>.tmp`` and ``parquet_versions/.<version>.tmp``, audits the new file, fsyncs,
then ``os.replace``s the file and the ``parquet`` symlink. A reader holding the old file
keeps its open inode; a reader opening afterwards gets the new one. A publish killed at any
point leaves the previous snapshot in place; the next publish removes its leftovers.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.publish.deid import scan_for_identifiers
from dagster_project.publish.spec import (
    HiddenWith,
    PublishSpec,
    PublishSpecError,
    load_publish_specs,
)
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    DEFAULT_BANDS,
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    WITHHELD_DISPLAY,
    CodingBand,
    RowReason,
    SuppressedTable,
    SuppressionRules,
    suppress,
)
from dagster_project.warehouse import connect

log = logging.getLogger(__name__)

PUBLISHED_FILE = "cte_marts.duckdb"
HISTORY_DIR = "history"
PARQUET_LINK = "parquet"
PARQUET_VERSIONS = "parquet_versions"
LOCK_FILE = ".publish.lock"
CATALOG_TABLE = "catalog"
SNAPSHOT_TABLE = "snapshot"
RESERVED_TABLES = {CATALOG_TABLE, SNAPSHOT_TABLE}


class PublishError(RuntimeError):
    """The publish stopped; the previous snapshot is untouched."""


class PublishBlocked(PublishError):
    """Blocking quality checks failed."""


class IdentifierFound(PublishError):
    """The new snapshot holds a student identifier, name or birth date."""


@dataclass(frozen=True)
class PublishInfo:
    snapshot_id: str
    version: str
    published_at: datetime
    path: Path
    parquet_dir: Path
    tables: dict[str, int]
    suppression: dict[str, dict[str, int]]
    seconds: float
    notes: list[str] = field(default_factory=list)


# A rate a hidden_with rule withheld is shown as COMPLEMENTARY_DISPLAY: it is hidden to
# protect a cell elsewhere, which is what complementary suppression means to a reader.
_LINK_FLAG = "_linked_hidden"


def hide_linked(suppressed: dict[str, SuppressedTable], specs: Sequence[PublishSpec]) -> None:
    """Apply every ``hidden_with`` rule, after each table's own suppression."""
    for spec in specs:
        for link in spec.hidden_with:
            if link.table not in suppressed:
                raise PublishError(f"{spec.table}: hidden_with names unpublished {link.table}")
            table = suppressed[spec.table]
            flagged = _flag_linked_hidden(suppressed[link.table].frame, table.frame, link)
            if link.omit_unmatched:
                flagged, table = _omit_unmatched(table, flagged)
            suppressed[spec.table] = _hide_flagged(table, spec, flagged, link.hide)


def _flag_linked_hidden(
    linked: pl.DataFrame, frame: pl.DataFrame, link: HiddenWith
) -> pl.DataFrame:
    """``frame`` with a column saying whether each row's linked value is hidden (null where
    no linked row is published)."""
    columns = link.join_columns()
    flags = linked.filter(*(pl.col(c) == v for c, v in link.where.items())).select(
        *(pl.col(theirs).alias(ours) for theirs, ours in columns.items()),
        pl.col(link.column).is_null().alias(_LINK_FLAG),
    )
    joined = frame.join(flags, on=list(columns.values()), how="left", maintain_order="left")
    # Two linked rows for one row would mean the key is wrong, not "hide twice". (Linked
    # rows that match no row here may share a key: the link reads only some of that table.)
    if joined.height != frame.height:
        raise PublishSpecError(
            f"hidden_with {link.table}.{link.column}: some rows match more than one linked row "
            f"on {sorted(columns)} {dict(link.where)}; add the columns that tell them apart"
        )
    if link.omit_unmatched:
        return joined
    return joined.with_columns(pl.col(_LINK_FLAG).fill_null(not link.show_unmatched))


def _omit_unmatched(
    table: SuppressedTable, frame: pl.DataFrame
) -> tuple[pl.DataFrame, SuppressedTable]:
    """Leave out the rows with no published linked row."""
    unmatched = pl.col(_LINK_FLAG).is_null()
    reasons = frame.filter(unmatched)[SUPPRESSION_REASON]
    return frame.filter(~unmatched), replace(
        table,
        small_n_rows=table.small_n_rows - int((reasons == RowReason.SMALL_N.name).sum()),
        complementary_rows=table.complementary_rows
        - int((reasons == RowReason.COMPLEMENTARY.name).sum()),
        omitted_rows=table.omitted_rows + reasons.len(),
    )


def _hide_flagged(
    table: SuppressedTable, spec: PublishSpec, frame: pl.DataFrame, columns: Sequence[str]
) -> SuppressedTable:
    hide = _with_dependents(spec, columns)
    flagged = pl.col(_LINK_FLAG)
    rates = [r.column for r in spec.rates if r.column in hide]
    newly_hidden = frame.select(
        pl.sum_horizontal(*((flagged & pl.col(r).is_not_null()).sum() for r in rates), 0)
    ).item()
    displays = [d for r in rates if (d := r + DISPLAY_SUFFIX) in frame.columns]
    # A link that hides every count withholds the row, as a complement would.
    withholds_row = set(spec.counts) <= set(hide)
    newly_withheld, reason = 0, []
    if withholds_row:
        unexplained = flagged & pl.col(SUPPRESSION_REASON).is_null()
        newly_withheld = frame.select(unexplained.sum()).item()
        reason = [
            pl.when(unexplained)
            .then(pl.lit(RowReason.COMPLEMENTARY.name))
            .otherwise(pl.col(SUPPRESSION_REASON))
            .alias(SUPPRESSION_REASON)
        ]
    frame = frame.with_columns(
        *(pl.when(flagged).then(None).otherwise(pl.col(c)).alias(c) for c in hide),
        *(_withheld_display(d) for d in displays),
        *reason,
    ).drop(_LINK_FLAG)
    return replace(
        table,
        frame=frame,
        hidden_rates=table.hidden_rates + newly_hidden,
        complementary_rows=table.complementary_rows + newly_withheld,
    )


def _withheld_display(column: str) -> pl.Expr:
    """COMPLEMENTARY_DISPLAY on flagged rows, unless the display already says why it is withheld:
    a shown or coded rate there would still tell the hidden base."""
    already = pl.col(column).str.starts_with(WITHHELD_DISPLAY).fill_null(False)
    return (
        pl.when(pl.col(_LINK_FLAG) & ~already)
        .then(pl.lit(COMPLEMENTARY_DISPLAY))
        .otherwise(pl.col(column))
        .alias(column)
    )


def _with_dependents(spec: PublishSpec, columns: Sequence[str]) -> list[str]:
    """``columns`` plus what rule 5 hides with them: rates over a hidden count, and the
    derived columns once any count or rate is hidden."""
    hide = list(dict.fromkeys(columns))
    for rate in spec.rates:
        parts = {spec.denominator_of(rate), *spec.numerators_of(rate)}
        if rate.column not in hide and parts & set(hide):
            hide.append(rate.column)
    if {*spec.counts, *(r.column for r in spec.rates)} & set(hide):
        hide += [d for d in spec.derived if d not in hide]
    return hide


def gate(blocking_failures: Sequence[str]) -> None:
    """Refuse to publish while any blocking (ERROR) check has failed."""
    if blocking_failures:
        shown = "; ".join(blocking_failures[:10])
        more = f" (and {len(blocking_failures) - 10} more)" if len(blocking_failures) > 10 else ""
        raise PublishBlocked(
            f"{len(blocking_failures)} blocking check(s) failed, previous snapshot kept: "
            f"{shown}{more}"
        )


def current_code_version(repo: Path) -> str:
    """The git commit of the code that built the marts, or the package version outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return "nm-cte-warehouse " + version("nm-cte-warehouse")
        except PackageNotFoundError:
            return "unknown"


# --- files ------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _publish_lock(published_dir: Path, timeout: float) -> Iterator[None]:
    with open(published_dir / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PublishError("another publish has held the lock too long") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _version_of(path: Path) -> str:
    return path.name.removesuffix(".duckdb")


def _current_version(published_dir: Path) -> str | None:
    """The history entry that is the same file as the current snapshot."""
    current = published_dir / PUBLISHED_FILE
    if not current.exists():
        return None
    for entry in (published_dir / HISTORY_DIR).glob("*.duckdb"):
        if os.path.samefile(entry, current):
            return _version_of(entry)
    return None


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _clean_leftovers(published_dir: Path) -> None:
    """Undo what a publish killed half-way left behind (we hold the lock: none is running)."""
    for leftover in published_dir.glob(".cte_marts.*"):
        _remove(leftover)
    for leftover in published_dir.glob(".parquet.*"):
        _remove(leftover)
    versions = published_dir / PARQUET_VERSIONS
    for leftover in versions.glob(".*"):
        _remove(leftover)
    current = _current_version(published_dir)
    if current is None:
        return
    # Versions newer than the current one never became current: the publish died before
    # its swap. Names sort by time.
    for entry in (published_dir / HISTORY_DIR).glob("*.duckdb"):
        if _version_of(entry) > current:
            _remove(entry)
    for entry in versions.iterdir() if versions.exists() else ():
        if entry.name > current:
            _remove(entry)
    # Died between the two swaps: point Parquet at the snapshot analysts already see.
    if (versions / current).is_dir() and _link_target(published_dir) != current:
        _swap_parquet_link(published_dir, current)


def _link_target(published_dir: Path) -> str | None:
    link = published_dir / PARQUET_LINK
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _swap_parquet_link(published_dir: Path, version: str) -> None:
    link = published_dir / PARQUET_LINK
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} must be a symlink managed by publish, found a real folder")
    staged = published_dir / f".parquet.{uuid.uuid4().hex}.link"
    os.symlink(Path(PARQUET_VERSIONS) / version, staged)
    os.replace(staged, link)
    _fsync(published_dir)


def _prune(published_dir: Path, keep: int) -> None:
    """Keep the current snapshot and the ``keep`` before it, in history and in Parquet."""
    current = _current_version(published_dir)
    history = sorted((published_dir / HISTORY_DIR).glob("*.duckdb"), key=_version_of)
    older = [p for p in history if current is None or _version_of(p) < current]
    for path in older[: max(0, len(older) - keep)]:
        path.unlink()
    versions = published_dir / PARQUET_VERSIONS
    target = _link_target(published_dir)
    older_dirs = sorted(p for p in versions.iterdir() if target is None or p.name < target)
    for path in older_dirs[: max(0, len(older_dirs) - keep)]:
        shutil.rmtree(path)


# --- content ----------------------------------------------------------------------------


def _read_marts(warehouse_path: Path, specs: Sequence[PublishSpec]) -> dict[str, pl.DataFrame]:
    """Copy the published marts out of the working warehouse and let go of it at once."""
    with connect(Path(warehouse_path), read_only=True) as con:
        return {s.table: con.sql(f"select * from {s.relation}").pl() for s in specs}


def _catalog(specs: Sequence[PublishSpec], tables: dict[str, SuppressedTable]) -> pl.DataFrame:
    rows: list[dict[str, str | None]] = []
    for spec in specs:
        frame = tables[spec.table].frame
        rows.append(_catalog_row(spec.table, None, spec.description, spec.grain, None))
        for name, dtype in frame.schema.items():
            rows.append(
                _catalog_row(spec.table, name, _describe(spec, name), spec.grain, str(dtype))
            )
    rows += [
        _catalog_row(
            CATALOG_TABLE,
            None,
            "Every published table and column.",
            "one row per table (column_name null) and per column",
            None,
        ),
        _catalog_row(
            SNAPSHOT_TABLE, None, "When and from what this snapshot was published.", "one row", None
        ),
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(rows[0], pl.String))


def _catalog_row(
    table: str, column: str | None, description: str, grain: str, data_type: str | None
) -> dict[str, str | None]:
    return {
        "table_name": table,
        "column_name": column,
        "description": description,
        "grain": grain,
        "data_type": data_type,
    }


def _describe(spec: PublishSpec, column: str) -> str:
    if column == SUPPRESSION_REASON:
        return (
            "Why the whole row's counts and rates are withheld: SMALL_N (cell size "
            f"{spec.cell_size} below the minimum n) or COMPLEMENTARY (withheld so a "
            "suppressed sibling cannot be derived from a total); null when shown."
        )
    if column.endswith(DISPLAY_SUFFIX) and column.removesuffix(DISPLAY_SUFFIX) in {
        r.column for r in spec.rates
    }:
        rate = column.removesuffix(DISPLAY_SUFFIX)
        return (
            f"{rate} as it may be quoted: a percentage with one decimal, '>=x%' or '<=x%' "
            "when top or bottom coded (the numeric rate and its numerator are then null), "
            "or 'suppressed (n<min n)' / 'suppressed (complementary)'."
        )
    return spec.column_descriptions.get(column, "")


def _snapshot_row(
    snapshot_id: str,
    published_at: datetime,
    manifest_ids: Sequence[int],
    code_version: str,
    rules: SuppressionRules,
    dbt_manifest: Path,
    tables: dict[str, SuppressedTable],
) -> pl.DataFrame:
    metadata = json.loads(Path(dbt_manifest).read_text()).get("metadata", {})
    return pl.DataFrame(
        {
            "snapshot_id": [snapshot_id],
            "published_at": [published_at],
            "manifest_ids": [sorted(int(m) for m in manifest_ids)],
            "code_version": [code_version],
            "min_n": [rules.min_n],
            "coding_bands": [json.dumps([b.__dict__ for b in rules.bands])],
            "dbt_invocation_id": [metadata.get("invocation_id")],
            "dbt_generated_at": [metadata.get("generated_at")],
            "table_row_counts": [json.dumps({n: t.frame.height for n, t in tables.items()})],
        },
        schema_overrides={"manifest_ids": pl.List(pl.Int64), "min_n": pl.Int32},
    )


def _write_database(path: Path, tables: dict[str, pl.DataFrame]) -> None:
    con = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            con.register("__frame", frame.to_arrow())
            con.execute(f'create table "{name}" as select * from __frame')
            con.unregister("__frame")
        con.execute("checkpoint")
    finally:
        con.close()
    _fsync(path)


def _audit(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return scan_for_identifiers(con)
    finally:
        con.close()


def _write_parquet(database: Path, target: Path, tables: Sequence[str]) -> None:
    """Export from the audited file itself, so Parquet and DuckDB hold the same rows."""
    target.mkdir(parents=True)
    con = duckdb.connect(str(database), read_only=True)
    try:
        for name in tables:
            out = str(target / f"{name}.parquet").replace("'", "''")
            con.execute(f"copy \"{name}\" to '{out}' (format parquet)")
    finally:
        con.close()
    for file in target.iterdir():
        _fsync(file)
    _fsync(target)


def _suppress_one(
    frame: pl.DataFrame,
    spec: PublishSpec,
    rules: SuppressionRules,
    progress: Callable[[str], None],
) -> SuppressedTable:
    started = time.monotonic()
    progress(f"{spec.table}: suppressing {frame.height:,} rows")
    table = suppress(frame, spec, rules, progress)
    progress(
        f"{spec.table}: {table.small_n_rows:,} rows small n, {table.complementary_rows:,} "
        f"complementary, {table.hidden_rates:,} rates hidden, in {time.monotonic() - started:.1f}s"
    )
    return table


def publish_snapshot(
    warehouse_path: Path,
    published_dir: Path,
    dbt_manifest_path: Path,
    min_n: int = 10,
    *,
    blocking_failures: Sequence[str],
    manifest_ids: Sequence[int],
    code_version: str,
    bands: tuple[CodingBand, ...] = DEFAULT_BANDS,
    keep: int = 3,
    lock_timeout: float = 600.0,
    progress: Callable[[str], None] = log.info,
) -> PublishInfo:
    """Publish the marts declared in the dbt manifest as a new snapshot, or raise.

    ``blocking_failures``: descriptions of failed blocking checks (empty to publish).
    ``manifest_ids``: the raw.load_manifest ids whose data the marts include.
    ``progress``: a line per table suppressed, and per round on large ones.
    Raises PublishBlocked, IdentifierFound, PublishSpecError or PublishError; in every case
    the previous snapshot and its Parquet files stay as they were.
    """
    gate(blocking_failures)
    started = time.monotonic()
    rules = SuppressionRules(min_n=min_n, bands=bands)
    specs = load_publish_specs(Path(dbt_manifest_path))
    if not specs:
        raise PublishError(f"no model in {dbt_manifest_path} declares config.meta.publish")
    if reserved := RESERVED_TABLES & {s.table for s in specs}:
        raise PublishError(f"published models may not be named {sorted(reserved)}")
    published_dir = Path(published_dir)
    for sub in (HISTORY_DIR, PARQUET_VERSIONS):
        (published_dir / sub).mkdir(parents=True, exist_ok=True)

    with _publish_lock(published_dir, lock_timeout):
        _clean_leftovers(published_dir)
        marts = _read_marts(Path(warehouse_path), specs)
        suppressed = {s.table: _suppress_one(marts[s.table], s, rules, progress) for s in specs}
        hide_linked(suppressed, specs)
        snapshot_id = uuid.uuid4().hex
        published_at = datetime.now(UTC)
        version = f"{published_at:%Y%m%dT%H%M%S%fZ}-{snapshot_id[:8]}"
        contents = {name: t.frame for name, t in suppressed.items()}
        contents[CATALOG_TABLE] = _catalog(specs, suppressed)
        contents[SNAPSHOT_TABLE] = _snapshot_row(
            snapshot_id,
            published_at,
            manifest_ids,
            code_version,
            rules,
            dbt_manifest_path,
            suppressed,
        )

        staged = published_dir / f".cte_marts.{snapshot_id}.tmp"
        try:
            _write_database(staged, contents)
            findings = _audit(staged)
            if findings:
                raise IdentifierFound(
                    "refusing to publish, the new snapshot holds student identifiers: "
                    + "; ".join(findings)
                )
            versions = published_dir / PARQUET_VERSIONS
            staged_parquet = versions / f".{version}.tmp"
            _write_parquet(staged, staged_parquet, list(contents))
            os.replace(staged_parquet, versions / version)
            _fsync(versions)
            history_entry = published_dir / HISTORY_DIR / f"{version}.duckdb"
            os.link(staged, history_entry)
            _fsync(history_entry.parent)
            os.replace(staged, published_dir / PUBLISHED_FILE)
            _fsync(published_dir)
        finally:
            _remove(staged)
            _remove(published_dir / PARQUET_VERSIONS / f".{version}.tmp")
        _swap_parquet_link(published_dir, version)
        _prune(published_dir, keep)

    info = PublishInfo(
        snapshot_id=snapshot_id,
        version=version,
        published_at=published_at,
        path=published_dir / PUBLISHED_FILE,
        parquet_dir=published_dir / PARQUET_LINK,
        tables={name: t.frame.height for name, t in suppressed.items()},
        suppression={
            name: {
                "rows": t.rows,
                "small_n_rows": t.small_n_rows,
                "complementary_rows": t.complementary_rows,
                "coded_rates": t.coded_rates,
                "hidden_rates": t.hidden_rates,
                "propagation_only_cells": t.propagation_only_cells,
                "omitted_rows": t.omitted_rows,
            }
            for name, t in suppressed.items()
        },
        seconds=time.monotonic() - started,
        notes=[n for t in suppressed.values() for n in t.notes],
    )
    log.info("published snapshot %s: %s rows by table", version, info.tables)
    return info


@dataclass(frozen=True)
class RolledBack:
    """Versions (``<published at>-<snapshot id prefix>``) on either side of a rollback."""

    current: str  # the earlier snapshot, current again
    withdrawn: str  # the snapshot that was current, now removed


def rollback(published_dir: Path, lock_timeout: float = 600.0) -> RolledBack:
    """Make the snapshot before the current one current again.

    The withdrawn snapshot is removed from history, so a second rollback goes further back.
    Raises PublishError, changing nothing, when there is no earlier snapshot.
    """
    published_dir = Path(published_dir)
    if not (published_dir / PUBLISHED_FILE).exists():
        raise PublishError(f"nothing is published in {published_dir}")
    with _publish_lock(published_dir, lock_timeout):
        _clean_leftovers(published_dir)
        current = _current_version(published_dir)
        history = sorted((published_dir / HISTORY_DIR).glob("*.duckdb"), key=_version_of)
        older = [p for p in history if current is not None and _version_of(p) < current]
        if current is None or not older:
            raise PublishError("no earlier snapshot in history to roll back to")
        previous = older[-1]
        staged = published_dir / f".cte_marts.{uuid.uuid4().hex}.tmp"
        os.link(previous, staged)
        os.replace(staged, published_dir / PUBLISHED_FILE)
        _fsync(published_dir)
        version = _version_of(previous)
        if (published_dir / PARQUET_VERSIONS / version).is_dir():
            _swap_parquet_link(published_dir, version)
        (published_dir / HISTORY_DIR / f"{current}.duckdb").unlink()
        _remove(published_dir / PARQUET_VERSIONS / current)
        return RolledBack(current=version, withdrawn=current)
