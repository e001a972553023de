"""A change on Nova reaches the published snapshot through the sensors, and only the changed
records are fetched (issue 18, test 2; decision 0022).

The tiny sample (two school years, seed 7): the earlier year and every extract Nova does not
serve land as files; the latest year's four Ed-Fi families are served by the fake ODS/API
(tests/edfi_from_sample.py; one ODS for both years, as Nova). First, as in production: each
family's sensor ticks (``edfi_<extract>_changed``, from the code location's definitions) and
its run request is run (the marts were never published: a pull alone), then ``cte run``
loads the files, builds the marts and publishes. Then, on the server: a new credential for a
student, a student withdrawn, a test result deleted, a student's unique ID corrected (the key
change cascades to every record of the student, as the ODS does). Each sensor ticks again;
its request (one run: the pull, the models reading its extract, the publish) is run. The
published snapshot moved the way the changes imply, and the pulls read only the changed
records, in the window after the first pull's change version.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from edfi_fake import FakeOds, configure, serve
from edfi_from_sample import CREDENTIAL_ASSOCIATION, EDFI_EXTRACTS, ods_records

from dagster_project.assets.edfi import edfi_key
from dagster_project.cli import ensure_dagster_home, main
from dagster_project.code_location import build_definitions
from dagster_project.contracts import get_extract
from dagster_project.ingest.edfi.mapping import (
    CREDENTIALS,
    FAMILIES,
    SSA,
    STSA,
    STUDENT_ASSESSMENTS,
)
from dagster_project.ingest.landing import list_landed, parse_file_name
from dagster_project.progress import execute_job
from dagster_project.sample_data import generate
from dagster_project.sensors import PUBLISHED_KEY, edfi_sensor_name
from dagster_project.settings import Settings, get_settings

# Six minutes (cte run's build and one build per family's run): outside `make test`, whose
# CI budget it would strain; `make test-long` runs it.
pytestmark = pytest.mark.long

SCALE, YEARS, SEED = "tiny", 2, 7  # two years: the credential cells have 10+ concentrators
ED = "uri://ed-fi.org/"
NEW_STUDENT_ID = "999000001"  # the corrected unique ID (no sample student has it)
Record = dict[str, Any]


# --- the home: files, the fake ODS, the code location ------------------------------------


def land_all_but_the_pulled_year(sample: Path, landing: Path, year: int) -> None:
    """The sample's files, without the Ed-Fi families' files of the year Nova serves."""
    shutil.copytree(sample, landing, dirs_exist_ok=True)
    for name in EDFI_EXTRACTS:
        for path in list_landed(landing, get_extract(name)):
            if parse_file_name(path).year == year:
                path.unlink()


@dataclass
class Home:
    settings: Settings
    ods: FakeOds
    year: int
    defs: dg.Definitions
    instance: dg.DagsterInstance
    cursors: dict[str, str | None] = field(default_factory=dict)

    def tick(self, extract: str) -> dg.SensorResult | dg.SkipReason:
        """One evaluation of the extract's sensor, with its cursor, as the daemon ticks it."""
        name = edfi_sensor_name(extract)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(name),
            resources={"settings": self.settings},
        )
        result = self.defs.get_sensor_def(name)(context)
        if isinstance(result, dg.SensorResult):
            self.cursors[name] = result.cursor
            for added in result.dynamic_partitions_requests or []:
                self.instance.add_dynamic_partitions(
                    added.partitions_def_name, added.partition_keys
                )
        return result

    def run(self, request: dg.RunRequest) -> None:
        """The run the daemon launches for ``request``: its job, partition, assets, tags."""
        job = self.defs.resolve_job_def(request.job_name)
        result = execute_job(
            job,
            self.instance,
            None,
            partition_key=request.partition_key,
            asset_selection=list(request.asset_selection) if request.asset_selection else None,
            tags=request.tags,
            raise_on_error=False,
        )
        assert result.success, request.job_name


@pytest.fixture
def home(cte_home: Settings, dbt_manifest: Path, monkeypatch, tmp_path) -> Iterator[Home]:
    sample = tmp_path / "sample"
    generate(SCALE, YEARS, SEED, sample)
    records, years = ods_records(sample)
    year = years[-1]
    land_all_but_the_pulled_year(sample, cte_home.landing_dir, year)
    ods = FakeOds.holding(records)
    server, url = serve(ods)
    configure(monkeypatch, url)
    monkeypatch.setenv("CTE_EDFI_SCHOOL_YEAR", str(year))
    monkeypatch.setenv("DAGSTER_HOME", str(ensure_dagster_home(cte_home)))
    monkeypatch.chdir(cte_home.home)
    settings = get_settings()
    try:
        with dg.DagsterInstance.get() as instance:
            yield Home(settings, ods, year, build_definitions(settings), instance)
    finally:
        server.shutdown()


# --- the changes on the server ------------------------------------------------------------


