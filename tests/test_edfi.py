"""Nova (Ed-Fi) as a source: a local ODS/API, a full pull, a change-query pull with a
delete and an unmappable descriptor, a failure half-way, the sensor (decision 0022)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import dagster as dg
import pytest
from edfi_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    KEY,
    YEAR,
    FakeOds,
    configure,
    first_pull,
    next_pull,
    pull,
    said_after_pull,
    serve,
    special_program_association,
    text_of,
)

from dagster_project.ingest.edfi.client import ChangeWindow, EdFiClient, EdFiError
from dagster_project.ingest.edfi.mapping import (
    NO_ENROLLMENT_FOR_PROGRAM,
    NOT_A_PROGRAM_ORGANIZATION,
    PROGRAM_FLAGS,
    RESOURCES,
    SEOA,
    SSA,
    STUDENT_ENROLLMENT,
    enrollment_row,
    place,
    place_enrollments,
)
from dagster_project.ingest.edfi.pull import Mirror, pull_school_year, window_for
from dagster_project.ingest.loader import Loader
from dagster_project.ingest.reasons import FileReason, HoldReason, RowReason, Status
from dagster_project.settings import DEVELOPMENT_PSEUDONYM_KEY, EdFiSettings, get_settings

NAMES = ("Zelda", "Quintana")
ED = "uri://ed-fi.org/"
# (studentUniqueId, schoolId, grade); the last names a school that is no Nova school id.
ENROLLED = [
    ("900000001", 35001010, "Ninth grade"),
    ("900000002", 35001010, "Tenth grade"),
    ("900000003", 35001010, "Eleventh grade"),
    ("900000004", 35001020, "Twelfth grade"),
    ("900000005", 35001020, "Ninth grade"),
    ("900000006", 35001020, "Tenth grade"),
    ("900000007", 35002010, "Ninth grade"),
    ("900000008", 35002010, "Tenth grade"),
    ("900000009", 35002010, "Eleventh grade"),
    ("900000010", 12, "Ninth grade"),
]


def association(student: str, school: int, grade: str) -> dict:
    return {
        "schoolReference": {"schoolId": school},
        "studentReference": {"studentUniqueId": student},
        "entryDate": "2024-08-12",
        "entryGradeLevelDescriptor": f"{ED}GradeLevelDescriptor#{grade}",
        "schoolYearTypeReference": {"schoolYear": YEAR},
        "classOfSchoolYearTypeReference": {"schoolYear": YEAR + 3},
    }


def demographics(student: str, district_id: int, sex: str = "Female", **kw) -> dict:
    return {
        "educationOrganizationReference": {"educationOrganizationId": district_id},
        "studentReference": {"studentUniqueId": student},
        "sexDescriptor": f"{ED}SexDescriptor#{sex}",
        "hispanicLatinoEthnicity": kw.get("hispanic", False),
        "races": [
            {"raceDescriptor": f"{ED}RaceDescriptor#{r}"} for r in kw.get("races", ["White"])
        ],
        "studentCharacteristics": [
            {"studentCharacteristicDescriptor": f"{ED}StudentCharacteristicDescriptor#{c}"}
            for c in kw.get("characteristics", [])
        ],
        "electronicMails": [{"electronicMailAddress": "zelda.quintana@example.org"}],
        "limitedEnglishProficiencyDescriptor": (
            f"{ED}LimitedEnglishProficiencyDescriptor#NotLimited"
        ),
    }


@pytest.fixture
def ods() -> Iterator[tuple[FakeOds, str, dict[str, dict]]]:
    ods = FakeOds()
    ids: dict[str, dict] = {}
    for student, school, grade in ENROLLED:
        ids[student] = ods.put(SSA, association(student, school, grade))
        # The students resource holds the names and birth dates: never read.
        ods.put(
            "students",
            {
                "studentUniqueId": student,
                "firstName": NAMES[0],
                "lastSurname": NAMES[1],
                "birthDate": "2009-05-01",
            },
        )
        district = 35000 + int(str(school)[2:5]) if school > 1000 else 35001
        ods.put(
            SEOA,
            demographics(
                student, district, characteristics=["Homeless"] if student.endswith("3") else []
            ),
        )
    server, url = serve(ods)
    yield ods, url, ids
    server.shutdown()


def pseudonym(student_id: str) -> str:
    return hmac.new(KEY, student_id.encode(), hashlib.sha256).hexdigest()


def test_a_full_pull_then_only_the_changes_reach_the_raw_table(ods, warehouse, tmp_path, caplog):
    fake, url, ids = ods
    landing = tmp_path / "landing"
    caplog.set_level(logging.INFO)

    first = first_pull(warehouse, fake, url, landing, loaded={"001": 6, "002": 3})
    # Three pages of four, Total-Count checked.
    assert fake.served["/data/v3/ed-fi/studentSchoolAssociations"] == 10
    assert first.placement.unplaced and first.reconciles
    row = warehouse.execute(
        "select district_code, location_code, grade_level, sex, race_ethnicity, homeless, "
        "exit_code, exit_date, cohort_year, length(student_id) from raw.student_enrollment "
        "order by district_code, location_code, grade_level limit 1"
    ).fetchone()
    assert row == ("001", "010", "09", "F", "WHITE", "N", "CONTINUING", None, 2028, 64)
    assert warehouse.execute(
        "select count(*) from raw.student_enrollment where homeless = 'Y'"
    ).fetchone() == (1,)

    # On the server: a student withdrawn, an association deleted, a sex not selected.
    loaded_version = fake.version
    withdrawn = dict(ids["900000001"], exitWithdrawDate="2025-02-14")
    withdrawn["exitWithdrawTypeDescriptor"] = f"{ED}ExitWithdrawTypeDescriptor#Withdrawn"
    fake.put(SSA, withdrawn)
    fake.delete(SSA, ids["900000002"]["id"])
    fake.put(SEOA, demographics("900000007", 35002, sex="Not Selected"))
    # A corrected student unique ID: the ODS keeps the records' ids and gives them a new
    # change version (a key change cascades), so they come in the change query.
    renumbered = {"studentReference": {"studentUniqueId": "900000044"}}
    fake.put(SSA, dict(ids["900000004"], **renumbered))
    seoa_4 = next(
        r
        for r in fake.records[SEOA].values()
        if r["studentReference"]["studentUniqueId"] == "900000004"
    )
    fake.put(SEOA, dict(seoa_4, **renumbered))
    second = next_pull(
        warehouse,
        fake,
        url,
        landing,
        since=loaded_version,
        served={
            "/data/v3/ed-fi/studentSchoolAssociations": 2,
            "/data/v3/ed-fi/studentSchoolAssociations/deletes": 1,
            "/data/v3/ed-fi/studentEducationOrganizationAssociations": 2,
        },
    )
    assert second.read == {SSA: 2, SEOA: 2} and second.deleted == {SSA: 1}
    by_district = {o.district_code: o for o in second.outcomes}
    assert by_district["001"].status is Status.LOADED and by_district["001"].rows_read == 5
    held = by_district["002"]
    assert held.status is Status.HELD and held.reason_code is HoldReason.SET_ASIDE_SHARE
    assert (held.rows_read, held.rows_loaded, held.rows_quarantined) == (3, 2, 1)
    reasons = warehouse.execute(
        "select column_name, reason_code, value from raw.quarantine where manifest_id = ?",
        [held.manifest_id],
    ).fetchall()
    assert reasons == [("sex", RowReason.UNKNOWN_CODE, "Not Selected")]
    # The deleted association left with district 001's new submission; the withdrawal came in.
    current = warehouse.execute(
        "select e.location_code, e.exit_code, e.exit_date from raw.student_enrollment e "
        "join raw.load_manifest m on m.manifest_id = e._manifest_id "
        "where m.status = 'LOADED' and e.district_code = '001' order by all"
    ).fetchall()
    assert len(current) == 5 and ("010", "OTHER", date(2025, 2, 14)) in current
    pseudonyms = {
        r[0]
        for r in warehouse.execute(
            "select e.student_id from raw.student_enrollment e join raw.load_manifest m "
            "on m.manifest_id = e._manifest_id where m.status = 'LOADED'"
        ).fetchall()
    }
    assert pseudonym("900000044") in pseudonyms and pseudonym("900000004") not in pseudonyms
    manifest = warehouse.execute(
        "select source, source_resources, change_version_min, change_version_max "
        "from raw.load_manifest where manifest_id = ?",
        [held.manifest_id],
    ).fetchone()
    assert manifest == (
        "edfi",
        ", ".join(RESOURCES),
        loaded_version + 1,
        fake.version,
    )
    pulls = warehouse.execute(
        "select change_version_min, resources, associations, placed, unplaced, unplaced_reasons "
        "from raw.edfi_pulls order by pull_id"
    ).fetchall()
    assert [p[2:5] for p in pulls] == [(10, 9, 1), (9, 8, 1)]
    assert json.loads(pulls[1][1])[SSA] == {"read": 2, "deleted": 1}
    assert "not a Nova school id" in pulls[0][5]
    # Counts reconcile per submission: read = loaded + quarantined.
    for o in first.outcomes + second.outcomes:
        assert o.rows_read == o.rows_loaded + o.rows_quarantined

    assert pull(warehouse, url, landing).window is None  # nothing new: nothing pulled

    said = " ".join(
        [text_of(warehouse, t) for t in ("raw.load_manifest", "raw.quarantine", "raw.edfi_pulls")]
        + [caplog.text]
    )
    for personal in (*NAMES, "900000001", "900000007", "2009-05-01", "example.org"):
        assert personal not in said
    # The mirror keeps the fields the mapping reads: IDs, as a landed file does; no e-mail.
    mirror = Mirror.open(landing / "edfi", YEAR).path.read_text()
    assert "900000001" in mirror and "example.org" not in mirror and NAMES[0] not in mirror


SPECIAL_EDUCATION, MIGRANT, LANGUAGE, HOMELESS = PROGRAM_FLAGS
FLAG_COLUMNS = ("disability", "migrant", "english_learner", "homeless")


def flags_of(con, student: str) -> tuple | None:
    """The special-population flags of the student's current row (pseudonymized ID)."""
    return con.execute(
        f"select {', '.join(FLAG_COLUMNS)} from raw.student_enrollment e "
        "join raw.load_manifest m on m.manifest_id = e._manifest_id "
        "where m.status = 'LOADED' and e.student_id = ?",
        [pseudonym(student)],
    ).fetchone()


