"""Event-driven loading: one sensor per extract watches its landing folder.

Each new file becomes one run, keyed by the file's SHA-256 and path, so a file is read once.
A file that lands alone (see `landed_alone`: marts published before, no load pending, no
other file arriving) gets one run that loads it, rebuilds the models reading its extract and
publishes (`load_and_publish`); files landing together each get a load run, and the last
load's success requests one `build_marts` (`rebuild_marts_after_loads`). The loader records
the same bytes under a second name as a duplicate (or loads them, when the first name was
rejected). The cursor is a high-water mark on the files' change time, so a restart does not
rescan the folder from the start. The landing and rebuild sensors never open the warehouse
(a run may hold DuckDB's single write lock); `record_run_failures` waits for it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from dagster_project.contracts import EXTRACTS, Extract
from dagster_project.ingest.audit import automation_tags, recorded_files
from dagster_project.ingest.edfi.client import EdFiClient, EdFiError
from dagster_project.ingest.landing import (
    FileNameError,
    display_name,
    list_landed,
    parse_file_name,
    relative_name,
    sha256_of,
)
from dagster_project.partitions import school_years
from dagster_project.privacy import scrub
from dagster_project.resources import SettingsParam
from dagster_project.run_health import fail_dead_runs
from dagster_project.warehouse import connect, ensure_schema

log = logging.getLogger(__name__)
# A file younger than this may still be being copied in; the next tick takes it.
SETTLE_SECONDS = 2.0
# Files changed in the landing zone this recently are arriving together (a burst).
BURST_SECONDS = 60.0
# The one-run path's job (jobs.load_and_publish) and the asset that publishes
# (assets/publish.py), named here so the sensors need not import the asset graph.
LOAD_AND_PUBLISH = "load_and_publish"
# Its name is also the actor of the pulls it requests. One sensor per Ed-Fi resource family.
EDFI_SENSOR = "edfi_student_enrollment_changed"


def edfi_sensor_name(extract: str) -> str:
    return f"edfi_{extract}_changed"


PUBLISHED_KEY = dg.AssetKey("published_snapshot")


def current_school_year(today: date | None = None) -> int:
    today = today or date.today()
    return today.year + 1 if today.month >= 7 else today.year


def new_files(folder_files: list[Path], cursor: str | None, now: float) -> tuple[list[Path], str]:
    """Files changed after the cursor's high-water mark, and the advanced cursor."""
    state = json.loads(cursor) if cursor else {"ctime_ns": 0, "names": []}
    mark, names_at_mark = state["ctime_ns"], set(state["names"])
    settled_before = int((now - SETTLE_SECONDS) * 1e9)
    fresh = []
    for path in folder_files:
        ctime = path.stat().st_ctime_ns
        if ctime > settled_before:
            continue
        if ctime > mark or (ctime == mark and path.name not in names_at_mark):
            fresh.append((ctime, path))
    if not fresh:
        return [], json.dumps(state)
    top = max(c for c, _ in fresh)
    at_top = {p.name for c, p in fresh if c == top} | (names_at_mark if top == mark else set())
    return [p for _, p in sorted(fresh)], json.dumps({"ctime_ns": top, "names": sorted(at_top)})


def build_landing_sensor(
    extract: Extract,
    job: dg.UnresolvedAssetJobDefinition,
    publish: LandAndPublish | None = None,
):
    sensor_name = f"{extract.name}_landed"

    @dg.sensor(
        name=sensor_name,
        jobs=[job, publish.job] if publish else [job],
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Loads each new file in raw/landing/{extract.family.value}/{extract.name}/",
    )
    def _sensor(context: dg.SensorEvaluationContext, settings: SettingsParam):
        landing_dir = settings.landing_dir
        files, cursor = new_files(list_landed(landing_dir, extract), context.cursor, time.time())
        known = set(context.instance.get_dynamic_partitions(school_years.name))
        # Files the manifest already holds (cte run, a backfill, the CLI) are never replayed.
        recorded = recorded_files(settings.recorded_files_path) if files else set()
        requests, years = [], set()
        for path in files:
            sha256, name = sha256_of(path), relative_name(path, landing_dir)
            if (sha256, name) in recorded:
                continue
            try:
                year = str(parse_file_name(path).year)
            except FileNameError:
                # Still one run: the loader records the file as rejected with the reason.
                year = str(current_school_year())
            years.add(year)
            requests.append(
                dg.RunRequest(
                    # Named: the sensor targets two jobs (this load and load_and_publish).
                    job_name=job.name,
                    run_key=f"{sha256}:{name}",
                    partition_key=year,
                    # A name that is not valid UTF-8 holds lone surrogates, which Dagster's
                    # run storage refuses (the tick failed, every tick): the run carries the
                    # printable name, and the load finds the file by it (raw.resolve_path).
                    run_config={"ops": {f"raw__{extract.name}": {"config": {"paths": [name]}}}},
                    tags={
                        "cte/file": display_name(Path(path.name)),
                        "cte/extract": extract.name,
                        # Run again if its process dies (instance run_retries): nothing of
                        # the file was written, and this sensor will not offer it again.
                        "dagster/max_retries": "2",
                    }
                    | automation_tags(f"sensor:{sensor_name}", "load"),
                )
            )
        if publish and len(requests) == 1 and landed_alone(context.instance, landing_dir):
            requests = [publish.request_for(requests[0])]
        new_years = sorted(years - known)
        return dg.SensorResult(
            run_requests=requests,
            cursor=cursor,
            dynamic_partitions_requests=[school_years.build_add_request(new_years)]
            if new_years
            else [],
        )

    return _sensor


