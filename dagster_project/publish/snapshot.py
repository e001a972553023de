"""Write-audit-publish: a suppressed, de-identified copy of the marts, switched in atomically.

A publish never writes into a file or folder a reader can see: it builds the new version
in ``versions/.<version>.tmp/`` (store.py; the DuckDB file from chunk files in
``versions/.<version>.chunks/``), audits the file, exports its Parquet files from it, writes
the partition fingerprints, fsyncs, then commits: one rename of the ``current`` link moves the
DuckDB and the Parquet door together. A reader holding the old file keeps its open inode; a
reader opening afterwards gets the new one. A publish killed at any point leaves the previous
snapshot in place; the next publish removes its leftovers. The layout is in store.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from dagster_project.publish import store, utility
from dagster_project.publish.deid import scan_for_identifiers
from dagster_project.publish.spec import PublishSpec, load_publish_specs, quote_identifier
from dagster_project.publish.staging import (
    Previous,
    PublishOptions,
    TablePlan,
    fingerprints,
    read_fingerprints,
    stage,
)
from dagster_project.publish.store import PublishError
from dagster_project.publish.suppression import (
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    SuppressionRules,
)

log = logging.getLogger(__name__)

DEFAULT_OPTIONS = PublishOptions()
CATALOG_TABLE = "catalog"
SNAPSHOT_TABLE = "snapshot"
RESERVED_TABLES = {CATALOG_TABLE, SNAPSHOT_TABLE, utility.UTILITY_TABLE}


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
    """Refuse to publish while any blocking check has failed: what blocks is the quality
    gate's decision (quality/gate.py, ``blocking_failures``); refusing is the publish's."""
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
    copied = {link.display_as: link for link in spec.hidden_with if link.display_as}
    if column.endswith(DISPLAY_SUFFIX) and (
        link := copied.get(column.removesuffix(DISPLAY_SUFFIX))
    ):
        return (
            f"{column.removesuffix(DISPLAY_SUFFIX)} as {link.table} publishes it "
            f"({link.column}{DISPLAY_SUFFIX}): a percentage, '>=x%' or '<=x%', a range "
            "'x% to y%', or why it is withheld there; quote this where the numeric column is null."
        )
    differences = {d.column: d for d in spec.differences}
    if column.endswith(DISPLAY_SUFFIX) and (
        difference := differences.get(column.removesuffix(DISPLAY_SUFFIX))
    ):
        return (
            f"{difference.column} ({difference.of} - {difference.minus}) in percentage points "
            "as it may be quoted: exact ('-3.2 pts'), or where either rate is published only "
            "as a range or coded, the range their published values give ('-3.4 pts to -3.0 "
            "pts'; the numeric column is then null"
            + (
                f", and {difference.flag} is set only where the range decides it"
                if difference.flag
                else ""
            )
            + "); null where either rate is withheld."
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
    new: _NewVersion,
    manifest_ids: Sequence[int],
    code_version: str,
    rules: SuppressionRules,
    dbt_manifest: Path,
    tables: dict[str, int],
) -> pl.DataFrame:
    metadata = json.loads(Path(dbt_manifest).read_text()).get("metadata", {})
    return pl.DataFrame(
        {
            "snapshot_id": [new.snapshot_id],
            "published_at": [new.published_at],
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
            con.execute(f"create table {quote_identifier(name)} as select * from __frame")
            con.unregister("__frame")
        con.execute("checkpoint")
    finally:
        con.close()
    store.fsync(path)


def _schemas(path: Path, tables: Sequence[str]) -> dict[str, pl.Schema]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.sql(f"select * from {quote_identifier(t)} limit 0").pl().schema for t in tables
        }
    finally:
        con.close()


def _previous(published_dir: Path, progress: Callable[[str], None]) -> Previous | None:
    """The current snapshot's partition fingerprints; None (suppress everything) without."""
    current = store.fingerprints_of(published_dir)
    if current is None:
        return None
    version, snapshot, sidecar = current
    try:
        return read_fingerprints(snapshot, sidecar)
    except (OSError, TypeError, pl.exceptions.PolarsError) as exc:
        progress(f"no partition fingerprints of snapshot {version} ({exc}): suppressing all")
        return None


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


