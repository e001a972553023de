"""One asset per extract: its landed files loaded into raw.<extract>, per school year.

A run loads either the files a sensor names (``paths``) or, for a backfill or a manual
materialization, every landed file of the selected years not loaded yet. The checks are the
quality gate's (quality/gate.py: what they test, which ones block), computed from what the
warehouse holds after the load, per submission, so their cost grows with the file and not
with the warehouse.
"""

import warnings
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_project.contracts import EXTRACTS, Extract
from dagster_project.ingest.audit import SEEN, write_recorded_files
from dagster_project.ingest.hold import HoldRules
from dagster_project.ingest.landing import (
    FileNameError,
    display_name,
    list_landed,
    parse_file_name,
    relative_name,
    sha256_of,
)
from dagster_project.ingest.loader import FileOutcome, Loader
from dagster_project.ingest.reasons import Status
from dagster_project.partitions import school_years
from dagster_project.quality.data_docs import publish_data_docs
from dagster_project.quality.gate import LOAD_CHECKS, load_check_outcomes
from dagster_project.resources import SettingsParam, WarehouseResource


class LoadConfig(dg.Config):
    paths: list[str] = Field(
        default=[], description="Landed files to load (the sensor sets this); empty = all new"
    )
    district: str | None = Field(
        default=None, description="Only this district's submissions (three digits)"
    )
    reload: bool = Field(
        default=False,
        description="Read the latest submission of each selected slice again, even if loaded",
    )


def raw_asset_key(extract: Extract) -> dg.AssetKey:
    return dg.AssetKey(["raw", extract.name])


def select_files(
    extract: Extract, landing_dir: Path, years: set[int], config: LoadConfig, recorded: set[str]
) -> dict[Path, str | None]:
    """The files a run should read, each with its SHA-256 when choosing it took one (the
    loader hashes the others). ``recorded`` holds 'path|sha256' already in the manifest.

    Without paths (`cte run`, a backfill): every new file of the years, and every new file
    whose name is not the contract's (it has no year; read to be recorded as rejected, with
    the reason, unless the run is for one district's submissions)."""
    if config.paths:
        return {
            found: None
            for p in config.paths
            for found in resolve_path(Path(p) if Path(p).is_absolute() else landing_dir / p)
        }
    chosen: dict[Path, str | None] = {}

    def choose_if_new(path: Path) -> None:  # hashed only for files the run may read
        sha256 = sha256_of(path)
        if f"{relative_name(path, landing_dir)}|{sha256}" not in recorded:
            chosen[path] = sha256

    latest: dict[tuple, tuple] = {}
    for path in list_landed(landing_dir, extract):
        try:
            landed = parse_file_name(path)
        except FileNameError:
            if not config.district and not config.reload:
                choose_if_new(path)
            continue
        if landed.year not in years or (config.district and landed.district != config.district):
            continue
        if config.reload:
            best = latest.get(landed.slice_key)
            if best is None or best[0] < landed.submitted_at:
                latest[landed.slice_key] = (landed.submitted_at, path)
        else:
            choose_if_new(path)
    return chosen | {p: None for _, p in latest.values()}


def resolve_path(path: Path) -> list[Path]:
    """The landed file(s) a run's path names. The sensor names a file whose name is not valid
    UTF-8 by its printable form (U+FFFD for each bad byte): that is matched in the folder."""
    if path.exists() or not path.parent.is_dir():
        return [path]
    matches = [p for p in path.parent.iterdir() if display_name(Path(p.name)) == path.name]
    return matches or [path]


def summary(outcomes: list[FileOutcome]) -> dict[str, dg.MetadataValue]:
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status.value] = by_status.get(o.status.value, 0) + 1
    loaded = [o for o in outcomes if o.status is Status.LOADED]
    problems = [
        f"{o.file_name}: {o.status.value} {o.reason_code or ''} {o.error_message or ''}".strip()
        for o in outcomes
        if o.status is not Status.LOADED
    ]
    held = [o for o in outcomes if o.status is Status.HELD]
    return {
        "files": dg.MetadataValue.int(len(outcomes)),
        "files_by_status": dg.MetadataValue.json(by_status),
        "rows_read": dg.MetadataValue.int(sum(o.rows_read or 0 for o in loaded)),
        "rows_loaded": dg.MetadataValue.int(sum(o.rows_loaded or 0 for o in loaded)),
        "rows_quarantined": dg.MetadataValue.int(sum(o.rows_quarantined or 0 for o in loaded)),
        "not_loaded": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        "files_held": dg.MetadataValue.int(len(held)),
    }


def load_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The quality gate's load checks on the asset ``key`` (an extract's, or the Ed-Fi
    pull's); ``blocking``: a failure fails the load run (quality/gate.py)."""
    return [
        dg.AssetCheckSpec(c.name, asset=key, blocking=c.blocks, description=c.description)
        for c in LOAD_CHECKS
    ]


def load_check_results(
    con, key: dg.AssetKey, outcomes: list[FileOutcome]
) -> list[dg.AssetCheckResult]:
    """The load checks' results for the files one run read."""
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=o.check.name,
            passed=o.passed,
            severity=dg.AssetCheckSeverity(o.check.severity),
            metadata=o.metadata,
        )
        for o in load_check_outcomes(con, outcomes)
    ]


def build_raw_asset(extract: Extract) -> dg.AssetsDefinition:
    key = raw_asset_key(extract)

    @dg.asset(
        key=key,
        group_name=f"raw_{extract.family.value}",
        partitions_def=school_years,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "duckdb"},
        description=f"{extract.description} Landed files loaded into raw.{extract.name}.",
        check_specs=load_check_specs(key),
    )
    def _raw_asset(
        context: dg.AssetExecutionContext,
        config: LoadConfig,
        warehouse: WarehouseResource,
        settings: SettingsParam,
    ):
        landing_dir = settings.landing_dir
        years = {int(k) for k in context.partition_keys}
        with warehouse.connect() as con:
            recorded = {
                f"{p}|{s}"
                for p, s in con.execute(
                    "select path, sha256 from raw.load_manifest "
                    # A file whose name is not the contract's has no extract.
                    f"where coalesce(extract, ?) = ? and {SEEN}",
                    [extract.name, extract.name],
                ).fetchall()
            }
            selected = select_files(extract, landing_dir, years, config, recorded)
            context.log.info(f"{extract.name}: {len(selected)} file(s) to read for {sorted(years)}")
            loader = Loader(
                con,
                landing_dir,
                settings.pseudonym_key(),
                run_id=context.run.run_id,
                gzip_limits=settings.gzip_limits,
                hold_rules=HoldRules.from_settings(settings),
            )
            outcomes = loader.load(selected, reload=config.reload, sha256s=selected)
            for o in outcomes:
                if o.status is Status.HELD:
                    context.log.warning(f"{o.file_name} held: {o.error_message}")
            checks = load_check_results(con, key, outcomes)
            write_recorded_files(con, settings.recorded_files_path)
        if loader.validations:
            publish_data_docs(loader.validations, settings.reports_dir)
        timings = {f"seconds_{phase}": round(t, 3) for phase, t in loader.seconds.items()}
        yield dg.MaterializeResult(
            metadata=summary(outcomes) | timings | {"rows_validated": loader.rows_validated}
        )
        yield from checks

    return _raw_asset


# `backfill_policy` is a Dagster beta parameter (one run per backfill, decision 0003): its
# warning, once per extract at every import, said nothing a user can act on (issue 24).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    raw_assets = [build_raw_asset(e) for e in EXTRACTS]
