"""Jobs and schedules a data engineer runs from the UI or the command line."""

from __future__ import annotations

import dagster as dg

from dagster_project.assets.edfi import EDFI_ASSETS, edfi_key
from dagster_project.assets.raw import raw_asset_key
from dagster_project.contracts import EXTRACTS, Family
from dagster_project.ingest.audit import automation_tags
from dagster_project.ingest.edfi.mapping import FAMILIES
from dagster_project.ingest.landing import landed_years
from dagster_project.partitions import school_years
from dagster_project.resources import SettingsParam

RAW = dg.AssetSelection.assets(*(raw_asset_key(e) for e in EXTRACTS))
EDFI = dg.AssetSelection.assets(*EDFI_ASSETS)
LABOR_MARKET = dg.AssetSelection.assets(
    *(raw_asset_key(e) for e in EXTRACTS if e.family is Family.LABOR_MARKET)
)

load_jobs = {
    e.name: dg.define_asset_job(
        f"load_{e.name}",
        selection=dg.AssetSelection.assets(raw_asset_key(e)),
        partitions_def=school_years,
        description=f"Load {e.name} files for a school year (config: paths, district, reload)",
    )
    for e in EXTRACTS
}

# One pull job per Ed-Fi resource family (mapping.FAMILIES), load_edfi_<extract>. Their
# names start with load_ like the others': the marts are rebuilt after them too.
edfi_jobs = {
    name: dg.define_asset_job(
        f"load_edfi_{name}",
        selection=dg.AssetSelection.assets(edfi_key(family)),
        partitions_def=school_years,
        description=f"Pull {name} from Nova (Ed-Fi) for a school year: what changed",
    )
    for name, family in FAMILIES.items()
}

load_all_raw = dg.define_asset_job(
    "load_all_raw",
    selection=RAW,
    partitions_def=school_years,
    description="Load every new landed file of the selected school years (backfill-friendly)",
)

load_labor_market = dg.define_asset_job(
    "load_labor_market",
    selection=LABOR_MARKET,
    partitions_def=school_years,
    description="Load the state's labor-market files (OEWS, projections, wages, postsecondary)",
)

# A file landing alone (or an Ed-Fi pull): its load, the models that read its extract, the
# PED report and the publish in one run, so a resubmission waits for one run worker, not two
# (issue 19). The sensor picks the assets (`asset_selection`); the job holds every candidate.
load_and_publish = dg.define_asset_job(
    "load_and_publish",
    selection=(RAW | EDFI).downstream(),
    partitions_def=school_years,
    description="Load a landed file, rebuild the models that read its extract, then publish",
)

build_marts = dg.define_asset_job(
    "build_marts",
    # Every model, seed and check, including models that read only seeds, then publish.
    selection=dg.AssetSelection.all() - RAW - EDFI,
    description="dbt build (seeds, staging, intermediate, marts, tests), then publish",
)

nightly_marts = dg.ScheduleDefinition(
    name="nightly_marts",
    job=build_marts,
    cron_schedule="0 2 * * *",
    execution_timezone="America/Denver",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild and republish every night, whatever arrived during the day",
    tags=automation_tags("schedule:nightly_marts", "rebuild"),
)


@dg.schedule(
    name="quarterly_labor_market",
    job=load_labor_market,
    cron_schedule="0 3 1 1,4,7,10 *",
    execution_timezone="America/Denver",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each quarter, load labor-market files that arrived without a sensor run",
)
def quarterly_labor_market(context: dg.ScheduleEvaluationContext, settings: SettingsParam):
    landing_dir = settings.landing_dir
    known = set(context.instance.get_dynamic_partitions(school_years.name))
    labor_market = [e for e in EXTRACTS if e.family is Family.LABOR_MARKET]
    years = {str(year) for year in landed_years(landing_dir, labor_market)}
    quarter = context.scheduled_execution_time.strftime("%Y-%m")
    return [
        dg.RunRequest(
            run_key=f"{quarter}-{year}",
            partition_key=year,
            tags=automation_tags("schedule:quarterly_labor_market", "load"),
        )
        for year in sorted(years & known)
    ]


jobs = [
    *load_jobs.values(),
    *edfi_jobs.values(),
    load_all_raw,
    load_labor_market,
    load_and_publish,
    build_marts,
]
schedules = [nightly_marts, quarterly_labor_market]