@dataclass(frozen=True)
class LandAndPublish:
    """The one-run path of a file landing alone: `load_and_publish` with the extract's raw
    asset and everything downstream of it (the models reading it, the report, the publish)."""

    job: dg.UnresolvedAssetJobDefinition
    asset_keys: tuple[dg.AssetKey, ...]

    def request_for(self, load: dg.RunRequest) -> dg.RunRequest:
        return load.with_replaced_attrs(job_name=self.job.name, asset_selection=self.asset_keys)


def _loads_pending(instance: dg.DagsterInstance) -> bool:
    pending = instance.get_runs(filters=dg.RunsFilter(statuses=LOADS_PENDING))
    return any(r.job_name.startswith("load_") for r in pending)


def landed_alone(
    instance: dg.DagsterInstance, landing_dir: Path | None, now: float | None = None
) -> bool:
    """Whether this tick's one new file (or Ed-Fi pull) can load and publish in one run.

    Only onto marts built before: a subset build reads the models it does not rebuild (on a
    fresh warehouse they do not exist yet). Not while a load is queued or running, nor while
    other files are arriving (one changed in the landing zone in the last BURST_SECONDS: the
    sensors of other extracts tick apart, before each other's runs exist); then the last
    load's success rebuilds everything once (rebuild_marts_after_loads)."""
    if instance.get_latest_materialization_event(PUBLISHED_KEY) is None:
        return False
    if _loads_pending(instance):
        return False
    if landing_dir is None:
        return True
    arriving = ((now or time.time()) - BURST_SECONDS) * 1e9
    changed = [p for e in EXTRACTS for p in list_landed(landing_dir, e)]
    return sum(p.stat().st_ctime_ns > arriving for p in changed) <= 1


def change_request(
    cursor: str | None, year: int, newest: int, extract: str = "student_enrollment"
) -> tuple[dg.RunRequest | None, str]:
    """A pull of the extract's resources when the API's newest change version moved past the
    one last requested for the year; the cursor maps each school year to that version."""
    pulled = json.loads(cursor) if cursor else {}
    if pulled.get(str(year)) == newest:
        return None, json.dumps(pulled)
    pulled[str(year)] = newest
    request = dg.RunRequest(
        run_key=f"edfi-{extract}-{year}-{newest}",
        partition_key=str(year),
        tags={"cte/source": "edfi", "cte/change_version": str(newest), "dagster/max_retries": "2"}
        | automation_tags(f"sensor:{edfi_sensor_name(extract)}", "pull"),
    )
    return request, json.dumps(pulled, sort_keys=True)