def test_program_associations_set_the_flags_of_the_year_and_a_delete_clears_them(
    ods, warehouse, tmp_path, caplog
):
    """The special populations' program associations are a second source of the flags
    (mapping.PROGRAM_FLAGS): one overlapping the school year sets the flag, one that ended
    before does not, a deleted one clears it at the next pull; those that cannot be placed
    are counted with their reason, and say no student's ID."""
    fake, url, _ = ods
    landing = tmp_path / "landing"
    caplog.set_level(logging.INFO)
    program = {
        # A migrant student known only through the program association (no characteristic),
        # open-ended, at the district.
        "migrant": fake.put(
            MIGRANT, special_program_association(MIGRANT, "900000005", 35001, "2024-09-03")
        ),
        # Special education that ended before the school year (July 2024 to June 2025).
        "ended": fake.put(
            SPECIAL_EDUCATION,
            special_program_association(
                SPECIAL_EDUCATION, "900000006", 35001020, "2022-08-15", "2024-05-30"
            ),
        ),
        # Homeless for part of the year, at the student's school.
        "homeless": fake.put(
            HOMELESS,
            special_program_association(
                HOMELESS, "900000007", 35002010, "2024-10-01", "2025-01-15"
            ),
        ),
        "language": fake.put(
            LANGUAGE, special_program_association(LANGUAGE, "900000008", 35002, "2021-08-16")
        ),
        # Not placeable: a student with no enrollment, a student enrolled in another district,
        # an organization that is no Nova district or school.
        "unknown": fake.put(
            MIGRANT, special_program_association(MIGRANT, "900000099", 35001, "2024-09-03")
        ),
        "elsewhere": fake.put(
            MIGRANT, special_program_association(MIGRANT, "900000001", 35002, "2024-09-03")
        ),
        "not_nova": fake.put(
            HOMELESS, special_program_association(HOMELESS, "900000002", 12, "2024-09-03")
        ),
    }

    first = first_pull(warehouse, fake, url, landing, loaded={"001": 6, "002": 3})
    assert first.reconciles
    assert flags_of(warehouse, "900000005") == ("N", "Y", "N", "N")  # (a) migrant
    assert flags_of(warehouse, "900000006") == ("N", "N", "N", "N")  # (b) ended before
    assert flags_of(warehouse, "900000007") == ("N", "N", "N", "Y")
    assert flags_of(warehouse, "900000008") == ("N", "N", "Y", "N")
    assert flags_of(warehouse, "900000001") == ("N", "N", "N", "N")  # another district's
    assert flags_of(warehouse, "900000002") == ("N", "N", "N", "N")
    uses = first.placement.programs
    assert {r: (u.applied, u.other_years, dict(u.unplaced)) for r, u in uses.items()} == {
        SPECIAL_EDUCATION: (0, 1, {}),
        MIGRANT: (1, 0, {NO_ENROLLMENT_FOR_PROGRAM: 2}),
        LANGUAGE: (1, 0, {}),
        HOMELESS: (1, 0, {NOT_A_PROGRAM_ORGANIZATION: 1}),
    }
    resources = json.loads(
        warehouse.execute("select resources from raw.edfi_pulls order by pull_id").fetchone()[0]
    )
    assert resources[MIGRANT] == {
        "read": 3,
        "deleted": 0,
        "applied": 1,
        "other_years": 0,
        "unplaced": 2,
        "unplaced_reasons": {NO_ENROLLMENT_FOR_PROGRAM: 2},
    }
    assert "set no flag" in caplog.text and NOT_A_PROGRAM_ORGANIZATION in caplog.text

    # On the server: the homeless association deleted (c); the special education re-opened.
    loaded_version = fake.version
    fake.delete(HOMELESS, program["homeless"]["id"])
    reopened = dict(program["ended"], endDate=None)
    del reopened["endDate"]
    fake.put(SPECIAL_EDUCATION, reopened)
    second = next_pull(
        warehouse,
        fake,
        url,
        landing,
        since=loaded_version,
        served={
            f"/data/v3/ed-fi/{SPECIAL_EDUCATION}": 1,
            f"/data/v3/ed-fi/{HOMELESS}/deletes": 1,
        },
    )
    assert second.deleted == {HOMELESS: 1} and second.reconciles
    assert sorted(o.district_code for o in second.outcomes) == ["001", "002"]
    assert flags_of(warehouse, "900000007") == ("N", "N", "N", "N")  # (c) cleared
    assert flags_of(warehouse, "900000006") == ("Y", "N", "N", "N")
    assert flags_of(warehouse, "900000005") == ("N", "Y", "N", "N")

    said = said_after_pull(warehouse, "student_enrollment", caplog.text)
    for personal in (*NAMES, "900000005", "900000099", "900000002", "2009-05-01"):
        assert personal not in said


