"""What a file sent again means (issue 23): every file seen is in the manifest, a rejected
file is not received, and bytes since superseded, sent again under a later name, are a new
submission. The sensors queue what the manifest has not seen under that name."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.contracts import get_extract
from dagster_project.ingest.audit import recorded_files, write_recorded_files
from dagster_project.ingest.landing import landing_path, list_landed, relative_name, sha256_of
from dagster_project.ingest.loader import Loader
from dagster_project.sample_data import generate
from dagster_project.sensors import build_landing_sensor
from dagster_project.warehouse import ensure_schema

KEY = b"test-key"
EXTRACT = get_extract("student_enrollment")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """District 001's 2025 enrollment, as the generator writes it."""
    staging = tmp_path_factory.mktemp("generated")
    generate("tiny", years=1, seed=7, landing_dir=staging, last_year=2025)
    [original] = [p for p in list_landed(staging, EXTRACT) if "__001__2025__" in p.name]
    return original


@pytest.fixture
def landed(cte_home, generated) -> tuple[duckdb.DuckDBPyConnection, Path, Path]:
    """The generated file, an empty warehouse and the extract's landing folder."""
    original = generated
    cte_home.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(cte_home.warehouse_path))
    ensure_schema(con)
    yield con, original, landing_path(cte_home.landing_dir, EXTRACT)
    con.close()


def _send(source: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(source, folder / name))


def _manifest(con) -> list[tuple]:
    return con.execute(
        "select file_name, status, coalesce(reason_code, '') from raw.load_manifest "
        "order by manifest_id"
    ).fetchall()


def test_a_rejected_file_renamed_to_the_right_name_loads(landed, cte_home):
    con, original, folder = landed
    loader = Loader(con, cte_home.landing_dir, KEY)
    bad = _send(original, folder, "student_enrollment_001_2025.csv")
    [rejected] = loader.load([bad])
    assert (rejected.status.value, rejected.reason_code) == ("REJECTED", "BAD_FILE_NAME")
    bad.unlink()
    good = _send(original, folder, "student_enrollment__001__2025__20250601T090000.csv")
    [renamed] = loader.load([good])
    assert renamed.status.value == "LOADED"  # was DUPLICATE of the rejected file
    assert renamed.rows_loaded > 0


def test_the_same_bytes_under_a_second_name_are_recorded_as_a_duplicate(landed, cte_home):
    con, original, folder = landed
    loader = Loader(con, cte_home.landing_dir, KEY)
    first = _send(original, folder, "student_enrollment__001__2025__20250601T090000.csv")
    again = _send(original, folder, "student_enrollment__001__2025__20250602T090000.csv")
    loader.load([first])
    [duplicate] = loader.load([again])
    assert duplicate.status.value == "DUPLICATE"
    assert [name for name, *_ in _manifest(con)] == [first.name, again.name]


def test_a_superseded_file_sent_again_under_a_later_name_is_current_again(landed, cte_home):
    """A district goes back to its earlier export: the same bytes, a later submission time."""
    con, original, folder = landed
    loader = Loader(con, cte_home.landing_dir, KEY)
    a = _send(original, folder, "student_enrollment__001__2025__20250601T090000.csv")
    loader.load([a])
    rows_a = con.execute("select count(*) from raw.student_enrollment").fetchall()[0][0]
    b = folder / "student_enrollment__001__2025__20250602T090000.csv"
    lines = a.read_text().splitlines(keepends=True)
    b.write_text("".join(lines[:-1]))  # one student fewer
    loader.load([b])
    back = _send(original, folder, "student_enrollment__001__2025__20250603T090000.csv")
    [outcome] = loader.load([back])
    assert outcome.status.value == "LOADED"
    assert [status for _, status, _ in _manifest(con)] == ["SUPERSEDED", "SUPERSEDED", "LOADED"]
    current = con.execute(
        "select count(*) from raw.student_enrollment e join raw.load_manifest m "
        "on e._manifest_id = m.manifest_id where m.status = 'LOADED'"
    ).fetchall()[0][0]
    assert current == rows_a


def test_the_sensor_queues_a_new_name_of_seen_bytes_and_nothing_seen(landed, cte_home):
    con, original, folder = landed
    loader = Loader(con, cte_home.landing_dir, KEY)
    bad = _send(original, folder, "student_enrollment_001_2025.csv")
    good = _send(original, folder, "student_enrollment__001__2025__20250601T090000.csv")
    loader.load([bad])
    write_recorded_files(con, cte_home.recorded_files_path)
    assert recorded_files(cte_home.recorded_files_path) == {
        (sha256_of(bad), relative_name(bad, cte_home.landing_dir))
    }
    time.sleep(2.1)  # landed files settle before a sensor takes them
    job = dg.define_asset_job("load_student_enrollment", selection=["raw/student_enrollment"])
    sensor = build_landing_sensor(EXTRACT, job)
    with dg.instance_for_test() as instance:
        result = sensor(
            dg.build_sensor_context(instance=instance, resources={"settings": cte_home})
        )
    name = relative_name(good, cte_home.landing_dir)
    assert [r.run_key for r in result.run_requests] == [f"{sha256_of(good)}:{name}"]


def test_a_run_over_every_year_records_a_badly_named_file(landed, cte_home):
    """`cte run` and backfills read by school year; a file whose name has no year was left
    for a sensor that `cte run` never starts, so it was recorded nowhere."""
    from dagster_project.assets.raw import build_raw_asset
    from dagster_project.partitions import school_years
    from dagster_project.resources import resources_for

    con, original, folder = landed
    con.close()
    bad = _send(original, folder, "enrollment 001 2025 final.csv")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(school_years.name, ["2025"])
        for _ in range(2):  # the second run finds it recorded: read once
            run = dg.materialize(
                [build_raw_asset(EXTRACT)],
                instance=instance,
                partition_key="2025",
                resources=resources_for(cte_home),
            )
            assert run.success
    with duckdb.connect(str(cte_home.warehouse_path), read_only=True) as again:
        assert _manifest(again) == [(bad.name, "REJECTED", "BAD_FILE_NAME")]
