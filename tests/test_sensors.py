"""Landing sensors: one run request per new file, keyed by SHA-256 and path; nothing for a
seen file."""

from __future__ import annotations

import time

import dagster as dg

from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import recorded_files
from dagster_project.ingest.landing import landing_path, relative_name, sha256_of
from dagster_project.sensors import build_landing_sensor, current_school_year, new_files

EXTRACT = get_extract("student_enrollment")


def _land(settings, name: str, content: str = "x\n"):
    folder = landing_path(settings.landing_dir, EXTRACT)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content)
    return path


def _sensor():
    job = dg.define_asset_job("load_student_enrollment", selection=["raw/student_enrollment"])
    return build_landing_sensor(EXTRACT, job)


def _key(settings, path) -> str:
    return f"{sha256_of(path)}:{relative_name(path, settings.landing_dir)}"


def _tick(sensor, instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
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
    from dagster_project.resources import WarehouseResource

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
            resources={"warehouse": WarehouseResource.from_settings()},
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
    from dagster_project.resources import WarehouseResource

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
            resources={"warehouse": WarehouseResource.from_settings()},
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
