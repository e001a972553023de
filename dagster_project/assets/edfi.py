"""The Ed-Fi door into the raw tables: a pull from Nova per resource family and school year
(decision 0022), one asset each (``mapping.FAMILIES``: student_enrollment;
cte_course_enrollment; credential_attainment; assessment_results). The pull
derives each changed district's submission and loads it with the same loader as a landed
file, so the raw asset's checks apply to it as they are."""

import dagster as dg

from dagster_project.assets.raw import load_check_results, load_check_specs, summary
from dagster_project.ingest.audit import write_recorded_files
from dagster_project.ingest.edfi.client import EdFiClient
from dagster_project.ingest.edfi.mapping import FAMILIES, ResourceFamily
from dagster_project.ingest.edfi.pull import PullResult, pull_school_year
from dagster_project.ingest.hold import HoldRules
from dagster_project.ingest.loader import Loader
from dagster_project.partitions import school_years
from dagster_project.quality.data_docs import publish_data_docs
from dagster_project.resources import SettingsParam, WarehouseResource


def edfi_key(family: ResourceFamily) -> dg.AssetKey:
    return dg.AssetKey(["edfi", family.extract.name])


ASSOCIATIONS_PLACED = "associations_placed"
NOT_CONFIGURED = (
    "Ed-Fi is not configured: set CTE_EDFI_URL, CTE_EDFI_CLIENT_ID and CTE_EDFI_CLIENT_SECRET "
    "(and CTE_EDFI_SCHOOL_YEAR for another year than the current one)"
)


def _placement_check(result: PullResult) -> dg.AssetCheckResult:
    """Every association read is in a district's submission, of another year, or unplaced
    with a reason; fails when any is unplaced (a reason a district or Nova must fix)."""
    placement = result.placement
    unplaced = sum(placement.unplaced.values())
    return dg.AssetCheckResult(
        asset_key=edfi_key(result.family),
        check_name=ASSOCIATIONS_PLACED,
        passed=result.reconciles and not unplaced,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "associations": result.associations,
            "placed": placement.placed,
            "other_years": placement.other_years,
            "earlier_entries": placement.earlier_entries,
            "other_courses": placement.other_courses,
            "skipped": sum(placement.skipped.values()),
            "skipped_reasons": dict(placement.skipped),
            "unplaced": unplaced,
            "unplaced_reasons": dict(placement.unplaced),
            # student_enrollment: the program associations' flags (mapping.PROGRAM_FLAGS)
            "program_associations": {
                resource: {
                    "applied": use.applied,
                    "other_years": use.other_years,
                    "unplaced_reasons": dict(use.unplaced),
                }
                for resource, use in placement.programs.items()
            },
        },
    )


def _metadata(result: PullResult) -> dict[str, dg.MetadataValue]:
    window = result.window
    resources = result.family.resources
    return summary(result.outcomes) | {
        "change_versions": dg.MetadataValue.text(str(window) if window else "none new"),
        "records_read": dg.MetadataValue.json(
            {r: result.read[r] for r in resources} if window else {}
        ),
        "records_deleted": dg.MetadataValue.json(
            {r: result.deleted[r] for r in resources} if window else {}
        ),
    }


def build_edfi_asset(family: ResourceFamily) -> dg.AssetsDefinition:
    """The family's pull as a school-year-partitioned asset with the load's checks and
    ``associations_placed``."""
    key = edfi_key(family)
    extract = family.extract
    description = (
        f"{extract.name} pulled from Nova (Ed-Fi ODS/API): {family.about}, by change "
        f"version, loaded into raw.{extract.name} as each changed district's submission."
    )

    @dg.asset(
        key=key,
        group_name=f"raw_{extract.family.value}",
        partitions_def=school_years,
        kinds={"duckdb"},
        description=description,
        check_specs=[
            *load_check_specs(key),
            dg.AssetCheckSpec(
                ASSOCIATIONS_PLACED,
                asset=key,
                description=(
                    f"Every {family.spine} record read is in a district's submission (or of "
                    "another year)"
                ),
            ),
        ],
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: SettingsParam
    ):
        if settings.edfi is None:
            raise dg.Failure(NOT_CONFIGURED)
        year = int(context.partition_key)
        with warehouse.connect() as con, EdFiClient(settings.edfi, year) as client:
            loader = Loader(
                con,
                settings.landing_dir,
                settings.pseudonym_key(),
                run_id=context.run.run_id,
                gzip_limits=settings.gzip_limits,
                hold_rules=HoldRules.from_settings(settings),
            )
            result = pull_school_year(
                client, loader, settings.edfi_landing_dir, year, family=family
            )
            context.log.info(
                f"{extract.name} {year}: change versions {result.window or 'none new'}, "
                f"{len(result.outcomes)} district submission(s) changed"
            )
            checks = [*load_check_results(con, key, result.outcomes), _placement_check(result)]
            write_recorded_files(con, settings.recorded_files_path)
        if loader.validations:
            publish_data_docs(loader.validations, settings.reports_dir)
        yield dg.MaterializeResult(metadata=_metadata(result))
        yield from checks

    return _asset


# One asset per resource family (mapping.FAMILIES), keyed edfi/<extract>.
EDFI_ASSETS = {edfi_key(f): build_edfi_asset(f) for f in FAMILIES.values()}