def build_edfi_sensor(
    job: dg.UnresolvedAssetJobDefinition,
    publish: LandAndPublish | None = None,
    extract: str = "student_enrollment",
    configured: bool = False,
):
    """The pull of one resource family (``extract``) when Nova's newest change version moved.
    The change version is the ODS's, shared by all resources: each family's sensor requests
    its own pull, which finds nothing new in its resources when only others changed.
    ``configured``: whether the settings name an Ed-Fi API (the sensor then starts
    running); each tick reads them from the ``settings`` resource."""

    @dg.sensor(
        name=edfi_sensor_name(extract),
        jobs=[job, publish.job] if publish else [job],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING
        if configured
        else dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Polls Nova's availableChangeVersions and pulls {extract} when the newest "
            "change version moved (CTE_EDFI_URL, CTE_EDFI_CLIENT_ID, CTE_EDFI_CLIENT_SECRET)"
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, settings: SettingsParam):
        edfi = settings.edfi
        if edfi is None:
            return dg.SkipReason(
                "Ed-Fi is not configured (CTE_EDFI_URL, CTE_EDFI_CLIENT_ID, CTE_EDFI_CLIENT_SECRET)"
            )
        year = edfi.school_year or current_school_year()
        try:
            with EdFiClient(edfi, year, retries=0) as client:
                _, newest = client.available_change_versions()
        except EdFiError as exc:
            return dg.SkipReason(str(exc))  # names the route and status, no record's values
        request, cursor = change_request(context.cursor, year, newest, extract)
        if request is None:
            return dg.SkipReason(f"change version {newest} already pulled for {year}")
        if publish and landed_alone(context.instance, None):
            request = publish.request_for(request)  # a pull is a landing: one run
        else:
            request = request.with_replaced_attrs(job_name=job.name)  # two jobs: named
        known = set(context.instance.get_dynamic_partitions(school_years.name))
        return dg.SensorResult(
            run_requests=[request],
            cursor=cursor,
            dynamic_partitions_requests=[school_years.build_add_request([str(year)])]
            if str(year) not in known
            else [],
        )

    return _sensor


@dg.run_failure_sensor(
    name="record_run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run (run id, file, error) in audit.run_alerts and the log",
)
def record_run_failures(context: dg.RunFailureSensorContext, settings: SettingsParam):
    run = context.dagster_run
    # Our own errors never quote a file's values; a library's error might (decision 0009).
    error = scrub(context.failure_event.message or "")
    files = run.tags.get("cte/file", "")
    log.error("run %s (%s) failed: file=%s error=%s", run.run_id, run.job_name, files, error)
    with connect(settings.warehouse_path, wait_seconds=120) as con:
        ensure_schema(con)  # the first run of a fresh warehouse may be the one that failed
        con.execute(
            "insert into audit.run_alerts values (?, ?, ?, ?, now())",
            [run.run_id, run.job_name, files, error],
        )


LOADS_PENDING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_rebuild_sensor(build_marts: dg.UnresolvedAssetJobDefinition):
    sensor_name = "rebuild_marts_after_loads"

    @dg.run_status_sensor(
        name=sensor_name,
        run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=build_marts,
        default_status=dg.DefaultSensorStatus.RUNNING,
        # It reads only the run list: cheap to ask often, and every resubmission waits on it.
        minimum_interval_seconds=2,
        description="After the last of a burst of loads succeeds: one full dbt build and publish",
    )
    def _sensor(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not run.job_name.startswith("load_"):
            return dg.SkipReason(f"{run.job_name} is not a load")
        if run.job_name == LOAD_AND_PUBLISH and PUBLISHED_KEY in (
            run.asset_selection or {PUBLISHED_KEY}  # none: the whole job ran
        ):
            return dg.SkipReason("the load published in its own run")
        if _loads_pending(context.instance):
            # The success of the last queued load requests the rebuild: one per burst.
            return dg.SkipReason("more loads are queued or running")
        return dg.RunRequest(
            run_key=f"after-{run.run_id}",
            tags=automation_tags(f"sensor:{sensor_name}", "rebuild"),
        )

    return _sensor


def build_sensors(
    load_jobs: dict[str, dg.UnresolvedAssetJobDefinition],
    build_marts: dg.UnresolvedAssetJobDefinition,
    publishes: dict[str, LandAndPublish],
    edfi_configured: bool,
    # Ed-Fi resource families (mapping.FAMILIES): extract -> (its pull job, its publish).
    edfi_families: dict[str, tuple[dg.UnresolvedAssetJobDefinition, LandAndPublish]] | None = None,
) -> list:
    landing = [build_landing_sensor(e, load_jobs[e.name], publishes[e.name]) for e in EXTRACTS]
    return [
        *landing,
        *(
            build_edfi_sensor(job, publish, extract, edfi_configured)
            for extract, (job, publish) in (edfi_families or {}).items()
        ),
        build_rebuild_sensor(build_marts),
        record_run_failures,
        fail_dead_runs_sensor,
    ]


@dg.sensor(
    name="fail_dead_runs",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose process was killed or crashed as failed, so the queue moves on",
)
def fail_dead_runs_sensor(context: dg.SensorEvaluationContext):
    healed = fail_dead_runs(context.instance)
    return dg.SkipReason(f"marked {len(healed)} dead run(s) failed" if healed else "none dead")
