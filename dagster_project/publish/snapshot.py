"""Write-audit-publish: a suppressed, de-identified copy of the marts, swapped in atomically.

Layout of ``published_dir``::

    cte_marts.duckdb            the current snapshot (what analysts open, read-only)
    history/<version>.duckdb    hard links to the current and the last ``keep`` snapshots
    history/<version>.chunks.parquet   fingerprints of the chunks each was suppressed in
                                (staging.py; hashes and counts, no values)
    parquet -> parquet_versions/<version>/   one Parquet file per table
    .publish.lock               serializes publishes (flock; released if a publish dies)

A publish never writes into a file or folder a reader can see: it builds
``.cte_marts.<id>.tmp`` (from chunk files in ``.cte_marts.<id>.chunks/``) and
``parquet_versions/.<version>.tmp``, audits the new file, fsyncs,
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.publish import utility
from dagster_project.publish.chunks import CHUNK_ROWS
from dagster_project.publish.deid import scan_for_identifiers
from dagster_project.publish.spec import PublishSpec, load_publish_specs
from dagster_project.publish.staging import (
    Previous,
    TablePlan,
    build_staged,
    fingerprints,
    plan_tables,
    read_fingerprints,
    suppress_chunks,
)
from dagster_project.publish.suppression import (
    DEFAULT_BANDS,
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    CodingBand,
    SuppressionRules,
)

log = logging.getLogger(__name__)

PUBLISHED_FILE = "cte_marts.duckdb"
HISTORY_DIR = "history"
PARQUET_LINK = "parquet"
PARQUET_VERSIONS = "parquet_versions"
LOCK_FILE = ".publish.lock"
FINGERPRINTS_SUFFIX = ".chunks.parquet"
CATALOG_TABLE = "catalog"
SNAPSHOT_TABLE = "snapshot"
RESERVED_TABLES = {CATALOG_TABLE, SNAPSHOT_TABLE, utility.UTILITY_TABLE}


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
    # publication_summary as rows: per table, level and scope, cells at min n and what
    # became of them (utility.py).
    utility: list[dict[str, object]] = field(default_factory=list)


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


def _history_files(published_dir: Path, version: str) -> tuple[Path, Path]:
    """A version's snapshot in history and its chunk fingerprints (staging.py)."""
    history = published_dir / HISTORY_DIR
    return history / f"{version}.duckdb", history / f"{version}{FINGERPRINTS_SUFFIX}"


def _remove_version(published_dir: Path, version: str) -> None:
    for path in _history_files(published_dir, version):
        path.unlink(missing_ok=True)


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
    for entry in (published_dir / HISTORY_DIR).iterdir():
        if entry.name.split(".")[0] > current:
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
        _remove_version(published_dir, _version_of(path))
    versions = published_dir / PARQUET_VERSIONS
    target = _link_target(published_dir)
    older_dirs = sorted(p for p in versions.iterdir() if target is None or p.name < target)
    for path in older_dirs[: max(0, len(older_dirs) - keep)]:
        shutil.rmtree(path)


# --- content ----------------------------------------------------------------------------


def _catalog(specs: Sequence[PublishSpec], schemas: dict[str, pl.Schema]) -> pl.DataFrame:
    rows: list[dict[str, str | None]] = []
    for spec in specs:
        rows.append(_catalog_row(spec.table, None, spec.description, spec.grain, None))
        for name, dtype in schemas[spec.table].items():
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
        _catalog_row(
            utility.UTILITY_TABLE,
            None,
            "What this snapshot shows: of the cells whose cell size reaches min n, how many "
            "are shown (exactly or as a range), withheld as complements or left out.",
            "one row per published table, level and scope (every breakdown; all students, "
            "all programs)",
            None,
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
            "a range 'x% to y%' when a count it is built on is published as a range, "
            "or 'suppressed (n<min n)' / 'suppressed (complementary)'."
        )
    if column.endswith(DISPLAY_SUFFIX) and column.removesuffix(DISPLAY_SUFFIX) in spec.counts:
        count = column.removesuffix(DISPLAY_SUFFIX)
        return (
            f"{count} as it may be quoted: the count, a range 'x to y' where it is published "
            "as a range to protect a suppressed neighbour (the numeric column is then null), "
            "'>=x' or '<=x' when its rate is top or bottom coded, or 'suppressed (n<min n)' / "
            "'suppressed (complementary)'."
        )
    return spec.column_descriptions.get(column, "")