def test_a_mirror_from_before_the_program_associations_reads_them_whole(ods, warehouse, tmp_path):
    """A resource the family gained after the mirror's last pull is read whole (up to the
    newest change version), not only its changes since: its older records count too."""
    fake, url, _ = ods
    landing = tmp_path / "landing"
    fake.put(MIGRANT, special_program_association(MIGRANT, "900000005", 35001, "2024-09-03"))
    before = replace(STUDENT_ENROLLMENT, resources=(SSA, SEOA))
    pull(warehouse, url, landing, before)
    assert flags_of(warehouse, "900000005")[1] == "N"
    fake.put(SEOA, demographics("900000007", 35002, sex="Male"))  # a change: a new window
    fake.windows.clear()

    after = pull(warehouse, url, landing)
    assert after.window.min_version is not None and after.read[MIGRANT] == 1
    route = f"/data/v3/ed-fi/{MIGRANT}"
    assert {(low, high) for path, low, high in fake.windows if path == route} == {
        (None, fake.version)
    }
    assert flags_of(warehouse, "900000005")[1] == "Y"


def test_a_failure_half_way_leaves_everything_as_it_was_and_the_next_pull_completes(
    ods, warehouse, tmp_path
):
    fake, url, _ = ods
    landing = tmp_path / "landing"
    # GET 1: change versions; 2: the first page (its token revoked: renewed); 4: the second.
    fake.failures = {2: 401, 4: 500}
    with pytest.raises(EdFiError) as failed:
        pull(warehouse, url, landing)
    message = str(failed.value)
    assert "studentSchoolAssociations (offset 4)" in message and "HTTP 500" in message
    assert "Zelda" not in message and "900000001" not in message
    assert warehouse.execute("select count(*) from raw.load_manifest").fetchone() == (0,)
    assert not Mirror.open(landing / "edfi", YEAR).path.exists()

    done = pull(warehouse, url, landing)
    assert [o.status for o in done.outcomes] == [Status.LOADED, Status.LOADED]
    assert done.window.min_version is None


