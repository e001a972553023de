"""Nova (Ed-Fi) as a source of cte_course_enrollment: section enrollments, sessions, course
offerings and course transcripts from a local ODS/API; a full pull, a change-query pull
with a delete and an unmappable descriptor (decision 0022, second slice)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import edfi_fake
import pytest
from edfi_fake import YEAR, FakeOds, configure, serve, text_of

from dagster_project.ingest.edfi.mapping import (
    CTE_COURSE_ENROLLMENT,
    OFFERINGS,
    SESSIONS,
    STSA,
    TRANSCRIPTS,
    place_course_enrollments,
)
from dagster_project.ingest.edfi.pull import Mirror
from dagster_project.ingest.reasons import HoldReason, RowReason, Status

ED = "uri://ed-fi.org/"
FALL, SPRING, YEARLONG, Q1 = (
    f"{YEAR - 1}-{YEAR} Fall Semester",
    f"{YEAR - 1}-{YEAR} Spring Semester",
    f"{YEAR - 1}-{YEAR} Year",
    f"{YEAR - 1}-{YEAR} First Quarter",
)
TERMS = {
    FALL: "Fall Semester",
    SPRING: "Spring Semester",
    YEARLONG: "Year Round",
    Q1: "First Quarter",
}
SCHOOLS = (35001010, 35001020, 35002010)
# localCourseCode -> (courseCode, course level characteristics); 0111, 0112, 0114 are in
# the course seed (PED's CTE catalog), ALG-01 is not and carries no CTE characteristic.
COURSES = {
    "WELD-1": ("0111", []),
    "WELD-2": ("0112", []),
    "WELD-4": ("0114", ["Career and Technical Education", "Dual Credit"]),
    "ALG-01": ("ALG-01", []),
}
# (studentUniqueId, schoolId, localCourseCode, session, transcript: (result, credits) or None)
ENROLLED = [
    ("900000001", 35001010, "WELD-1", FALL, ("Pass", 1.0)),
    ("900000002", 35001010, "WELD-1", FALL, ("Fail", 0)),
    ("900000003", 35001010, "WELD-2", SPRING, None),  # not graded yet
    ("900000004", 35001020, "WELD-4", YEARLONG, ("Pass", 2.0)),
    ("900000005", 35001020, "WELD-1", FALL, ("Withdrawn", None)),
    ("900000006", 35001020, "WELD-2", SPRING, ("Incomplete", 0)),
    ("900000007", 35002010, "WELD-1", FALL, ("Pass", 0.5)),
    ("900000008", 35002010, "WELD-2", SPRING, ("Pass", 1.0)),
    ("900000009", 35002010, "WELD-4", YEARLONG, None),
    ("900000010", 12, "WELD-1", FALL, None),  # no Nova school id: unplaced
    ("900000011", 35001010, "ALG-01", FALL, ("Pass", 1.0)),  # not a CTE course
]


def section(student: str, school: int, local: str, session: str, year: int = YEAR) -> dict:
    return {
        "sectionReference": {
            "localCourseCode": local,
            "schoolId": school,
            "schoolYear": year,
            "sectionIdentifier": f"{local}-{session[-13:]}-01",
            "sessionName": session,
        },
        "studentReference": {"studentUniqueId": student},
        "beginDate": f"{year - 1}-08-12",
        "homeroomIndicator": False,
    }


def transcript(student: str, course: str, session: str, result: str, credits) -> dict:
    record = {
        "courseReference": {"courseCode": course, "educationOrganizationId": 35},
        "studentAcademicRecordReference": {
            "educationOrganizationId": 35001,
            "schoolYear": YEAR,
            "studentUniqueId": student,
            "termDescriptor": f"{ED}TermDescriptor#{TERMS[session]}",
        },
        "courseAttemptResultDescriptor": f"{ED}CourseAttemptResultDescriptor#{result}",
        "attemptedCredits": 1.0,
        "finalLetterGradeEarned": "A",
    }
    if credits is not None:
        record["earnedCredits"] = credits
    return record


def session_record(school: int, name: str) -> dict:
    return {
        "schoolReference": {"schoolId": school},
        "schoolYearTypeReference": {"schoolYear": YEAR},
        "sessionName": name,
        "termDescriptor": f"{ED}TermDescriptor#{TERMS[name]}",
        "beginDate": f"{YEAR - 1}-08-12",
        "endDate": f"{YEAR}-05-30",
        "totalInstructionalDays": 170,
    }


def offering(school: int, local: str, session: str) -> dict:
    code, characteristics = COURSES[local]
    return {
        "localCourseCode": local,
        "schoolReference": {"schoolId": school},
        "sessionReference": {"schoolId": school, "schoolYear": YEAR, "sessionName": session},
        "courseReference": {"courseCode": code, "educationOrganizationId": 35},
        "localCourseTitle": local,
        "courseLevelCharacteristics": [
            {"courseLevelCharacteristicDescriptor": f"{ED}CourseLevelCharacteristicDescriptor#{c}"}
            for c in characteristics
        ],
    }


@pytest.fixture
def ods() -> Iterator[tuple[FakeOds, str, dict[str, dict]]]:
    ods = FakeOds()
    for school in SCHOOLS:
        for name in (FALL, SPRING, YEARLONG):
            ods.put(SESSIONS, session_record(school, name))
            for local in COURSES:
                ods.put(OFFERINGS, offering(school, local, name))
    ids: dict[str, dict] = {}
    for student, school, local, session, result in ENROLLED:
        ids[student] = ods.put(STSA, section(student, school, local, session))
        if result is not None:
            ods.put(TRANSCRIPTS, transcript(student, COURSES[local][0], session, *result))
    # Another year's enrollment: not this pull's.
    ods.put(STSA, section("900000001", 35001010, "WELD-2", FALL, year=YEAR - 1))
    # The names and birth dates are on students: never read.
    ods.put("students", {"studentUniqueId": "900000001", "firstName": "Zelda"})
    server, url = serve(ods)
    yield ods, url, ids
    server.shutdown()


def pull(con, url: str, landing: Path):
    return edfi_fake.pull(con, url, landing, CTE_COURSE_ENROLLMENT, page_size=5)


def current(con, district: str) -> list[tuple]:
    return con.execute(
        "select e.location_code, e.course_code, e.term, e.completed, e.credits_earned, "
        "e.dual_credit from raw.cte_course_enrollment e "
        "join raw.load_manifest m on m.manifest_id = e._manifest_id "
        "where m.status = 'LOADED' and e.district_code = ? order by all",
        [district],
    ).fetchall()


def test_a_full_pull_then_only_the_changes_reach_the_course_table(ods, warehouse, tmp_path, caplog):
    fake, url, ids = ods
    landing = tmp_path / "landing"
    caplog.set_level(logging.INFO)

    first = edfi_fake.first_pull(
        warehouse,
        fake,
        url,
        landing,
        CTE_COURSE_ENROLLMENT,
        loaded={"001": 6, "002": 3},
        page_size=5,
    )
    placement = first.placement
    assert (placement.placed, placement.other_years, placement.other_courses) == (9, 1, 1)
    assert sum(placement.unplaced.values()) == 1 and first.reconciles
    assert first.associations == 12
    d = Decimal
    assert current(warehouse, "001") == sorted(
        [
            ("010", "0111", "S1", "N", d("0.0"), "N"),
            ("010", "0111", "S1", "Y", d("1.0"), "N"),
            ("010", "0112", "S2", "N", d("0.0"), "N"),  # no transcript yet
            ("020", "0114", "YR", "Y", d("2.0"), "Y"),  # dual credit: the offering says so
            ("020", "0111", "S1", "N", d("0.0"), "N"),  # withdrawn, no credits recorded
            ("020", "0112", "S2", "N", d("0.0"), "N"),
        ]
    )
    assert current(warehouse, "002") == sorted(
        [
            ("010", "0114", "YR", "N", d("0.0"), "Y"),
            ("010", "0111", "S1", "Y", d("0.5"), "N"),
            ("010", "0112", "S2", "Y", d("1.0"), "N"),
        ]
    )
    assert warehouse.execute(
        "select count(*), min(length(student_id)) from raw.cte_course_enrollment"
    ).fetchone() == (9, 64)

    # On the server: a grade posted, an enrollment dropped, a quarter-long section added.
    loaded_version = fake.version
    fake.put(TRANSCRIPTS, transcript("900000003", "0112", SPRING, "Pass", 1.0))
    fake.delete(STSA, ids["900000002"]["id"])
    fake.put(SESSIONS, session_record(35002010, Q1))
    fake.put(OFFERINGS, offering(35002010, "WELD-1", Q1))
    fake.put(STSA, section("900000012", 35002010, "WELD-1", Q1))
    second = edfi_fake.next_pull(
        warehouse,
        fake,
        url,
        landing,
        CTE_COURSE_ENROLLMENT,
        since=loaded_version,
        served={
            f"/data/v3/ed-fi/{TRANSCRIPTS}": 1,
            f"/data/v3/ed-fi/{STSA}": 1,
            f"/data/v3/ed-fi/{STSA}/deletes": 1,
            f"/data/v3/ed-fi/{SESSIONS}": 1,
            f"/data/v3/ed-fi/{OFFERINGS}": 1,
        },
        page_size=5,
    )
    assert second.read == {TRANSCRIPTS: 1, STSA: 1, SESSIONS: 1, OFFERINGS: 1}
    assert second.deleted == {STSA: 1}
    by_district = {o.district_code: o for o in second.outcomes}
    assert by_district["001"].status is Status.LOADED and by_district["001"].rows_read == 5
    # The dropped enrollment left with district 001's submission; the grade came in.
    assert current(warehouse, "001")[:2] == [
        ("010", "0111", "S1", "Y", d("1.0"), "N"),
        ("010", "0112", "S2", "Y", d("1.0"), "N"),
    ]
    # A quarter has no contract term: the row is quarantined with the value shown (and, one
    # row in four, the submission is held for review as any file would be).
    held = by_district["002"]
    assert held.status is Status.HELD and held.reason_code is HoldReason.SET_ASIDE_SHARE
    assert (held.rows_read, held.rows_loaded, held.rows_quarantined) == (4, 3, 1)
    reasons = warehouse.execute(
        "select column_name, reason_code, value from raw.quarantine where manifest_id = ?",
        [held.manifest_id],
    ).fetchall()
    assert reasons == [("term", RowReason.UNKNOWN_CODE, "First Quarter")]
    for o in first.outcomes + second.outcomes:
        assert o.rows_read == o.rows_loaded + o.rows_quarantined

    manifest = warehouse.execute(
        "select source, source_resources, change_version_min from raw.load_manifest "
        "where manifest_id = ?",
        [held.manifest_id],
    ).fetchone()
    assert manifest == (
        "edfi",
        "studentSectionAssociations, sessions, courseOfferings, courseTranscripts",
        loaded_version + 1,
    )
    pulls = warehouse.execute(
        "select extract, resources, associations, placed, other_years, unplaced, "
        "unplaced_reasons from raw.edfi_pulls order by pull_id"
    ).fetchall()
    assert [p[:1] + p[2:6] for p in pulls] == [
        ("cte_course_enrollment", 12, 9, 1, 1),
        ("cte_course_enrollment", 12, 9, 1, 1),
    ]
    assert json.loads(pulls[0][1])[STSA] == {"read": 12, "deleted": 0, "other_courses": 1}
    assert json.loads(pulls[1][1])[STSA] == {"read": 1, "deleted": 1, "other_courses": 1}
    assert "not a Nova school id" in pulls[0][6]

    assert pull(warehouse, url, landing).window is None  # nothing new: nothing pulled
    # The two families keep their own mirrors and change versions.
    state = landing / "edfi" / ".state"
    assert Mirror.open(landing / "edfi", YEAR, CTE_COURSE_ENROLLMENT).path.exists()
    assert [p.name for p in state.iterdir()] == [f"cte_course_enrollment__{YEAR}.json"]
    # The mirror keeps only the fields the mapping reads: no letter grades.
    kept = state.joinpath(f"cte_course_enrollment__{YEAR}.json").read_text()
    assert "finalLetterGradeEarned" not in kept and "attemptedCredits" not in kept

    said = " ".join(
        [text_of(warehouse, t) for t in ("raw.load_manifest", "raw.quarantine", "raw.edfi_pulls")]
        + [caplog.text]
    )
    for personal in ("Zelda", "900000001", "900000007", "900000012"):
        assert personal not in said


def test_the_course_mapping_declares_terms_results_and_dual_credit():
    sessions = {
        "s1": session_record(35001010, FALL),
    }
    offerings = {"o1": offering(35001010, "WELD-1", FALL)}
    # The ODS keeps references whole; a session missing from the pull (a client not
    # authorized for it) leaves the term unknown.
    offerings["o2"] = offering(35001010, "WELD-1", "No Such Session")
    moved = section("1", 35001010, "WELD-1", FALL)
    moved["beginDate"] = f"{YEAR}-01-06"
    # Data Standard 5.2: dual credit on the section association itself (an inline common).
    moved["dualCreditIndicator"] = True
    records = {
        STSA: {
            "a": section("1", 35001010, "WELD-1", FALL),
            "b": moved,  # a section change: the latest begin date is the row
            "c": section("2", 35001010, "WELD-1", "No Such Session"),
            "d": section("3", 35001010, "LOCAL-W3", FALL),  # no offering: the local code
        },
        SESSIONS: sessions,
        OFFERINGS: offerings,
        TRANSCRIPTS: {"t": transcript("1", "0111", FALL, "Passed With Honors", 1.0)},
    }
    placement = place_course_enrollments(records, YEAR, frozenset({"0111"}))
    assert placement.earlier_entries == 1 and placement.other_courses == 1
    rows = {r["student_id"]: r for r in placement.rows["001"]}
    assert set(rows) == {"1", "2"}
    # An unknown result is kept as Ed-Fi says it: the completed code-set rule quarantines it.
    assert rows["1"]["completed"] == "Passed With Honors" and rows["1"]["dual_credit"] == "Y"
    assert rows["1"]["credits_earned"] == "1.0"
    # No session with that name: the session name stands for the term, and is quarantined.
    assert rows["2"]["term"] == "No Such Session" and rows["2"]["completed"] == "N"


def test_the_course_sensor_requests_its_own_pull(ods, monkeypatch):
    import dagster as dg

    from dagster_project.jobs import edfi_jobs
    from dagster_project.sensors import build_edfi_sensor
    from dagster_project.settings import get_settings

    fake, url, _ = ods
    configure(monkeypatch, url)
    sensor = build_edfi_sensor(edfi_jobs["cte_course_enrollment"], extract="cte_course_enrollment")
    assert sensor.name == "edfi_cte_course_enrollment_changed"
    with dg.DagsterInstance.ephemeral() as instance:
        # Each tick's settings, as the code location hands them down: the environment's.
        context = dg.build_sensor_context(instance=instance, resources={"settings": get_settings()})
        first = sensor(context)
        [request] = first.run_requests
        assert request.run_key == f"edfi-cte_course_enrollment-{YEAR}-{fake.version}"
        assert request.job_name == "load_edfi_cte_course_enrollment"
        assert request.tags["cte/actor"] == "sensor:edfi_cte_course_enrollment_changed"


def test_cte_pull_extract_loads_the_courses(ods, cte_home, monkeypatch, dbt_manifest, capfd):
    """`cte pull --extract cte_course_enrollment`: the job its sensor starts."""
    from dagster_project.cli import main
    from dagster_project.ingest.edfi.mapping import FAMILIES

    _, url, _ = ods
    monkeypatch.setenv("DAGSTER_HOME", str(cte_home.dagster_home))
    monkeypatch.chdir(cte_home.home)
    configure(monkeypatch, url)
    main(["pull", "--extract", "cte_course_enrollment"])
    said = capfd.readouterr()
    out = said.out + said.err
    assert "cte pull: 2 file(s) read: 2 current" in out
    assert "9 rows loaded; 4 checks passed; failed: associations_placed" in out
    logged = " ".join(p.read_text() for p in cte_home.logs_dir.iterdir())
    assert "900000001" not in logged and "Zelda" not in logged
    with pytest.raises(SystemExit):
        main(["pull", "--extract", "wage_records"])
    assert {"student_enrollment", "cte_course_enrollment"} <= set(FAMILIES)