def student_of(record: Record) -> str:
    reference = record.get("studentReference") or record[CREDENTIAL_ASSOCIATION]
    return reference["studentUniqueId"]


def of_year(ods: FakeOds, resource: str, year: int) -> list[Record]:
    """The resource's records of the school year (by their school year or earned date)."""

    def year_of(record: Record) -> int:
        if "earnedDate" in record:
            earned = record["earnedDate"]
            return int(earned[:4]) + (int(earned[5:7]) >= 7)
        reference = record.get("schoolYearTypeReference") or record["sectionReference"]
        return int(reference["schoolYear"])

    return [r for r in ods.records[resource].values() if year_of(r) == year]


def renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with every ``studentUniqueId`` ``old`` made ``new``."""
    if isinstance(value, dict):
        return {
            k: new if k == "studentUniqueId" and v == old else renamed(v, old, new)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [renamed(v, old, new) for v in value]
    return value


def renumber(ods: FakeOds, old: str, new: str) -> None:
    """A corrected student unique ID: the ODS cascades the key change to every record of the
    student (same ``id``, a new change version)."""
    for resource, by_id in ods.records.items():
        for record in list(by_id.values()):
            changed = renamed(record, old, new)
            if changed != record:
                ods.put(resource, changed)


@dataclass(frozen=True)
class Changes:
    earner: str  # a second credential, verified
    withdrawn: str
    untested: str  # one test result deleted
    renumbered: str  # -> NEW_STUDENT_ID


CODE = "industryCredentialDescriptor"


def add_credential(ods: FakeOds, year: int, students: set[str]) -> str:
    """A second verified credential (another code) for a student with one; the student."""
    credentials = of_year(ods, CREDENTIALS, year)
    earned = next(
        c for c in credentials if c.get("verifiedIndicator") and student_of(c) in students
    )
    held = {c[CODE] for c in credentials if student_of(c) == student_of(earned)}
    other_code = next(c[CODE] for c in credentials if c[CODE] not in held)
    second = {k: v for k, v in earned.items() if k not in ("id", "_changeVersion")}
    ods.put(CREDENTIALS, second | {CODE: other_code, "verifiedIndicator": True})
    return student_of(earned)


def withdraw(ods: FakeOds, association: Record, year: int) -> str:
    """The student's school association with an exit (Withdrawn, in February); the student."""
    ods.put(
        SSA,
        association
        | {
            "exitWithdrawDate": f"{year}-02-14",
            "exitWithdrawTypeDescriptor": f"{ED}ExitWithdrawTypeDescriptor#Withdrawn",
        },
    )
    return student_of(association)


def delete_result(ods: FakeOds, year: int, taken: set[str]) -> str:
    """One test result of the year deleted; its student."""
    result = next(r for r in of_year(ods, STUDENT_ASSESSMENTS, year) if student_of(r) not in taken)
    ods.delete(STUDENT_ASSESSMENTS, result["id"])
    return student_of(result)


def change_on_the_server(ods: FakeOds, year: int) -> Changes:
    """The four changes, each of another student enrolled in the year."""
    enrolled = [r for r in of_year(ods, SSA, year) if "exitWithdrawTypeDescriptor" not in r]
    earner = add_credential(ods, year, {student_of(r) for r in enrolled})
    withdrawn = withdraw(ods, next(r for r in enrolled if student_of(r) != earner), year)
    untested = delete_result(ods, year, {earner, withdrawn})
    in_courses = {student_of(r) for r in of_year(ods, STSA, year)}
    renumbered = next(
        student_of(r)
        for r in enrolled
        if student_of(r) in in_courses - {earner, withdrawn, untested}
    )
    renumber(ods, renumbered, NEW_STUDENT_ID)
    return Changes(earner, withdrawn, untested, renumbered)


def changed_since(ods: FakeOds, version: int) -> Counter[str]:
    """Records served per route for the changes after ``version``: the server's truth."""
    changed: Counter[str] = Counter()
    for resource, by_id in ods.records.items():
        route = f"/data/v3/{resource if '/' in resource else f'ed-fi/{resource}'}"
        changed[route] += sum(r["_changeVersion"] > version for r in by_id.values())
        changed[f"{route}/deletes"] += sum(
            d["changeVersion"] > version for d in ods.deletes.get(resource, [])
        )
    return +changed


# --- what the warehouse and the snapshot say ----------------------------------------------


def pseudonym(settings: Settings, student_id: str) -> str:
    return hmac.new(settings.pseudonym_key(), student_id.encode(), hashlib.sha256).hexdigest()


