"""Landing sensors: one run request per new file, keyed by SHA-256 and path; nothing for a
seen file; a file landing alone loads and publishes in one run."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.utils import make_new_run_id

from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import recorded_files
from dagster_project.ingest.landing import landing_path, relative_name, sha256_of
from dagster_project.sensors import (
    BURST_SECONDS,
    PUBLISHED_KEY,
    LandAndPublish,
    build_landing_sensor,
    build_rebuild_sensor,
    current_school_year,
    landed_alone,
    new_files,
)
from dagster_project.settings import get_settings

EXTRACT = get_extract("student_enrollment")
RAW_KEY = dg.AssetKey(["raw", "student_enrollment"])
LOAD = "load_student_enrollment"


def _land(settings, name: str, content: str = "x\n"):
    folder = landing_path(settings.landing_dir, EXTRACT)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content)
    return path


def _sensor(publish: LandAndPublish | None = None):
    job = dg.define_asset_job(LOAD, selection=["raw/student_enrollment"])
    return build_landing_sensor(EXTRACT, job, publish)


def _publish() -> LandAndPublish:
    job = dg.define_asset_job("load_and_publish", selection="*")
    return LandAndPublish(job, (RAW_KEY, PUBLISHED_KEY))


def _key(settings, path) -> str:
    return f"{sha256_of(path)}:{relative_name(path, settings.landing_dir)}"


def _tick(sensor, instance, cursor=None):
    # The settings of the test's home (cte_home), as the code location hands them down.
    resources = {"settings": get_settings()}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    return result, result.cursor


def test_one_request_per_new_file_and_none_for_seen_files(cte_home):
    a = _land(cte_home, "student_enrollment__001__2024__20240615T103000.csv", "a\n")
    b = _land(cte_home, "student_enrollment__012__2025__20250601T090000.csv", "b\n")
    time.sleep(2.1)  # files must settle (see SETTLE_SECONDS) before they are taken
    sensor = _sensor()
    with dg.instance_for_test() as instance:
        result, cursor = _tick(sensor, instance)
        assert [r.run_key for r in result.run_requests] == [_key(cte_home, a), _key(cte_home, b)]
        assert [r.partition_key for r in result.run_requests] == ["2024", "2025"]
        assert result.run_requests[0].tags["cte/file"] == a.name
        # No person launched it: the history names the sensor that did, and what for.
        assert result.run_requests[0].tags["cte/actor"] == "sensor:student_enrollment_landed"
        assert result.run_requests[0].tags["cte/action"] == "load"
        added = result.dynamic_partitions_requests[0].partition_keys
        assert sorted(added) == ["2024", "2025"]
        # nothing new: no request, even though the folder is listed again
        again, cursor = _tick(sensor, instance, cursor)
        assert again.run_requests == []
        # a resubmission for the same slice is a new file: one request
        c = _land(cte_home, "student_enrollment__012__2025__20250602T090000.csv", "c\n")
        time.sleep(2.1)
        third, _ = _tick(sensor, instance, cursor)
        assert [r.run_key for r in third.run_requests] == [_key(cte_home, c)]


def test_a_file_still_being_written_waits_for_the_next_tick(cte_home):
    path = _land(cte_home, "student_enrollment__001__2024__20240615T103000.csv")
    files, cursor = new_files([path], None, now=time.time())
    assert files == []  # its ctime is now: not settled yet
    files, _ = new_files([path], cursor, now=time.time() + 5)
    assert files == [path]


def test_badly_named_file_still_gets_a_run_so_it_is_recorded(cte_home):
    _land(cte_home, "enrollment final (2).csv")
    time.sleep(2.1)
    with dg.instance_for_test() as instance:
        result, _ = _tick(_sensor(), instance)
    assert len(result.run_requests) == 1
    assert result.run_requests[0].partition_key == str(current_school_year())


def test_a_failed_run_is_recorded_as_an_alert(cte_home):
    import duckdb

    from dagster_project.sensors import record_run_failures

    @dg.op
    def explode():
        raise RuntimeError("the extract is broken")

    @dg.job(tags={"cte/file": "student_enrollment__001__2024__20240615T103000.csv"})
    def failing_job():
        explode()

    with dg.instance_for_test() as instance:
        result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="record_run_failures",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"settings": cte_home},
        ).for_run_failure()
        record_run_failures(context)
    with duckdb.connect(str(cte_home.warehouse_path), read_only=True) as con:
        rows = con.execute("select run_id, job_name, files from audit.run_alerts").fetchall()
    assert rows == [
        (result.run_id, "failing_job", "student_enrollment__001__2024__20240615T103000.csv")
    ]


def test_a_non_utf8_file_name_is_recorded_as_rejected_not_a_failing_tick(cte_home):
    """A Latin-1 byte in a name (a Windows share) made the sensor fail on every tick."""
    import os

    import duckdb

    from dagster_project.assets.raw import build_raw_asset
    from dagster_project.resources import resources_for

    folder = landing_path(cte_home.landing_dir, EXTRACT)
    folder.mkdir(parents=True, exist_ok=True)
    raw_name = b"student_enrollment__001__2024__20240615T103000_Pe\xf1a.csv"
    with open(os.fsencode(folder) + b"/" + raw_name, "wb") as fh:
        fh.write(b"student_id\n123456789\n")
    time.sleep(2.1)
    with dg.instance_for_test() as instance:
        result, cursor = _tick(_sensor(), instance)
        [request] = result.run_requests
        assert request.tags["cte/file"].encode("utf-8")  # storable: no lone surrogate
        instance.add_dynamic_partitions("school_year", [request.partition_key])
        # The resources of this test's home (defs may have been imported under another).
        run = dg.materialize(
            [build_raw_asset(EXTRACT)],
            resources=resources_for(cte_home),
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
            raise_on_error=False,
        )
        assert run.success
        again, _ = _tick(_sensor(), instance, cursor)
        assert again.run_requests == []  # the next tick is quiet, not an error
    with duckdb.connect(str(cte_home.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select file_name, status, reason_code, error_message from raw.load_manifest"
        )
        [(name, status, reason, message)] = rows.fetchall()
    assert (status, reason) == ("REJECTED", "BAD_FILE_NAME")
    assert name == "student_enrollment__001__2024__20240615T103000_Pe\ufffda.csv"
    assert "not valid UTF-8" in message


def test_a_file_the_manifest_holds_is_never_queued(cte_home):
    """Files loaded outside the sensor (`cte run`, a backfill, `cte load`) are in the manifest:
    the first tick after them, like the first `make ui` after `make run`, queues nothing."""
    from dagster_project.assets.raw import build_raw_asset
    from dagster_project.partitions import school_years
    from dagster_project.resources import resources_for

    header = ",".join(EXTRACT.column_names)
    loaded = _land(cte_home, "student_enrollment__001__2024__20240615T103000.csv", f"{header}\n")
    unreadable = _land(cte_home, "student_enrollment__002__2024__20240615T103000.csv", "")
    time.sleep(2.1)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(school_years.name, ["2024"])
        # A backfill of 2024, as `cte run` does it: every landed file of the year, no paths.
        run = dg.materialize(
            [build_raw_asset(EXTRACT)],
            instance=instance,
            partition_key="2024",
            resources=resources_for(cte_home),
        )
        assert run.success
        first, cursor = _tick(_sensor(), instance)
        assert first.run_requests == []
        # Same bytes under a new name: a run, which records it as a duplicate.
        copy = _land(cte_home, "student_enrollment__001__2024__20240616T103000.csv", f"{header}\n")
        # New bytes: one run, as before.
        fresh = _land(cte_home, "student_enrollment__003__2024__20240615T103000.csv", "new\n")
        time.sleep(2.1)
        second, _ = _tick(_sensor(), instance, cursor)
    assert [r.run_key for r in second.run_requests] == [_key(cte_home, copy), _key(cte_home, fresh)]
    assert sha256_of(copy) == sha256_of(loaded) != sha256_of(unreadable)
    assert recorded_files(cte_home.recorded_files_path) == {
        (sha256_of(p), relative_name(p, cte_home.landing_dir)) for p in (loaded, unreadable)
    }


def test_a_file_landing_alone_loads_and_publishes_in_one_run(cte_home):
    """A resubmission waits for one run worker: its load, the models and the publish are one
    run (issue 19); files landing together stay loads, and the last one's success rebuilds."""
    a = _land(cte_home, "student_enrollment__001__2024__20240615T103000.csv", "a\n")
    time.sleep(2.1)
    sensor = _sensor(_publish())
    with dg.instance_for_test() as instance:
        first, _ = _tick(sensor, instance)  # marts never published: a subset build would
        assert first.run_requests[0].job_name == LOAD  # read models that do not exist yet
        instance.report_runless_asset_event(dg.AssetMaterialization(PUBLISHED_KEY))
        alone, cursor = _tick(sensor, instance)
        [request] = alone.run_requests
        assert request.job_name == "load_and_publish"
        assert request.asset_selection == (RAW_KEY, PUBLISHED_KEY)
        assert request.tags["cte/actor"] == "sensor:student_enrollment_landed"
        assert request.run_key == _key(cte_home, a) and request.partition_key == "2024"
        assert request.run_config == {
            "ops": {
                "raw__student_enrollment": {
                    "config": {"paths": [a.relative_to(cte_home.landing_dir).as_posix()]}
                }
            }
        }

        _land(cte_home, "student_enrollment__002__2024__20240615T103000.csv", "b\n")
        _land(cte_home, "student_enrollment__003__2024__20240615T103000.csv", "c\n")
        time.sleep(2.1)
        together, cursor = _tick(sensor, instance, cursor)
        assert [r.job_name for r in together.run_requests] == [LOAD, LOAD]

        # Another extract's file arrived within the last minute: a burst, not alone.
        _land(cte_home, "student_enrollment__004__2024__20240615T103000.csv", "d\n")
        time.sleep(2.1)
        burst, cursor = _tick(sensor, instance, cursor)
        assert [r.job_name for r in burst.run_requests] == [LOAD]
        later = time.time() + 2 * BURST_SECONDS
        assert landed_alone(instance, cte_home.landing_dir, now=later)  # once it has settled

        # A load running: a file landing now is not alone either.
        _add_run(instance, "load_work_based_learning", dg.DagsterRunStatus.STARTED)
        e = _land(cte_home, "student_enrollment__005__2024__20240615T103000.csv", "e\n")
        time.sleep(2.1)
        assert not landed_alone(instance, cte_home.landing_dir, now=later)
        queued, _ = _tick(sensor, instance, cursor)
        assert [r.job_name for r in queued.run_requests] == [LOAD]
        assert queued.run_requests[0].run_key == _key(cte_home, e)


def _add_run(instance, job_name, status, asset_selection=None) -> dg.DagsterRun:
    run = dg.DagsterRun(
        job_name=job_name, run_id=make_new_run_id(), status=status, asset_selection=asset_selection
    )
    instance.add_run(run)
    return run


def test_the_rebuild_skips_a_run_that_published_itself():
    sensor = build_rebuild_sensor(dg.define_asset_job("build_marts", selection="*"))
    with dg.instance_for_test() as instance:

        def evaluate(selection):
            run = _add_run(instance, "load_and_publish", dg.DagsterRunStatus.SUCCESS, selection)
            context = dg.build_run_status_sensor_context(
                sensor_name="rebuild_marts_after_loads",
                dagster_instance=instance,
                dagster_run=run,
                dagster_event=DagsterEvent(
                    event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name
                ),
            )
            return sensor(context)

        assert isinstance(evaluate(frozenset({RAW_KEY, PUBLISHED_KEY})), dg.SkipReason)
        assert isinstance(evaluate(None), dg.SkipReason)  # the whole job ran
        rebuild = evaluate(frozenset({RAW_KEY}))
        assert isinstance(rebuild, dg.RunRequest)
        assert rebuild.tags["cte/actor"] == "sensor:rebuild_marts_after_loads"