def _snapshot_row(
    snapshot_id: str,
    published_at: datetime,
    manifest_ids: Sequence[int],
    code_version: str,
    rules: SuppressionRules,
    dbt_manifest: Path,
    tables: dict[str, int],
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
            "table_row_counts": [json.dumps(tables)],
        },
        schema_overrides={"manifest_ids": pl.List(pl.Int64), "min_n": pl.Int32},
    )


def _add_frames(path: Path, frames: dict[str, pl.DataFrame]) -> None:
    con = duckdb.connect(str(path))
    try:
        for name, frame in frames.items():
            con.register("__frame", frame.to_arrow())
            con.execute(f'create table "{name}" as select * from __frame')
            con.unregister("__frame")
        con.execute("checkpoint")
    finally:
        con.close()
    _fsync(path)


def _schemas(path: Path, tables: Sequence[str]) -> dict[str, pl.Schema]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.sql(f'select * from "{t}" limit 0').pl().schema for t in tables}
    finally:
        con.close()


def _previous(published_dir: Path, progress: Callable[[str], None]) -> Previous | None:
    """The current snapshot's chunk fingerprints; None (suppress every chunk) without."""
    current = _current_version(published_dir)
    if current is None:
        return None
    snapshot, sidecar = _history_files(published_dir, current)
    try:
        return read_fingerprints(snapshot, sidecar)
    except (OSError, TypeError, pl.exceptions.PolarsError) as exc:
        progress(f"no chunk fingerprints of snapshot {current} ({exc}): suppressing all")
        return None


def _stage(
    warehouse: Path,
    staged: Path,
    folder: Path,
    specs: Sequence[PublishSpec],
    rules: SuppressionRules,
    previous: Previous | None,
    workers: int,
    chunk_rows: int,
    progress: Callable[[str], None],
) -> list[TablePlan]:
    """The suppressed tables in the new file ``staged``, chunk files in ``folder``."""
    folder.mkdir()
    plans = plan_tables(warehouse, specs, rules, previous, chunk_rows)
    for plan in plans:
        progress(
            f"{plan.spec.table}: {sum(c.rows for c in plan.chunks):,} rows in "
            f"{len(plan.chunks)} chunk(s), {len(plan.reused)} reused from the current snapshot"
        )

    def run(indexes: dict[str, Iterable[int]]) -> None:
        suppress_chunks(warehouse, plans, indexes, rules, folder, workers, chunk_rows, progress)

    run({p.spec.table: [i for i in range(len(p.chunks)) if i not in p.reused] for p in plans})
    build_staged(staged, plans, previous, folder, run)
    for plan in plans:
        t = plan.total()
        progress(
            f"{plan.spec.table}: {t['small_n_rows']:,} rows small n, "
            f"{t['complementary_rows']:,} complementary, {t['hidden_rates']:,} rates hidden; "
            f"{t['suppressed_chunks']} chunk(s) suppressed, {t['reused_chunks']} reused"
        )
    return plans


