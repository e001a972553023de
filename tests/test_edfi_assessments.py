"""Nova (Ed-Fi) as a source of assessment_results: the students' state test results
(studentAssessments) with the assessments they are results of (the subject), from a local
ODS/API; a full pull, a change-query pull with a delete and a result that cannot be
mapped, tests of other subjects and non-state tests skipped (decision 0022, fourth slice)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import edfi_fake
import pytest
from edfi_fake import YEAR, FakeOds, configure, said_after_pull, serve

from dagster_project.ingest.edfi.mapping import (
    ASSESSMENT_RESULTS,
    ASSESSMENTS,
    MORE_THAN_ONE_SUBJECT,
    NO_ASSESSMENT,
    NO_ASSESSMENT_YEAR,
    NOT_A_STATE_ASSESSMENT,
    NOT_A_TESTED_SUBJECT,
    NOT_AN_ASSESSED_SCHOOL,
    STUDENT_ASSESSMENTS,
    place_assessments,
)
from dagster_project.ingest.reasons import HoldReason, RowReason, Status

ED = "uri://ed-fi.org/"
NM = "uri://nmped.org/"
NAMESPACE = f"{NM}Assessment"
LEVEL = f"{NM}PerformanceLevelDescriptor#"  # New Mexico's levels (namespace unconfirmed)
ED_LEVEL = f"{ED}PerformanceLevelDescriptor#"
METHOD = f"{ED}AssessmentReportingMethodDescriptor#"
INTEGER = f"{ED}ResultDatatypeTypeDescriptor#Integer"
# identifier -> (category code value or None, academic subjects)
TESTS = {
    "NM-MSSA-MATH-08": ("State summative assessment 3-8 general", ("Mathematics",)),
    "NM-MSSA-ELA-08": ("State summative assessment 3-8 general", ("English Language Arts",)),
    "NM-ASR-SCI-11": (None, ("Science",)),  # a state test by its identifier alone
    "NM-SS-08": ("State assessment", ("Social Studies",)),  # not a tested subject
    "MAP-GROWTH-MATH": ("Interim", ("Mathematics",)),  # not a state test
    "SAT": ("College entrance exam", ("Mathematics", "Reading")),  # two subjects
}
MATH, RLA, SCI, SOCIAL, INTERIM = (
    "NM-MSSA-MATH-08",
    "NM-MSSA-ELA-08",
    "NM-ASR-SCI-11",
    "NM-SS-08",
    "MAP-GROWTH-MATH",
)
# (studentUniqueId, schoolId, assessment, administration date, scale score, level)
RESULTS = [
    ("900000001", 35001010, MATH, f"{YEAR}-04-10", "745", f"{LEVEL}Proficient"),
    ("900000001", 35001010, RLA, f"{YEAR}-04-11", "702", f"{LEVEL}Novice"),
    ("900000002", 35001020, MATH, f"{YEAR}-04-10", "760.0", f"{LEVEL}Advanced"),
    ("900000002", 35001020, SCI, f"{YEAR}-04-15", "1120", f"{ED_LEVEL}Met Standard"),
    ("900000003", 35002010, MATH, f"{YEAR}-03-02", "688", f"{LEVEL}Nearing Proficiency"),
    # A retest: the latest administration is the row.
    ("900000003", 35002010, MATH, f"{YEAR}-05-20", "712", f"{LEVEL}Proficient"),
    ("900000004", 35002010, SOCIAL, f"{YEAR}-04-10", "730", f"{LEVEL}Proficient"),
    ("900000004", 35002010, INTERIM, f"{YEAR}-01-10", "215", f"{LEVEL}Proficient"),
    ("900000005", 12, MATH, f"{YEAR}-04-10", "700", f"{LEVEL}Novice"),  # unplaced
    ("900000001", 35001010, MATH, f"{YEAR - 1}-04-10", "701", f"{LEVEL}Novice"),
]  # fmt: skip


def assessment(identifier: str) -> dict:
    category, subjects = TESTS[identifier]
    record = {
        "assessmentIdentifier": identifier,
        "namespace": NAMESPACE,
        "assessmentTitle": identifier,
        "academicSubjects": [
            {"academicSubjectDescriptor": f"{ED}AcademicSubjectDescriptor#{s}"} for s in subjects
        ],
    }
    if category is not None:
        record["assessmentCategoryDescriptor"] = f"{ED}AssessmentCategoryDescriptor#{category}"
    return record


def result(student, school, identifier, day, score, level, ds5: bool = True) -> dict:
    record = {
        "studentAssessmentIdentifier": f"{identifier}-{student}-{day}",
        "assessmentReference": {"assessmentIdentifier": identifier, "namespace": NAMESPACE},
        "studentReference": {"studentUniqueId": student},
        "schoolYearTypeReference": {"schoolYear": int(day[:4]) + (day[5:7] >= "07")},
        "administrationDate": day,
        "whenAssessedGradeLevelDescriptor": f"{ED}GradeLevelDescriptor#Eighth grade",
        "accommodations": [{"accommodationDescriptor": f"{ED}AccommodationDescriptor#Braille"}],
        "scoreResults": [
            {
                "assessmentReportingMethodDescriptor": f"{METHOD}Raw score",
                "result": "41",
                "resultDatatypeTypeDescriptor": INTEGER,
            },
            {
                "assessmentReportingMethodDescriptor": f"{METHOD}Scale score",
                "result": score,
                "resultDatatypeTypeDescriptor": INTEGER,
            },
        ],
        "performanceLevels": [
            {
                "assessmentReportingMethodDescriptor": f"{METHOD}Proficiency level",
                "performanceLevelDescriptor": level,
            }
        ],
    }  # fmt: skip
    # Data Standard 5 names the school reportedSchoolReference, 3 and 4 schoolReference.
    record["reportedSchoolReference" if ds5 else "schoolReference"] = {"schoolId": school}
    return record


@pytest.fixture
def ods() -> Iterator[tuple[FakeOds, str, dict[tuple[str, str], dict]]]:
    ods = FakeOds()
    for identifier in TESTS:
        ods.put(ASSESSMENTS, assessment(identifier))
    ids: dict[tuple[str, str], dict] = {}
    for student, school, identifier, *rest in RESULTS:
        record = result(student, school, identifier, *rest, ds5=identifier != SCI)
        ids.setdefault((student, identifier), ods.put(STUDENT_ASSESSMENTS, record))
    # The names and birth dates are on students: never read.
    ods.put("students", {"studentUniqueId": "900000001", "firstName": "Zelda"})
    server, url = serve(ods)
    yield ods, url, ids
    server.shutdown()


def pull(con, url: str, landing: Path):
    return edfi_fake.pull(con, url, landing, ASSESSMENT_RESULTS)


def current(con, district: str) -> list[tuple]:
    return con.execute(
        "select a.subject, a.scale_score, a.proficient from raw.assessment_results a "
        "join raw.load_manifest m on m.manifest_id = a._manifest_id "
        "where m.status = 'LOADED' and a.district_code = ? order by all",
        [district],
    ).fetchall()


def test_a_full_pull_then_only_the_changes_reach_the_assessment_table(
    ods, warehouse, tmp_path, caplog
):
    fake, url, ids = ods
    landing = tmp_path / "landing"
    caplog.set_level(logging.INFO)

    first = edfi_fake.first_pull(
        warehouse, fake, url, landing, ASSESSMENT_RESULTS, loaded={"001": 4, "002": 1}
    )
    placement = first.placement
    assert (placement.placed, placement.other_years, placement.earlier_entries) == (5, 1, 1)
    assert dict(placement.skipped) == {NOT_A_TESTED_SUBJECT: 1, NOT_A_STATE_ASSESSMENT: 1}
    assert dict(placement.unplaced) == {NOT_AN_ASSESSED_SCHOOL: 1}
    assert first.associations == 10 and first.reconciles
    assert current(warehouse, "001") == [
        ("MATH", 745, "Y"),
        ("MATH", 760, "Y"),  # '760.0' is a whole number
        ("RLA", 702, "N"),
        ("SCI", 1120, "Y"),  # a DS 4 result (schoolReference), an ed-fi.org level
    ]
    assert current(warehouse, "002") == [("MATH", 712, "Y")]  # the retest's
    assert warehouse.execute(
        "select count(*), min(length(student_id)) from raw.assessment_results"
    ).fetchone() == (5, 64)

    # On the server: a result withdrawn (entered in error), one without a scale score and
    # with a performance level no table knows.
    loaded_version = fake.version
    fake.delete(STUDENT_ASSESSMENTS, ids[("900000001", RLA)]["id"])
    unmappable = result("900000006", 35001010, RLA, f"{YEAR}-04-11", "", f"{LEVEL}Exceeds")
    unmappable["scoreResults"] = unmappable["scoreResults"][:1]  # the raw score only
    fake.put(STUDENT_ASSESSMENTS, unmappable)
    second = edfi_fake.next_pull(
        warehouse,
        fake,
        url,
        landing,
        ASSESSMENT_RESULTS,
        since=loaded_version,
        served={
            f"/data/v3/ed-fi/{STUDENT_ASSESSMENTS}": 1,
            f"/data/v3/ed-fi/{STUDENT_ASSESSMENTS}/deletes": 1,
        },
    )
    assert second.read == {STUDENT_ASSESSMENTS: 1} and second.deleted == {STUDENT_ASSESSMENTS: 1}
    [outcome] = second.outcomes  # district 002 unchanged: not sent again
    assert outcome.district_code == "001"
    # One row in four set aside: held for review, as any file would be (the previous
    # submission stays current).
    assert outcome.status is Status.HELD and outcome.reason_code is HoldReason.SET_ASIDE_SHARE
    assert current(warehouse, "001")[2] == ("RLA", 702, "N")
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (4, 3, 1)
    reasons = warehouse.execute(
        "select column_name, reason_code, value from raw.quarantine where manifest_id = ? "
        "order by all",
        [outcome.manifest_id],
    ).fetchall()
    assert reasons == [
        ("proficient", RowReason.UNKNOWN_CODE, "Exceeds"),
        ("scale_score", RowReason.MISSING_VALUE, None),
    ]
    for o in first.outcomes + second.outcomes:
        assert o.rows_read == o.rows_loaded + o.rows_quarantined

    manifest = warehouse.execute(
        "select source, source_resources, change_version_min from raw.load_manifest "
        "where manifest_id = ?",
        [outcome.manifest_id],
    ).fetchone()
    assert manifest == ("edfi", f"{STUDENT_ASSESSMENTS}, {ASSESSMENTS}", loaded_version + 1)
    pulls = warehouse.execute(
        "select extract, resources, associations, placed, other_years, earlier_entries, "
        "unplaced from raw.edfi_pulls order by pull_id"
    ).fetchall()
    assert [p[:1] + p[2:] for p in pulls] == [
        ("assessment_results", 10, 5, 1, 1, 1),
        ("assessment_results", 10, 5, 1, 1, 1),
    ]
    assert json.loads(pulls[0][1])[STUDENT_ASSESSMENTS]["skipped"] == 2

    assert pull(warehouse, url, landing).window is None  # nothing new: nothing pulled
    state = landing / "edfi" / ".state"
    kept = state.joinpath(f"assessment_results__{YEAR}.json").read_text()
    assert "accommodations" not in kept and "whenAssessedGradeLevelDescriptor" not in kept

    said = said_after_pull(warehouse, "assessment_results", caplog.text)
    for personal in ("Zelda", "900000001", "900000003", "900000006"):
        assert personal not in said


def test_the_assessment_mapping_reasons_and_values():
    """What a result becomes when the mirror lacks what it names or says it differently."""
    no_year = result("1", 35001010, MATH, f"{YEAR}-04-10", "700", "x")
    del no_year["schoolYearTypeReference"], no_year["administrationDate"]
    by_date = result("2", 35001010, MATH, f"{YEAR - 1}-09-20", "12.5", "y")
    del by_date["schoolYearTypeReference"]  # September of YEAR - 1: school year YEAR
    met_not = result("3", 35001010, MATH, f"{YEAR}-04-10", "700", f"{ED}x#Proficient")
    met_not["performanceLevels"] = [  # Data Standard 3: every level, met or not
        {"performanceLevelDescriptor": f"{ED}x#Proficient", "performanceLevelMet": False},
        {"performanceLevelDescriptor": f"{ED}x#Basic", "performanceLevelMet": True},
    ]
    day = f"{YEAR}-04-10"
    vendor_school = result("7", 0, RLA, f"{day}T09:30:00-06:00", "700", f"{LEVEL}Proficient")
    del vendor_school["reportedSchoolReference"]
    vendor_school["reportedSchoolIdentifier"] = "35002010"  # a vendor's, here Nova's too
    records = {
        STUDENT_ASSESSMENTS: {
            "a": no_year,
            "b": by_date,
            "c": met_not,
            "d": result("4", 35001010, "SAT", f"{YEAR}-04-10", "1100", "z"),
            "e": result("5", 35001010, "NOT-IN-THE-MIRROR", f"{YEAR}-04-10", "700", "z"),
            "f": {**result("6", 35001010, MATH, day, "700", "z"), "performanceLevels": []},
            "g": vendor_school,
        },
        ASSESSMENTS: {i: assessment(i) for i in TESTS},
    }  # fmt: skip
    placement = place_assessments(records, YEAR)
    assert dict(placement.unplaced) == {
        NO_ASSESSMENT_YEAR: 1,
        MORE_THAN_ONE_SUBJECT: 1,
        NO_ASSESSMENT: 1,
    }
    rows = {r["student_id"]: r for r in placement.rows["001"]}
    # A score that is not a whole number is written as is (the load quarantines it).
    assert rows["2"]["scale_score"] == "12.5" and rows["2"]["proficient"] == "y"
    assert rows["3"]["proficient"] == "N"  # the level met is Basic
    assert rows["6"]["proficient"] is None  # no level: MISSING_VALUE
    assert placement.rows["002"] == [
        {
            "student_id": "7",
            "district_code": "002",
            "school_year": str(YEAR),
            "subject": "RLA",
            "scale_score": "700",
            "proficient": "Y",
        }
    ]
    assert placement.accounted == 7


def test_the_assessment_sensor_requests_its_own_pull(ods, monkeypatch):
    import dagster as dg

    from dagster_project.jobs import edfi_jobs
    from dagster_project.sensors import build_edfi_sensor
    from dagster_project.settings import get_settings

    fake, url, _ = ods
    configure(monkeypatch, url)
    sensor = build_edfi_sensor(edfi_jobs["assessment_results"], extract="assessment_results")
    assert sensor.name == "edfi_assessment_results_changed"
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": get_settings()})
        [request] = sensor(context).run_requests
        assert request.run_key == f"edfi-assessment_results-{YEAR}-{fake.version}"
        assert request.job_name == "load_edfi_assessment_results"


def test_cte_pull_extract_loads_the_assessments(ods, cte_home, monkeypatch, dbt_manifest, capfd):
    """`cte pull --extract assessment_results`: the job its sensor starts."""
    from dagster_project.cli import main

    _, url, _ = ods
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))
    monkeypatch.chdir(cte_home.home)
    configure(monkeypatch, url)
    main(["pull", "--extract", "assessment_results"])
    said = capfd.readouterr()
    out = said.out + said.err
    assert "cte pull: 2 file(s) read: 2 current" in out
    assert "5 rows loaded" in out and "failed: associations_placed" in out
    logged = " ".join(p.read_text() for p in cte_home.logs_dir.iterdir())
    assert "900000001" not in logged and "Zelda" not in logged
