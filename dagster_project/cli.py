"""`cte`: the command line for the jobs a data engineer or analyst runs by hand.

    cte run                      sample data if none landed (development), then every asset once
    cte load EXTRACT YEAR [--district 012] [--reload [--by NAME]]
    cte pull [YEAR]              what changed in Nova (Ed-Fi) since the last pull
    cte prepare                  parse the dbt project (manifest for Dagster)
    cte rollback [--by NAME] [--note TEXT]   make the previous published snapshot current again
    cte review list | release ID | reject ID --by NAME --note TEXT
    cte review verify | certify DISTRICT YEAR --by NAME --note TEXT
    cte ui | sql | docs | status

Runs go through the same Dagster jobs as the UI, in process, recorded in the project's
Dagster instance (warehouse/dagster_home), so they show up in the UI's run history.
`main` reads the settings once and hands them to the command (decision 0034).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.ingest.audit import ACTION_TAG, ACTOR_TAG, Action, Step, os_user
from dagster_project.settings import (
    REPO_ROOT,
    Settings,
    default_landing_dir,
    disable_telemetry,
    get_settings,
)

if TYPE_CHECKING:
    from dagster_project.progress import RunProgress
    from dagster_project.quality.report import PageScope

INSTANCE_YAML = Path(__file__).parent / "instance" / "dagster.yaml"


def ensure_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != INSTANCE_YAML.read_bytes():
        shutil.copyfile(INSTANCE_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_prepare(_: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.dbt_project import prepare_manifest

    prepare_manifest(settings)


def _landed_years(settings: Settings) -> list[str]:
    from dagster_project.ingest.landing import landed_years

    return [str(y) for y in sorted(landed_years(settings.landing_dir))]


def _ensure_sample_data(settings: Settings, args: argparse.Namespace) -> None:
    """Sample data into an empty landing zone, only where development keeps it: a landing
    zone configured elsewhere (CTE_LANDING_DIR) is one real files are sent to, and generated
    files there would be loaded and published as theirs."""
    if _landed_years(settings):
        return
    if settings.landing_dir != default_landing_dir(settings.home):
        sys.exit(
            f"cte run: no extracts in {settings.landing_dir} (CTE_LANDING_DIR), and sample data "
            "is generated only into the development landing zone (raw/landing under CTE_HOME). "
            "Land the districts' files there first, or generate sample data on purpose: "
            "python -m dagster_project.sample_data --landing DIR."
        )
    from dagster_project.sample_data import generate

    print(f"No extracts in {settings.landing_dir}: generating '{args.scale}' sample data ...")
    generate(args.scale, years=args.years, seed=args.seed, landing_dir=settings.landing_dir)


def cmd_run(args: argparse.Namespace, settings: Settings) -> None:
    import dagster as dg
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    ensure_dagster_home(settings)
    _ensure_sample_data(settings, args)
    cmd_prepare(args, settings)
    from dagster_project.code_location import build_definitions
    from dagster_project.partitions import school_years
    from dagster_project.progress import RunProgress, new_log_path, output_to_file

    instance = dg.DagsterInstance.get()
    _fail_dead_runs(instance)
    years = _landed_years(settings)
    known = set(instance.get_dynamic_partitions(school_years.name))
    instance.add_dynamic_partitions(school_years.name, [y for y in years if y not in known])
    keys = instance.get_dynamic_partitions(school_years.name)
    started = time.monotonic()
    log_path = new_log_path(settings.logs_dir, "run")
    print(f"Full log (Dagster events, dbt, warnings): {log_path}")
    print(f"Loading school years {years[0]}..{years[-1]} ...")
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    tags |= action_tags("run", os_user())
    with output_to_file(log_path) as console:
        progress = RunProgress(console)
        results = run_load_then_build(build_definitions(settings), instance, tags, progress)
    from dagster_project.summary import print_summary

    print_summary(settings, time.monotonic() - started)
    _print_log_pointer(progress, log_path)
    if len(results) == 1:
        sys.exit(
            "Run failed in load_all_raw (marts not rebuilt, nothing published); "
            "see the Dagster UI (make ui) for details."
        )
    # Held files first: a held file's failed blocking check also fails the load job.
    _exit_unless_current(settings, results[0].run_id, "cte run")
    failed = [r.dagster_run.job_name for r in results if not r.success]
    if failed:
        sys.exit(f"Run failed in {', '.join(failed)}; see the Dagster UI (make ui) for details.")


def _load_crashed(load) -> bool:
    """A load step that raised, as opposed to one whose blocking quality check failed: the
    marts are still built then, and the publish gate keeps the previous snapshot and says
    which check blocked it."""
    if load.success:
        return False
    failures = [e for e in load.all_events if e.event_type_value == "STEP_FAILURE"]
    return any(
        getattr(e.step_failure_data.error, "cls_name", None) != "DagsterAssetCheckFailedError"
        for e in failures
    )


def run_load_then_build(
    defs, instance, tags: dict[str, str], progress: RunProgress | None = None
) -> list:
    """Load, then build and publish, but only after a load that succeeded.

    A load that fails part-way leaves some extracts and years unloaded: marts built on that
    would lose rows (issue 23: program_continuum 13,343 -> 8,822) and the publish would
    replace a whole snapshot with them. The previous snapshot stays instead."""
    from dagster_project.progress import execute_job

    say = progress.say if progress else print
    load = execute_job(
        defs.resolve_job_def("load_all_raw"),
        instance,
        progress,
        tags=tags | run_host_tag(),
        raise_on_error=False,
    )
    if _load_crashed(load):
        say("The load failed: the marts are not rebuilt and the published snapshot stays.")
        return [load]
    say("Building marts (dbt build) and publishing ...")
    who = {k: v for k, v in tags.items() if k in (ACTOR_TAG, ACTION_TAG)}
    marts = execute_job(
        defs.resolve_job_def("build_marts"),
        instance,
        progress,
        tags=run_host_tag() | who,
        raise_on_error=False,
    )
    return [load, marts]


def _print_log_pointer(progress: RunProgress, log_path: Path) -> None:
    repeats = progress.repeats()
    if repeats:
        print(f"\n{repeats} more warning(s) like those above are in the log.")
    print(f"Full log: {log_path}")


def _exit_unless_current(settings: Settings, run_id: str, command: str) -> None:
    """Exit non-zero, with a one-line summary, unless every file read became current."""
    from dagster_project.summary import load_outcome

    line, all_current = load_outcome(settings, run_id)
    if not all_current:
        sys.exit(f"{command}: {line}. See warehouse/reports/dq/index.html; `cte review list`.")
    print(f"{command}: {line}")


def cmd_load(args: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.contracts import get_extract

    extract = get_extract(args.extract)
    _exit_unless_landed(settings, extract, args.year, args.district)
    config = {"district": args.district, "reload": args.reload}
    action = Action.RELOAD if args.reload else None
    _run_load(
        settings,
        f"load_{extract.name}",
        args.year,
        {"ops": {f"raw__{extract.name}": {"config": config}}},
        "cte load",
        Step(action, args.by, None, args.district, args.year, extract.name) if action else None,
        district=args.district,
    )


def cmd_pull(args: argparse.Namespace, settings: Settings) -> None:
    """Pull an extract's resources (student_enrollment unless --extract says) from Nova
    (Ed-Fi) for a school year, as the sensor does."""
    from dagster_project.assets.edfi import NOT_CONFIGURED
    from dagster_project.sensors import current_school_year

    if settings.edfi is None:
        sys.exit(f"cte pull: {NOT_CONFIGURED}")
    year = args.year or settings.edfi.school_year or current_school_year()
    _run_load(settings, f"load_edfi_{args.extract}", year, {}, "cte pull")


def action_tags(action: str, actor: str) -> dict[str, str]:
    """The run tags saying who launched a run, and what for: run, load, reload, pull
    (decision 0023)."""
    return {ACTOR_TAG: actor, ACTION_TAG: action}


def _run_load(
    settings: Settings,
    job_name: str,
    year: int,
    run_config: dict,
    command: str,
    audit: Step | None = None,
    district: str | None = None,
) -> None:
    """Run a load job for a school year in process, with its log, its metadata printed and
    the exit status of `_exit_unless_current`. ``audit``: the step to add to the audit trail
    once the run ended, with its run id and outcome (a reload). The report's pages of the
    year (of ``district`` only, when given) are rewritten before it returns."""
    import dagster as dg

    ensure_dagster_home(settings)
    cmd_prepare(None, settings)
    from dagster_project.code_location import build_definitions
    from dagster_project.partitions import school_years
    from dagster_project.progress import RunProgress, execute_job, new_log_path, output_to_file

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    _fail_dead_runs(instance)
    if str(year) not in instance.get_dynamic_partitions(school_years.name):
        instance.add_dynamic_partitions(school_years.name, [str(year)])
    log_path = new_log_path(settings.logs_dir, "load")
    with output_to_file(log_path) as console:
        progress = RunProgress(console)
        result = execute_job(
            defs.resolve_job_def(job_name),
            instance,
            progress,
            partition_key=str(year),
            run_config=run_config,
            tags=run_host_tag()
            | action_tags(
                audit.action.lower() if audit else command.removeprefix("cte "),
                audit.actor if audit else os_user(),
            ),
            raise_on_error=False,
        )
    if audit is not None:
        _record(settings, replace(audit, run_id=result.run_id, detail=_run_outcome(result)))
    else:
        _refresh_report(settings, _scopes(year, district), result.run_id)
    for event in result.get_asset_materialization_events():
        for key, value in event.materialization.metadata.items():
            print(f"{key}: {value.value}")
    _print_log_pointer(progress, log_path)
    if not result.success:
        sys.exit(f"{command.removeprefix('cte ')} failed; see the Dagster UI (make ui)")
    _exit_unless_current(settings, result.run_id, command)


def _run_outcome(result) -> str:
    return "the run succeeded" if result.success else "the run failed"


def _record(settings: Settings, step: Step) -> None:
    """Add a step to the audit trail (audit.actions); the report shows it."""
    from dagster_project.ingest.audit import record_action
    from dagster_project.quality.report import refresh_report
    from dagster_project.warehouse import connect, ensure_schema

    with connect(settings.warehouse_path, wait_seconds=120) as con:
        ensure_schema(con)
        record_action(con, step)
        # A step of no school year (a rollback) shows on the index only.
        scopes = _scopes(step.school_year, step.district_code) if step.school_year else []
        refresh_report(con, settings.reports_dir, step.run_id, scopes)


def _scopes(year: int, district: str | None) -> list[PageScope]:
    from dagster_project.quality.report import PageScope

    return [PageScope(year, district)]


def _refresh_report(settings: Settings, scopes: list[PageScope], run_id: str | None = None) -> Path:
    """Rewrite the PED report's pages a command changed (a load, a review, a rollback) and
    the index, so the page the command points to is current; return the index."""
    from dagster_project.quality.report import refresh_report
    from dagster_project.warehouse import connect, ensure_schema

    with connect(settings.warehouse_path, wait_seconds=120) as con:
        ensure_schema(con)
        return refresh_report(con, settings.reports_dir, run_id, scopes)[1]


def _exit_unless_landed(settings: Settings, extract, year: int, district: str | None) -> None:
    """A slice with no landed file at all is a mistyped district or year, not an empty
    success (issue 24: the README's `--district 012` read "0 file(s)" and exited 0)."""
    from dagster_project.assets.raw import LoadConfig, select_files
    from dagster_project.ingest.landing import parse_file_name

    config = LoadConfig(district=district, reload=True)
    if select_files(extract, settings.landing_dir, {year}, config, recorded=set()):
        return
    landed = select_files(extract, settings.landing_dir, {year}, LoadConfig(reload=True), set())
    districts = sorted({parse_file_name(p).district for p in landed})
    which = f"{extract.name} {year}" + (f" district {district}" if district else "")
    sys.exit(
        f"cte load: no landed file for {which} under {settings.landing_dir}; nothing run. "
        f"Districts with a {year} file: {', '.join(districts) or 'none'}."
    )


def cmd_review(args: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.warehouse import connect, ensure_schema

    with connect(settings.warehouse_path, wait_seconds=120) as con:
        ensure_schema(con)
        if args.action == "list":
            _list_held(con)
        elif args.action in ("release", "reject"):
            _review_held(con, settings, args)
        else:
            _review_district_year(con, settings, args)


def _list_held(con) -> None:
    from dagster_project.ingest.hold import held_submissions

    held = held_submissions(con)
    for manifest_id, name, read, loaded, why in held:
        print(f"{manifest_id}  {name}  {loaded:,} of {read:,} rows  {why}")
    print(f"{len(held)} held submission(s)")


def _review_held(con, settings: Settings, args: argparse.Namespace) -> None:
    from dagster_project.ingest.hold import ReviewError, review
    from dagster_project.quality.report import refresh_report

    if len(args.target) != 1 or not args.target[0].isdigit() or not args.by or not args.note:
        sys.exit(f"cte review {args.action}: needs MANIFEST_ID, --by NAME and --note TEXT")
    try:
        decision = review(con, int(args.target[0]), args.action == "release", args.by, args.note)
    except ReviewError as error:
        sys.exit(f"cte review {args.action}: {error}; nothing changed")
    [(district, year)] = con.execute(
        "select district_code, school_year from raw.load_manifest where manifest_id = ?",
        [decision.manifest_id],
    ).fetchall()
    refresh_report(con, settings.reports_dir, scopes=_scopes(year, district))
    if decision.decision == "RELEASE":
        replaced = ", ".join(map(str, decision.replaced)) or "none"
        print(
            f"released {decision.file_name} (manifest {decision.manifest_id}): now current, "
            f"replacing manifest {replaced}. The next build (`cte run`, build_marts in the UI, "
            "or nightly) publishes it."
        )
    else:
        print(f"rejected {decision.file_name} (manifest {decision.manifest_id}); its rows deleted")


def _review_district_year(con, settings: Settings, args: argparse.Namespace) -> None:
    """Verify or certify a district's school year, then rebuild the report that shows it."""
    from dagster_project.quality.certification import CertificationError, ReviewStep, record
    from dagster_project.quality.report import page_of, refresh_report

    usage = f"cte review {args.action}: needs DISTRICT YEAR, --by NAME and --note TEXT"
    if len(args.target) != 2 or not args.target[1].isdigit() or not args.by or not args.note:
        sys.exit(usage)
    district, year = args.target[0], int(args.target[1])
    page = page_of(con, district, year)
    try:
        record(
            con,
            district,
            year,
            ReviewStep(args.action.upper()),
            args.by,
            args.note,
            needs_action=None if page is None else page.needs_action,
        )
    except CertificationError as error:
        sys.exit(f"cte review {args.action}: {error}; nothing changed")
    index = refresh_report(con, settings.reports_dir, scopes=_scopes(year, district))[1]
    print(f"{args.action} recorded for district {district} {year}; report: {index}")


def _refresh_recorded_files(settings: Settings) -> None:
    """A warehouse loaded before the sensors read the recorded-files list gets one now, so
    the sensors' first tick does not replay what is loaded."""
    import duckdb

    from dagster_project.ingest.audit import write_recorded_files
    from dagster_project.warehouse import connect

    if not settings.warehouse_path.exists():
        return
    try:
        with connect(settings.warehouse_path, read_only=True, wait_seconds=5) as con:
            write_recorded_files(con, settings.recorded_files_path)
    except duckdb.Error:
        pass  # a run holds the warehouse: it writes the list itself when its load ends


def run_host_tag() -> dict[str, str]:
    import socket

    from dagster_project.run_health import HOST_TAG

    return {HOST_TAG: socket.gethostname()}


def _fail_dead_runs(instance) -> None:
    """A killed earlier `cte run` must not leave its run STARTED (and the UI's queue stuck)."""
    from dagster_project.run_health import fail_dead_runs

    for run_id in fail_dead_runs(instance):
        print(f"Run {run_id} had died (killed or crashed); marked failed.")


def ui_command(port: int = 3000) -> list[str]:
    """The Dagster UI (webserver, daemon, code server) on 127.0.0.1:PORT.

    `dg dev`, Dagster 1.13's command (`dagster dev` is superseded), reads pyproject.toml's
    [tool.dg.project]: the code location is named nm_cte, not after its module. The
    instance (dagster.yaml) turns off telemetry and the first-run community prompt."""
    dg = Path(sys.executable).parent / "dg"
    return [
        str(dg),
        "dev",
        "--target-path",
        str(REPO_ROOT),
        "--no-check-yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def cmd_ui(args: argparse.Namespace, settings: Settings) -> None:
    ensure_dagster_home(settings)
    _refresh_recorded_files(settings)
    command = ui_command(args.port)
    os.execv(command[0], command)


def cmd_sql(_: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.publish.sql_prompt import open_sql_prompt

    open_sql_prompt(settings.published_path)


def cmd_docs(_: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.dbt_project import run_dbt

    run_dbt(settings, "docs", "generate")
    run_dbt(settings, "docs", "serve", "--host", "127.0.0.1", "--port", "8080", "--no-browser")


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> None:
    import duckdb

    from dagster_project.publish import PublishError, rollback
    from dagster_project.publish.store import VERSIONS_DIR

    published_dir = settings.published_dir
    try:
        result = rollback(published_dir)
    except PublishError as error:
        sys.exit(f"cte rollback: {error}; nothing changed")
    print(f"current:   {result.current}")
    print(f"withdrawn: {result.withdrawn} (removed from {published_dir / VERSIONS_DIR})")
    detail = f"current: {result.current}; withdrawn: {result.withdrawn}"
    try:
        _record(settings, Step(Action.ROLLBACK, args.by, args.note, detail=detail))
    except duckdb.IOException:
        sys.exit(
            f"cte rollback: rolled back ({detail}), but the audit trail could not be written: "
            "the warehouse stayed locked by a run"
        )


def cmd_status(_: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.summary import print_summary

    print_summary(settings, None)


def main(argv: list[str] | None = None) -> None:
    disable_telemetry()
    os.chdir(REPO_ROOT)
    parser = argparse.ArgumentParser(
        prog="cte", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(required=True)
    run = sub.add_parser(
        "run", help="sample data if none landed (development), then run every asset once"
    )
    run.add_argument("--scale", default="sample", choices=["tiny", "sample", "state", "large"])
    run.add_argument("--years", type=int, default=3)
    run.add_argument("--seed", type=int, default=7)
    run.set_defaults(func=cmd_run)
    load = sub.add_parser("load", help="load (or reload) one extract's slice")
    load.add_argument("extract")
    load.add_argument("year", type=int)
    load.add_argument("--district", help="three-digit district code")
    load.add_argument(
        "--reload",
        action="store_true",
        help="read the latest submission again even if already loaded",
    )
    load.add_argument("--by", default=os_user(), help="who reloads (default: the OS user)")
    load.set_defaults(func=cmd_load)
    pull = sub.add_parser(
        "pull", help="pull an extract from Nova (Ed-Fi): what changed (CTE_EDFI_URL)"
    )
    pull.add_argument(
        "year", type=int, nargs="?", help="school year (default: CTE_EDFI_SCHOOL_YEAR)"
    )
    from dagster_project.ingest.edfi.mapping import FAMILIES

    pull.add_argument(
        "--extract",
        choices=tuple(FAMILIES),
        default="student_enrollment",
        help="the extract whose Ed-Fi resources to pull (default: student_enrollment)",
    )
    pull.set_defaults(func=cmd_pull)
    reviewing = sub.add_parser(
        "review",
        help="list held submissions, release or reject one, verify or certify a district's "
        "school year (recorded in audit)",
    )
    reviewing.add_argument("action", choices=["list", "release", "reject", "verify", "certify"])
    reviewing.add_argument(
        "target", nargs="*", help="MANIFEST_ID (release, reject) or DISTRICT YEAR (verify, certify)"
    )
    reviewing.add_argument("--by", help="the reviewer's name")
    reviewing.add_argument("--note", help="why (kept in the audit tables)")
    reviewing.set_defaults(func=cmd_review)
    ui = sub.add_parser("ui", help="Dagster UI on http://127.0.0.1:3000 (sensors, schedules)")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    for name, func, text in (
        ("prepare", cmd_prepare, "parse the dbt project into target/manifest.json"),
        ("sql", cmd_sql, "read-only SQL prompt on the published snapshot"),
        ("docs", cmd_docs, "dbt docs on http://127.0.0.1:8080"),
        ("status", cmd_status, "what is loaded, built and published"),
    ):
        sub.add_parser(name, help=text).set_defaults(func=func)
    rolling = sub.add_parser("rollback", help="make the previous published snapshot current again")
    rolling.add_argument("--by", default=os_user(), help="who rolls back (default: the OS user)")
    rolling.add_argument("--note", help="why (kept in the audit trail)")
    rolling.set_defaults(func=cmd_rollback)
    args = parser.parse_args(argv)
    # The command's one read of the environment (after the chdir: a relative CTE_HOME is
    # taken from the repository, as it always was).
    args.func(args, get_settings())


if __name__ == "__main__":
    main()
