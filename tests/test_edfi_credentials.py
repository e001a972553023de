"""Nova (Ed-Fi) as a source of credential_attainment: New Mexico's extension resource of
credentials earned in CTE programs, with the CTE program associations they belong to, from
a local ODS/API; a full pull, a change-query pull with a delete and an unknown credential
(decision 0022, third slice)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import edfi_fake
import pytest
from edfi_fake import YEAR, FakeOds, configure, said_after_pull, serve

from dagster_project.ingest.edfi.mapping import (
    CREDENTIAL_ATTAINMENT,
    CREDENTIALS,
    NO_EARNED_DATE,
    SCTEPA,
    place_credentials,
)
from dagster_project.ingest.reasons import HoldReason, RowReason, Status

NM = "uri://nmped.org/"
BEGIN = f"{YEAR - 1}-08-12"
CTE_PROGRAM = "uri://ed-fi.org/ProgramTypeDescriptor#Career and Technical Education"
PROGRAMS = {"Health Sciences": "51.3902", "Welding": "48.0508"}
# (studentUniqueId, schoolId, programName, credential code, earned date, delivery, verified)
EARNED = [
    ("900000001", 35001010, "Health Sciences", "CNA", f"{YEAR}-03-02", "College Granted", True),
    ("900000002", 35001010, "Health Sciences", "CNA", f"{YEAR}-03-02", "College Granted", False),
    ("900000003", 35001010, "Welding", "AWSW", f"{YEAR}-05-20", "Industry Standard", None),
    ("900000004", 35001020, "Health Sciences", "EMTB", f"{YEAR - 1}-12-10", "IS", True),
    ("900000005", 35002010, "Welding", "AWSW", f"{YEAR}-04-01", "Industry Standard", True),
    # Two credentials of one student: two rows.
    ("900000006", 35002010, "Health Sciences", "CNA", f"{YEAR}-02-01", "College Granted", True),
    ("900000006", 35002010, "Health Sciences", "EMTB", f"{YEAR}-05-01", "Industry Standard", True),
    ("900000007", 12, "Welding", "AWSW", f"{YEAR}-04-01", "Industry Standard", True),  # unplaced
    ("900000001", 35001010, "Welding", "AWSW", f"{YEAR - 2}-05-01", "IS", True),  # other year
]


def association(student: str, school: int, program: str, ds5: bool = True) -> dict:
    record = {
        "studentReference": {"studentUniqueId": student},
        "educationOrganizationReference": {"educationOrganizationId": school},
        "programReference": {
            "educationOrganizationId": 35,
            "programName": program,
            "programTypeDescriptor": CTE_PROGRAM,
        },
        "beginDate": BEGIN,
        "nonTraditionalGenderStatus": False,
    }
    if ds5:
        record["cteProgramServices"] = [
            {
                "cteProgramServiceDescriptor": "uri://ed-fi.org/CTEProgramServiceDescriptor#Other",
                "cipCode": PROGRAMS[program],
                "primaryIndicator": True,
            }
        ]
    else:  # Data Standard 3 and 4
        record["ctePrograms"] = [
            {
                "careerPathwayDescriptor": "uri://ed-fi.org/CareerPathwayDescriptor#Health Science",
                "cipCode": PROGRAMS[program],
                "primaryCTEProgramIndicator": True,
            }
        ]
    return record


def credential(student, school, program, code, earned, delivery, verified) -> dict:
    record = {
        "studentCTEProgramAssociationReference": {
            "beginDate": BEGIN,
            "educationOrganizationId": school,
            "programEducationOrganizationId": 35,
            "programName": program,
            "programTypeDescriptor": CTE_PROGRAM,
            "studentUniqueId": student,
        },
        "industryCredentialDescriptor": f"{NM}IndustryCredentialDescriptor#{code}",
        "earnedDate": earned,
        "credentialDeliveryMethodDescriptor": f"{NM}CredentialDeliveryMethodDescriptor#{delivery}",
        "credentialCertificateNumber": "CERT-0001",
    }
    if verified is not None:
        record["verifiedIndicator"] = verified
    return record


@pytest.fixture
def ods() -> Iterator[tuple[FakeOds, str, dict[str, dict]]]:
    ods = FakeOds()
    ids: dict[str, dict] = {}
    for student, school, program, *rest in EARNED:
        ods.put(SCTEPA, association(student, school, program, ds5=student != "900000005"))
        ids.setdefault(student, ods.put(CREDENTIALS, credential(student, school, program, *rest)))
    # The names and birth dates are on students: never read.
    ods.put("students", {"studentUniqueId": "900000001", "firstName": "Zelda"})
    server, url = serve(ods)
    yield ods, url, ids
    server.shutdown()


def pull(con, url: str, landing: Path):
    return edfi_fake.pull(con, url, landing, CREDENTIAL_ATTAINMENT)


def current(con, district: str) -> list[tuple]:
    return con.execute(
        "select c.location_code, c.cip_code, c.delivery_method, c.credential_code, "
        "cast(c.earned_date as varchar), c.verified from raw.credential_attainment c "
        "join raw.load_manifest m on m.manifest_id = c._manifest_id "
        "where m.status = 'LOADED' and c.district_code = ? order by all",
        [district],
    ).fetchall()


def test_a_full_pull_then_only_the_changes_reach_the_credential_table(
    ods, warehouse, tmp_path, caplog
):
    fake, url, ids = ods
    landing = tmp_path / "landing"
    caplog.set_level(logging.INFO)

    first = edfi_fake.first_pull(
        warehouse, fake, url, landing, CREDENTIAL_ATTAINMENT, loaded={"001": 4, "002": 3}
    )
    assert fake.requests.count(f"/data/v3/{CREDENTIALS}") >= 1
    placement = first.placement
    assert (placement.placed, placement.other_years, sum(placement.unplaced.values())) == (7, 1, 1)
    assert first.associations == 9 and first.reconciles
    assert current(warehouse, "001") == [
        ("010", "48.0508", "IS", "AWSW", f"{YEAR}-05-20", None),  # no verification: empty
        ("010", "51.3902", "CG", "CNA", f"{YEAR}-03-02", "N"),
        ("010", "51.3902", "CG", "CNA", f"{YEAR}-03-02", "Y"),
        ("020", "51.3902", "IS", "EMTB", f"{YEAR - 1}-12-10", "Y"),
    ]
    assert current(warehouse, "002") == [
        ("010", "48.0508", "IS", "AWSW", f"{YEAR}-04-01", "Y"),  # a DS 3/4 association
        ("010", "51.3902", "CG", "CNA", f"{YEAR}-02-01", "Y"),
        ("010", "51.3902", "IS", "EMTB", f"{YEAR}-05-01", "Y"),
    ]
    assert warehouse.execute(
        "select count(*), min(length(student_id)) from raw.credential_attainment"
    ).fetchone() == (7, 64)

    # On the server: a credential withdrawn (entered in error), one earned that is not on
    # the state's list.
    loaded_version = fake.version
    fake.delete(CREDENTIALS, ids["900000002"]["id"])
    fake.put(SCTEPA, association("900000008", 35002010, "Welding"))
    fake.put(
        CREDENTIALS,
        credential("900000008", 35002010, "Welding", "FORKLIFT", f"{YEAR}-04-02", "IS", True),
    )
    second = edfi_fake.next_pull(
        warehouse,
        fake,
        url,
        landing,
        CREDENTIAL_ATTAINMENT,
        since=loaded_version,
        served={
            f"/data/v3/{CREDENTIALS}": 1,
            f"/data/v3/{CREDENTIALS}/deletes": 1,
            f"/data/v3/ed-fi/{SCTEPA}": 1,
        },
    )
    assert second.read == {CREDENTIALS: 1, SCTEPA: 1} and second.deleted == {CREDENTIALS: 1}
    by_district = {o.district_code: o for o in second.outcomes}
    # The withdrawn credential left with district 001's submission.
    assert by_district["001"].status is Status.LOADED and by_district["001"].rows_read == 3
    assert [r[3:] for r in current(warehouse, "001")] == [
        ("AWSW", f"{YEAR}-05-20", None),
        ("CNA", f"{YEAR}-03-02", "Y"),
        ("EMTB", f"{YEAR - 1}-12-10", "Y"),
    ]
    # The unknown credential is quarantined with its code shown (and, one row in four, the
    # submission is held for review as any file would be: the previous one stays current).
    unknown = by_district["002"]
    assert unknown.status is Status.HELD and unknown.reason_code is HoldReason.SET_ASIDE_SHARE
    assert len(current(warehouse, "002")) == 3
    assert (unknown.rows_read, unknown.rows_loaded, unknown.rows_quarantined) == (4, 3, 1)
    reasons = warehouse.execute(
        "select column_name, reason_code, value from raw.quarantine where manifest_id = ?",
        [unknown.manifest_id],
    ).fetchall()
    assert reasons == [("credential_code", RowReason.UNKNOWN_CODE, "FORKLIFT")]
    for o in first.outcomes + second.outcomes:
        assert o.rows_read == o.rows_loaded + o.rows_quarantined

    manifest = warehouse.execute(
        "select source, source_resources, change_version_min from raw.load_manifest "
        "where manifest_id = ?",
        [unknown.manifest_id],
    ).fetchone()
    assert manifest == ("edfi", f"{CREDENTIALS}, {SCTEPA}", loaded_version + 1)
    pulls = warehouse.execute(
        "select extract, resources, associations, placed, other_years, unplaced, "
        "unplaced_reasons from raw.edfi_pulls order by pull_id"
    ).fetchall()
    assert [p[:1] + p[2:6] for p in pulls] == [
        ("credential_attainment", 9, 7, 1, 1),
        ("credential_attainment", 9, 7, 1, 1),
    ]
    assert json.loads(pulls[1][1])[CREDENTIALS] == {"read": 1, "deleted": 1}
    assert "not a Nova school id" in pulls[0][6]

    assert pull(warehouse, url, landing).window is None  # nothing new: nothing pulled
    state = landing / "edfi" / ".state"
    assert [p.name for p in state.iterdir()] == [f"credential_attainment__{YEAR}.json"]
    kept = state.joinpath(f"credential_attainment__{YEAR}.json").read_text()
    assert "credentialCertificateNumber" not in kept and "nonTraditionalGenderStatus" not in kept

    said = said_after_pull(warehouse, "credential_attainment", caplog.text)
    for personal in ("Zelda", "900000001", "900000006", "900000008"):
        assert personal not in said


def test_the_credential_mapping_defaults_and_unknowns():
    no_delivery = credential("1", 35001010, "Welding", "AWSW", f"{YEAR}-01-10", "x", True)
    del no_delivery["credentialDeliveryMethodDescriptor"]
    records = {
        CREDENTIALS: {
            "a": no_delivery,
            "b": credential("2", 35001010, "Welding", "CNA", f"{YEAR}-01-10", "Online", False),
            "c": {
                **credential("3", 35001010, "Welding", "CNA", "", "IS", True),
                "earnedDate": None,
            },
        },
        SCTEPA: {},  # no program association: no CIP code
    }
    placement = place_credentials(records, YEAR)
    assert dict(placement.unplaced) == {NO_EARNED_DATE: 1}
    rows = {r["student_id"]: r for r in placement.rows["001"]}
    # No delivery method: empty (MISSING_VALUE); an unknown one as Ed-Fi says it.
    assert rows["1"]["delivery_method"] is None and rows["2"]["delivery_method"] == "Online"
    assert rows["1"]["cip_code"] is None and rows["2"]["verified"] == "N"
    assert rows["1"]["credential_name"] is None and rows["1"]["issuer"] is None


def test_the_credential_sensor_requests_its_own_pull(ods, monkeypatch):
    import dagster as dg

    from dagster_project.jobs import edfi_jobs
    from dagster_project.sensors import build_edfi_sensor
    from dagster_project.settings import get_settings

    fake, url, _ = ods
    configure(monkeypatch, url)
    sensor = build_edfi_sensor(edfi_jobs["credential_attainment"], extract="credential_attainment")
    assert sensor.name == "edfi_credential_attainment_changed"
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": get_settings()})
        [request] = sensor(context).run_requests
        assert request.run_key == f"edfi-credential_attainment-{YEAR}-{fake.version}"
        assert request.job_name == "load_edfi_credential_attainment"
        assert request.tags["cte/actor"] == "sensor:edfi_credential_attainment_changed"


def test_cte_pull_accepts_every_family(monkeypatch, capsys):
    """`cte pull --extract credential_attainment` is a choice (FAMILIES drives them): without
    Nova configured it says so, not that the extract is unknown."""
    from dagster_project.cli import main
    from dagster_project.ingest.edfi.mapping import FAMILIES

    assert set(FAMILIES) == {
        "student_enrollment",
        "cte_course_enrollment",
        "credential_attainment",
        "assessment_results",
    }
    monkeypatch.chdir(Path.cwd())  # main changes to the repository: put it back after
    for name in ("URL", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(f"CTE_EDFI_{name}", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["pull", "--extract", "credential_attainment"])
    assert "Ed-Fi is not configured" in str(exited.value.code)
    with pytest.raises(SystemExit):
        main(["pull", "--extract", "wage_records"])
    assert "invalid choice: 'wage_records'" in capsys.readouterr().err


def test_cte_pull_extract_loads_the_credentials(ods, cte_home, monkeypatch, dbt_manifest, capfd):
    """`cte pull --extract credential_attainment`: the job its sensor starts."""
    from dagster_project.cli import main

    _, url, _ = ods
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))
    monkeypatch.chdir(cte_home.home)
    configure(monkeypatch, url)
    main(["pull", "--extract", "credential_attainment"])
    said = capfd.readouterr()
    out = said.out + said.err
    assert "cte pull: 2 file(s) read: 2 current" in out
    assert "7 rows loaded" in out and "failed: associations_placed" in out
    logged = " ".join(p.read_text() for p in cte_home.logs_dir.iterdir())
    assert "900000001" not in logged and "Zelda" not in logged