def _refuse_identifiers(path: Path) -> None:
    """The last audit before the switch: no student identifier, name or birth date."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        findings = scan_for_identifiers(con)
    finally:
        con.close()
    if findings:
        raise IdentifierFound(
            "refusing to publish, the new snapshot holds student identifiers: "
            + "; ".join(findings)
        )


def _published_specs(dbt_manifest_path: Path) -> list[PublishSpec]:
    specs = load_publish_specs(dbt_manifest_path)
    if not specs:
        raise PublishError(f"no model in {dbt_manifest_path} declares config.meta.publish")
    if reserved := RESERVED_TABLES & {s.table for s in specs}:
        raise PublishError(f"published models may not be named {sorted(reserved)}")
    return specs


@dataclass(frozen=True)
class _NewVersion:
    """The version being built: its name, and its staging folder in the store."""

    snapshot_id: str
    published_at: datetime
    version: str
    folder: Path  # becomes versions/<version>/ at commit
    staged: Path  # the DuckDB file in it
    chunks: Path  # suppressed chunk files, removed after the publish

    @classmethod
    def start(cls, published_dir: Path) -> _NewVersion:
        snapshot_id, published_at = uuid.uuid4().hex, datetime.now(UTC)
        version = f"{published_at:%Y%m%dT%H%M%S%fZ}-{snapshot_id[:8]}"
        folder = store.staging_dir(published_dir, version)
        folder.mkdir()
        return cls(
            snapshot_id,
            published_at,
            version,
            folder,
            folder / store.PUBLISHED_FILE,
            folder.with_name(f".{version}.chunks"),
        )


def _export(new: _NewVersion, plans: Sequence[TablePlan], tables: Sequence[str]) -> None:
    """The Parquet door and the partition fingerprints beside the DuckDB file, all on disk."""
    store.write_parquet(new.staged, new.folder / store.PARQUET_DIR, tables)
    fingerprints(plans).write_parquet(new.folder / store.FINGERPRINTS_FILE)
    store.fsync(new.folder / store.FINGERPRINTS_FILE)
    store.fsync(new.folder)


def _lap(options: PublishOptions, started: float, step: str) -> None:
    options.progress(f"{step} ({time.monotonic() - started:.1f}s into the publish)")


def publish_snapshot(
    warehouse_path: Path,
    published_dir: Path,
    dbt_manifest_path: Path,
    rules: SuppressionRules,
    *,
    blocking_failures: Sequence[str],
    manifest_ids: Sequence[int],
    code_version: str,
    options: PublishOptions = DEFAULT_OPTIONS,
) -> PublishInfo:
    """Publish the marts declared in the dbt manifest as a new snapshot, or raise.

    ``blocking_failures``: descriptions of failed blocking checks (empty to publish).
    ``manifest_ids``, ``code_version``: what the marts were built from (the snapshot table).
    Raises PublishBlocked, IdentifierFound, PublishSpecError or PublishError; in every case
    the previous snapshot and its Parquet files stay as they were.
    """
    gate(blocking_failures)
    started = time.monotonic()
    specs = _published_specs(Path(dbt_manifest_path))
    published_dir = Path(published_dir)
    with store.lock(published_dir, options.lock_timeout):
        store.recover(published_dir)
        new = _NewVersion.start(published_dir)
        try:
            plans = stage(
                Path(warehouse_path),
                new.staged,
                new.chunks,
                specs,
                rules,
                _previous(published_dir, options.progress),
                options,
            )
            _lap(options, started, "staged")
            totals = {p.spec.table: p.total() for p in plans}
            # Rows published: those read, less those rule 0 or a link left out.
            tables = {name: t["rows"] - t["omitted_rows"] for name, t in totals.items()}
            summary = _utility(new.staged, Path(warehouse_path), specs, rules.min_n)
            _lap(options, started, "publication summary counted")
            _add_frames(
                new.staged,
                {
                    utility.UTILITY_TABLE: summary,
                    CATALOG_TABLE: _catalog(specs, _schemas(new.staged, list(tables))),
                    SNAPSHOT_TABLE: _snapshot_row(
                        new, manifest_ids, code_version, rules, dbt_manifest_path, tables
                    ),
                },
            )
            _refuse_identifiers(new.staged)
            _lap(options, started, "audited for identifiers")
            _export(new, plans, [*tables, CATALOG_TABLE, SNAPSHOT_TABLE, utility.UTILITY_TABLE])
            _lap(options, started, "Parquet and fingerprints written")
            store.commit(published_dir, new.version)
        finally:
            store.remove(new.chunks)
            store.remove(new.folder)
        store.prune(published_dir, options.keep)

    info = PublishInfo(
        snapshot_id=new.snapshot_id,
        version=new.version,
        published_at=new.published_at,
        path=published_dir / store.PUBLISHED_FILE,
        parquet_dir=published_dir / store.PARQUET_DIR,
        tables=tables,
        suppression=totals,
        seconds=time.monotonic() - started,
        notes=[n for p in plans for n in p.note_lines()],
        utility=summary.to_dicts(),
    )
    log.info("published snapshot %s: %s rows by table", new.version, info.tables)
    return info