def test_a_retried_server_error_and_a_refused_client(ods):
    fake, url, _ = ods
    fake.failures = {2: 503}
    settings = EdFiSettings(url, CLIENT_ID, CLIENT_SECRET, page_size=500)
    with EdFiClient(settings, YEAR, retries=1, backoff_seconds=0) as client:
        assert len(list(client.records(SSA, ChangeWindow(None, fake.version)))) == 10
    wrong = EdFiSettings(url, CLIENT_ID, "not-the-secret")
    with (
        EdFiClient(wrong, YEAR) as client,
        pytest.raises(EdFiError, match="CTE_EDFI_CLIENT_SECRET"),
    ):
        client.available_change_versions()


def test_the_mapping_declares_descriptors_and_nova_ids():
    assert place(35001010) == ("001", "010") and place(12) is None and place(36001010) is None
    ssa = association("900000001", 35001010, "Fifth grade")
    ssa["exitWithdrawDate"] = "2025-05-30"
    ssa["exitWithdrawTypeDescriptor"] = f"{ED}ExitWithdrawTypeDescriptor#End of school year"
    row = enrollment_row(
        ssa,
        "001",
        "010",
        YEAR,
        demographics("900000001", 35001, sex="Non-binary", races=["Asian", "White"]),
    )
    # Grade 5 is no contract code: kept as Ed-Fi says it, so the code-set rule quarantines it.
    assert row["grade_level"] == "Fifth grade" and row["sex"] == "X"
    assert row["race_ethnicity"] == "MULTIRACIAL"
    assert (row["exit_code"], row["exit_date"]) == ("CONTINUING", None)
    assert row["last_name"] is None and row["birth_date"] is None
    hispanic = enrollment_row(ssa, "001", "010", YEAR, demographics("1", 35001, hispanic=True))
    assert hispanic["race_ethnicity"] == "HISPANIC"
    # A characteristic counts in the years its periods touch (none: always).
    seoa = demographics("1", 35001, characteristics=["Homeless", "Foster Care"])
    seoa["studentCharacteristics"][0]["periods"] = [
        {"beginDate": "2022-08-01", "endDate": "2023-05-30"}
    ]
    seoa["studentCharacteristics"][1]["periods"] = [{"beginDate": "2025-03-01"}]
    flags = enrollment_row(ssa, "001", "010", YEAR, seoa)
    assert (flags["homeless"], flags["foster_care"]) == ("N", "Y")
    # No demographics record: the columns are missing and the not-null rules say so.
    assert enrollment_row(ssa, "001", "010", YEAR, None)["sex"] is None
    other_year = dict(ssa, schoolYearTypeReference={"schoolYear": YEAR - 1})
    left = dict(ssa, exitWithdrawDate="2024-12-20")
    left["exitWithdrawTypeDescriptor"] = f"{ED}ExitWithdrawTypeDescriptor#Transferred"
    came_back = {k: v for k, v in ssa.items() if not k.startswith("exit")}
    came_back["entryDate"] = "2025-01-06"
    for order in ((left, came_back), (came_back, left)):  # the latest entry counts
        records = {str(i): r for i, r in enumerate((*order, other_year))}
        placement = place_enrollments({SSA: records}, YEAR)
        assert (placement.placed, placement.other_years, placement.earlier_entries) == (1, 1, 1)
        assert placement.rows["001"][0]["exit_code"] == "CONTINUING"