def current(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Rows of the working warehouse's current submissions (``e``: the raw table)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def current_rows(settings: Settings, extract: str, year: int, student_id: str) -> list[tuple]:
    """The student's current raw rows of the extract and year."""
    return current(
        settings,
        f"select e.* from raw.{extract} e "
        "join raw.load_manifest m on m.manifest_id = e._manifest_id "
        "where m.status = 'LOADED' and e.school_year = ? and e.student_id = ?",
        [year, pseudonym(settings, student_id)],
    )


def results(settings: Settings, year: int, student_id: str) -> list[tuple]:
    return current_rows(settings, "assessment_results", year, student_id)


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    manifest_ids: frozenset[int]
    credentials_earned: int | None  # district 001, every cluster and tier: shown
    credential_earners: int | None


def published(settings: Settings, year: int) -> Snapshot:
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        snapshot_id, ids = con.execute("select snapshot_id, manifest_ids from snapshot").fetchone()
        earned, earners = con.execute(
            "select credentials_earned, credential_earners from credential_attainment "
            "where school_year = ? and level = 'district' and entity_code = '001' "
            "and career_cluster = 'ALL' and credential_tier = 'ALL'",
            [year],
        ).fetchone()
    return Snapshot(snapshot_id, frozenset(ids), earned, earners)


def edfi_submissions(settings: Settings) -> dict[str, set[int]]:
    """Manifest ids of the Ed-Fi submissions by status."""
    by_status: dict[str, set[int]] = {}
    for manifest_id, status in current(
        settings, "select manifest_id, status from raw.load_manifest where source = 'edfi'"
    ):
        by_status.setdefault(status, set()).add(manifest_id)
    return by_status


# --- the test -------------------------------------------------------------------------------


def pull_everything_and_publish(home: Home) -> None:
    """The first pulls, as the sensors request them (never published: a pull alone), then
    the files, the marts and the publish by `cte run`."""
    for extract in EDFI_EXTRACTS:
        [request] = home.tick(extract).run_requests
        assert request.job_name == f"load_edfi_{extract}"
        home.run(request)
    main(["run"])


def test_a_change_on_nova_reaches_the_published_snapshot_reading_only_the_changed_records(
    home: Home,
) -> None:
    settings, ods, year = home.settings, home.ods, home.year
    pull_everything_and_publish(home)
    before = published(settings, year)
    assert before.credentials_earned is not None  # a shown cell, not suppressed
    pulled_version, total = ods.version, sum(len(r) for r in ods.records.values())
    for extract in EDFI_EXTRACTS:  # nothing changed: no run
        skipped = home.tick(extract)
        assert isinstance(skipped, dg.SkipReason) and "already pulled" in skipped.skip_message

    changes = change_on_the_server(ods, year)
    tested = len(results(settings, year, changes.untested))
    expected = changed_since(ods, pulled_version)
    ods.served.clear()
    ods.windows.clear()
    superseded = edfi_submissions(settings)["LOADED"]
    for extract in EDFI_EXTRACTS:
        [request] = home.tick(extract).run_requests
        # Requested because the newest change version moved; a pull is a landing: one run
        # pulls, rebuilds the models reading the extract and publishes.
        assert request.run_key == f"edfi-{extract}-{year}-{ods.version}"
        assert request.tags["cte/change_version"] == str(ods.version)
        assert request.job_name == "load_and_publish"
        assert {edfi_key(FAMILIES[extract]), PUBLISHED_KEY} <= set(request.asset_selection)
        home.run(request)

    # Only the changed records were read, each once, in the window after the first pull.
    served = +Counter(ods.served)
    fetched = sum(served.values())
    print(f"\nincremental pulls: {fetched} records fetched of {total} on the ODS: {dict(served)}")
    assert served == expected
    assert {(low, high) for _, low, high in ods.windows} == {(pulled_version + 1, ods.version)}

    after = published(settings, year)
    print(
        f"district 001, credentials earned/earners: {before.credentials_earned}/"
        f"{before.credential_earners} -> {after.credentials_earned}/{after.credential_earners}"
    )
    assert after.snapshot_id != before.snapshot_id
    # The new credential moved district 001's shown cell by one (the earner already had one).
    assert after.credentials_earned == before.credentials_earned + 1
    assert after.credential_earners == before.credential_earners
    # The snapshot is built on the new submissions, none of those they replaced.
    submissions = edfi_submissions(settings)
    assert submissions["LOADED"] <= after.manifest_ids
    assert not superseded & after.manifest_ids and superseded <= submissions["SUPERSEDED"]

    # The withdrawal, the deleted result and the corrected ID in the current raw rows.
    [withdrawal] = current(
        settings,
        "select e.exit_code, e.exit_date from raw.student_enrollment e join raw.load_manifest m "
        "on m.manifest_id = e._manifest_id where m.status = 'LOADED' and e.school_year = ? "
        "and e.student_id = ?",
        [year, pseudonym(settings, changes.withdrawn)],
    )
    assert withdrawal == ("OTHER", date(year, 2, 14))
    assert len(results(settings, year, changes.untested)) == tested - 1
    for extract in EDFI_EXTRACTS:
        assert not current_rows(settings, extract, year, changes.renumbered), extract
    for extract in ("student_enrollment", "cte_course_enrollment"):
        assert current_rows(settings, extract, year, NEW_STUDENT_ID), extract
