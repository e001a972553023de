"""One asset per extract: its landed files loaded into raw.<extract>, per school year.

A run loads either the files a sensor names (``paths``) or, for a backfill or a manual
materialization, every landed file of the selected years not loaded yet. The checks are
computed from what the warehouse holds after the load, per submission, so their cost grows
with the file and not with the warehouse.
"""

import warnings
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_project.contracts import EXTRACTS, Extract
from dagster_project.ingest.audit import SEEN, reconcile, write_recorded_files
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
from dagster_project.resources import WarehouseResource
from dagster_project.settings import get_settings, pseudonym_key

ROWS_RECONCILE = "rows_reconcile"
EXPECTATIONS_ERROR = "expectations_error"
EXPECTATIONS_WARN = "expectations_warn"
SUBMISSIONS_CURRENT = "submissions_current"


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
) -> list[Path]:
    """The files a run should read. ``recorded`` holds 'path|sha256' already in the manifest.

    Without paths (`cte run`, a backfill): every new file of the years, and every new file
    whose name is not the contract's (it has no year; read to be recorded as rejected, with
    the reason, unless the run is for one district's submissions)."""
    if config.paths:
        return [
            found
            for p in config.paths
            for found in resolve_path(Path(p) if Path(p).is_absolute() else landing_dir / p)
        ]

    def is_new(path: Path) -> bool:  # hashed only for files the run may read
        return f"{relative_name(path, landing_dir)}|{sha256_of(path)}" not in recorded

    latest: dict[tuple, tuple] = {}
    chosen = []
    for path in list_landed(landing_dir, extract):
        try:
            landed = parse_file_name(path)
        except FileNameError:
            if not config.district and not config.reload and is_new(path):
                chosen.append(path)
            continue
        if landed.year not in years or (config.district and landed.district != config.district):
            continue
        if config.reload:
            best = latest.get(landed.slice_key)
            if best is None or best[0] < landed.submitted_at:
                latest[landed.slice_key] = (landed.submitted_at, path)
        elif is_new(path):
            chosen.append(path)
    return chosen + [p for _, p in latest.values()]


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


def held_check(
    extract: Extract, outcomes: list[FileOutcome], key: dg.AssetKey | None = None
) -> dg.AssetCheckResult:
    """Fails when a file read was held: the run shows it in red, with the reasons."""
    held = [o for o in outcomes if o.status is Status.HELD]
    return dg.AssetCheckResult(
        asset_key=key or raw_asset_key(extract),
        check_name=SUBMISSIONS_CURRENT,
        passed=not held,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files_became_current": sum(o.status is Status.LOADED for o in outcomes),
            "held": [f"{o.file_name} (manifest {o.manifest_id}): {o.error_message}" for o in held],
        },
    )


def check_results(
    con, extract: Extract, manifest_ids: list[int], key: dg.AssetKey | None = None
) -> list[dg.AssetCheckResult]:
    """The reconciliation and expectation checks of the submissions just stored; ``key``
    is the asset they belong to (the extract's raw asset, or the Ed-Fi pull's)."""
    key = key or raw_asset_key(extract)
    balances = reconcile(con, manifest_ids)
    unbalanced = [b for b in balances if not b.balanced]
    results = [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=ROWS_RECONCILE,
            passed=not unbalanced,
            metadata={
                "files_checked": len(balances),
                "unbalanced": [
                    f"{b.file_name}: read {b.rows_read}, stored {b.rows_in_table}, "
                    f"quarantined {b.rows_in_quarantine}"
                    for b in unbalanced
                ],
            },
        )
    ]
    ids = ", ".join(map(str, manifest_ids)) or "null"
    for check_name, severity in (
        (EXPECTATIONS_ERROR, dg.AssetCheckSeverity.ERROR),
        (EXPECTATIONS_WARN, dg.AssetCheckSeverity.WARN),
    ):
        rows = con.execute(
            f"""
            select m.file_name, r.expectation, r.unexpected_count, r.description
            from audit.dq_results r join raw.load_manifest m using (manifest_id)
            where r.manifest_id in ({ids}) and r.severity = ? and not r.success
            order by 1, 2
            """,
            [severity.value],
        ).fetchall()
        evaluated = con.execute(
            f"select count(*) from audit.dq_results where manifest_id in ({ids}) and severity = ?",
            [severity.value],
        ).fetchall()[0][0]
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=check_name,
                passed=not rows,
                severity=severity,
                metadata={
                    "expectations_evaluated": evaluated,
                    "failed": [f"{f}: {e} ({n} rows) {d or ''}".strip() for f, e, n, d in rows],
                },
            )
        )
    return results


def build_raw_asset(extract: Extract) -> dg.AssetsDefinition:
    key = raw_asset_key(extract)

    @dg.asset(
        key=key,
        group_name=f"raw_{extract.family.value}",
        partitions_def=school_years,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "duckdb"},
        description=f"{extract.description} Landed files loaded into raw.{extract.name}.",
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_RECONCILE,
                asset=key,
                blocking=True,
                description="Rows read = rows stored + rows quarantined, for every file loaded",
            ),
            dg.AssetCheckSpec(
                EXPECTATIONS_ERROR,
                asset=key,
                blocking=True,
                description="Great Expectations ERROR expectations: a failure holds the file",
            ),
            dg.AssetCheckSpec(
                SUBMISSIONS_CURRENT,
                asset=key,
                description=(
                    "Every file read became current: none held (rows set aside, a blocking "
                    "check, a volume drop or lost leading zeros; `cte review` decides)"
                ),
            ),
            dg.AssetCheckSpec(
                EXPECTATIONS_WARN,
                asset=key,
                description="Great Expectations WARN expectations: reported to PED, not blocking",
            ),
        ],
    )
    def _raw_asset(
        context: dg.AssetExecutionContext, config: LoadConfig, warehouse: WarehouseResource
    ):
        landing_dir = Path(warehouse.landing_dir)
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
            paths = select_files(extract, landing_dir, years, config, recorded)
            context.log.info(f"{extract.name}: {len(paths)} file(s) to read for {sorted(years)}")
            loader = Loader(
                con,
                landing_dir,
                pseudonym_key(),
                run_id=context.run.run_id,
                gzip_limits=get_settings().gzip_limits,
            )
            outcomes = loader.load(paths, reload=config.reload)
            for o in outcomes:
                if o.status is Status.HELD:
                    context.log.warning(f"{o.file_name} held: {o.error_message}")
            stored = [o.manifest_id for o in outcomes if o.status in (Status.LOADED, Status.HELD)]
            checks = [*check_results(con, extract, stored), held_check(extract, outcomes)]
            write_recorded_files(con, get_settings().recorded_files_path)
        if loader.validations:
            publish_data_docs(loader.validations, get_settings().reports_dir)
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