def test_a_full_pull_again_when_the_mirror_is_older_than_the_oldest_change(tmp_path):
    mirror = Mirror(tmp_path / "m.json", change_version=5)
    assert window_for(mirror, oldest=3, newest=9) == ChangeWindow(6, 9)
    assert window_for(mirror, oldest=10, newest=12) == ChangeWindow(None, 12)
    assert window_for(mirror, oldest=0, newest=5) is None
    assert window_for(Mirror(tmp_path / "n.json"), 0, 4) == ChangeWindow(None, 4)


def test_without_a_key_the_pull_lands_but_loads_nothing(ods, warehouse, tmp_path):
    _, url, _ = ods
    landing = tmp_path / "landing"
    settings = EdFiSettings(url, CLIENT_ID, CLIENT_SECRET)
    with EdFiClient(settings, YEAR, retries=0) as client:
        loader = Loader(warehouse, landing, DEVELOPMENT_PSEUDONYM_KEY.encode())
        result = pull_school_year(client, loader, landing / "edfi", YEAR)
    assert {o.reason_code for o in result.outcomes} == {FileReason.NO_PSEUDONYM_KEY}
    # Not recorded as sent: the next pull with a key sends the districts again.
    assert Mirror.open(landing / "edfi", YEAR).districts == {}