def _utility(
    staged: Path, warehouse: Path, specs: Sequence[PublishSpec], min_n: int
) -> pl.DataFrame:
    """The publication summary of the staged tables against the working marts."""
    con = duckdb.connect(str(staged), read_only=True)
    try:
        con.execute(f"attach '{warehouse}' as working (read_only)")
        return utility.summarize(utility.measure(con, specs, "working", min_n))
    finally:
        con.close()


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
    workers: int = 2,
    chunk_rows: int = CHUNK_ROWS,
) -> PublishInfo:
    """Publish the marts declared in the dbt manifest as a new snapshot, or raise.

    ``blocking_failures``: descriptions of failed blocking checks (empty to publish).
    ``manifest_ids``: the raw.load_manifest ids whose data the marts include.
    ``progress``: a line per table planned, per chunk suppressed and per table done.
    ``workers``: processes suppressing chunks (at most the CPU count); the snapshot is the
    same whatever their number. They are spawned: a calling script needs the
    ``if __name__ == "__main__"`` guard.
    ``chunk_rows``: rows per chunk (chunks.py); a larger partition is a chunk alone.
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
        previous = _previous(published_dir, progress)
        snapshot_id = uuid.uuid4().hex
        published_at = datetime.now(UTC)
        version = f"{published_at:%Y%m%dT%H%M%S%fZ}-{snapshot_id[:8]}"
        staged = published_dir / f".cte_marts.{snapshot_id}.tmp"
        chunks = published_dir / f".cte_marts.{snapshot_id}.chunks"
        try:
            plans = _stage(
                Path(warehouse_path),
                staged,
                chunks,
                specs,
                rules,
                previous,
                max(1, min(os.cpu_count() or 1, workers)),
                chunk_rows,
                progress,
            )
            totals = {p.spec.table: p.total() for p in plans}
            # Rows published: those read, less those rule 0 or a link left out.
            tables = {name: t["rows"] - t["omitted_rows"] for name, t in totals.items()}
            summary = _utility(staged, Path(warehouse_path), specs, rules.min_n)
            _add_frames(
                staged,
                {
                    utility.UTILITY_TABLE: summary,
                    CATALOG_TABLE: _catalog(specs, _schemas(staged, list(tables))),
                    SNAPSHOT_TABLE: _snapshot_row(
                        snapshot_id,
                        published_at,
                        manifest_ids,
                        code_version,
                        rules,
                        dbt_manifest_path,
                        tables,
                    ),
                },
            )
            findings = _audit(staged)
            if findings:
                raise IdentifierFound(
                    "refusing to publish, the new snapshot holds student identifiers: "
                    + "; ".join(findings)
                )
            versions = published_dir / PARQUET_VERSIONS
            staged_parquet = versions / f".{version}.tmp"
            _write_parquet(
                staged,
                staged_parquet,
                [*tables, CATALOG_TABLE, SNAPSHOT_TABLE, utility.UTILITY_TABLE],
            )
            os.replace(staged_parquet, versions / version)
            _fsync(versions)
            history_entry, history_fingerprints = _history_files(published_dir, version)
            os.link(staged, history_entry)
            staged_fingerprints = chunks / FINGERPRINTS_SUFFIX
            fingerprints(plans).write_parquet(staged_fingerprints)
            os.replace(staged_fingerprints, history_fingerprints)
            _fsync(history_entry.parent)
            os.replace(staged, published_dir / PUBLISHED_FILE)
            _fsync(published_dir)
        finally:
            _remove(staged)
            _remove(chunks)
            _remove(published_dir / PARQUET_VERSIONS / f".{version}.tmp")
        _swap_parquet_link(published_dir, version)
        _prune(published_dir, keep)

    info = PublishInfo(
        snapshot_id=snapshot_id,
        version=version,
        published_at=published_at,
        path=published_dir / PUBLISHED_FILE,
        parquet_dir=published_dir / PARQUET_LINK,
        tables=tables,
        suppression=totals,
        seconds=time.monotonic() - started,
        notes=[n for p in plans for n in p.notes()],
        utility=summary.to_dicts(),
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
        _remove_version(published_dir, current)
        _remove(published_dir / PARQUET_VERSIONS / current)
        return RolledBack(current=version, withdrawn=current)