def test_the_sensor_starts_a_pull_when_the_newest_change_version_moved(ods, monkeypatch):
    from dagster_project.jobs import edfi_jobs
    from dagster_project.sensors import build_edfi_sensor

    def tick(**context):
        # Each tick's settings, as the code location hands them down: the environment's.
        return sensor(dg.build_sensor_context(resources={"settings": get_settings()}, **context))

    fake, url, _ = ods
    sensor = build_edfi_sensor(edfi_jobs["student_enrollment"])
    skipped = tick()
    assert "not configured" in skipped.skip_message
    configure(monkeypatch, url)
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(instance=instance)
        [request] = first.run_requests
        assert request.partition_key == str(YEAR)
        assert request.run_key == f"edfi-student_enrollment-{YEAR}-{fake.version}"
        assert request.tags["cte/actor"] == "sensor:edfi_student_enrollment_changed"
        assert request.tags["cte/action"] == "pull"
        assert first.dynamic_partitions_requests  # the year becomes a partition
        again = tick(instance=instance, cursor=first.cursor)
        assert isinstance(again, dg.SkipReason)
        fake.put(SEOA, demographics("900000001", 35001, sex="Male"))
        moved = tick(instance=instance, cursor=first.cursor)
        assert [r.run_key for r in moved.run_requests] == [
            f"edfi-student_enrollment-{YEAR}-{fake.version}"
        ]
        fake.failures = {len(fake.requests) + 1: 503}
        down = tick(instance=instance, cursor=moved.cursor)
        assert "HTTP 503" in down.skip_message


def test_cte_pull_loads_what_changed_and_says_so(ods, cte_home, monkeypatch, dbt_manifest, capfd):
    """The job the sensor starts, run by `cte pull`: the asset's checks, its log."""
    from dagster_project.cli import main

    _, url, _ = ods
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))
    monkeypatch.chdir(cte_home.home)
    with pytest.raises(SystemExit, match="cte pull: Ed-Fi is not configured"):
        main(["pull"])
    configure(monkeypatch, url)
    main(["pull"])
    said = capfd.readouterr()
    out = said.out + said.err
    assert "cte pull: 2 file(s) read: 2 current" in out and "change_versions: 0-" in out
    # The asset's checks; one association names no Nova school: a warning.
    assert "9 rows loaded; 4 checks passed; failed: associations_placed" in out
    logged = " ".join(p.read_text() for p in cte_home.logs_dir.iterdir())
    assert "900000001" not in logged and NAMES[0] not in logged
