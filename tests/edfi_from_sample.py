"""The sample generator's students as Ed-Fi records: the inverse of
``dagster_project/ingest/edfi/mapping.py`` for the four families Nova serves
(``student_enrollment``, ``cte_course_enrollment``, ``credential_attainment``,
``assessment_results``), for the equivalence test (tests/test_edfi_equivalence.py, decision 0022).

Each landed file is read as the loader reads it (its layout, leading zeros restored), and
each contract row becomes the records the mapping would read it back from. The Ed-Fi code
values and field names are written out here (``CODE_VALUES``: the Data Standard's
descriptors, and New Mexico's extension as decision 0022 reads it), not read from
``mapping.DESCRIPTORS``: an inverse derived from the mapping's own tables would agree with
a wrong row of them. One ODS holds every school year: a student's education organization
association is one for all years (the flags by period).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from edfi_fake import special_program_association

from dagster_project.contracts import get_extract
from dagster_project.ingest.codes import restore_leading_zeros
from dagster_project.ingest.edfi.mapping import (
    ASSESSMENTS,
    CREDENTIALS,
    OFFERINGS,
    SCTEPA,
    SEOA,
    SESSIONS,
    SSA,
    STSA,
    STUDENT_ASSESSMENTS,
    TRANSCRIPTS,
)
from dagster_project.ingest.landing import landing_path, list_landed, parse_file_name
from dagster_project.ingest.reader import read_landed_file

ED = "uri://ed-fi.org/"
NM = "uri://nmped.org/"
EDFI_EXTRACTS = (
    "student_enrollment",
    "cte_course_enrollment",
    "credential_attainment",
    "assessment_results",
)
CTE_PROGRAM = f"{ED}ProgramTypeDescriptor#Career and Technical Education"
STATE = "35"  # Nova's state education organization id, the prefix of its district and school ids
STATE_ORGANIZATION = int(STATE)
# Races written for a MULTIRACIAL student: any two make the mapping say MULTIRACIAL.
TWO_RACES = ("American Indian or Alaska Native", "White")
DISABILITY = f"{ED}DisabilityDescriptor#Specific Learning Disability"

Row = dict[str, str | None]
Records = dict[str, list[dict[str, Any]]]


# --- reading the sample --------------------------------------------------------------


def latest_files(landing: Path, extract_name: str) -> list[Path]:
    """The current submission of each slice (a resubmission replaces its slice)."""
    latest: dict[tuple[str, str, int], tuple[datetime, Path]] = {}
    for path in list_landed(landing, get_extract(extract_name)):
        landed = parse_file_name(path)
        if landed.slice_key not in latest or latest[landed.slice_key][0] < landed.submitted_at:
            latest[landed.slice_key] = (landed.submitted_at, path)
    return [path for _, path in latest.values()]


def contract_rows(landing: Path, extract_name: str) -> list[Row]:
    """Every current row of the extract in the landing zone, contract columns as text, as
    the loader reads them (its layouts, e.g. the STARS credential template)."""
    extract = get_extract(extract_name)
    rows: list[Row] = []
    for path in latest_files(landing, extract_name):
        frame = read_landed_file(parse_file_name(path)).frame
        frame, _ = restore_leading_zeros(extract, frame)
        columns = [c for c in extract.column_names if c in frame.columns]
        rows += frame.select(columns).to_dicts()
    return rows


def without_edfi_families(sample: Path, landing: Path) -> None:
    """The sample's landing zone without the files of the families Nova serves."""
    shutil.copytree(sample, landing)
    for name in EDFI_EXTRACTS:
        shutil.rmtree(landing_path(landing, get_extract(name)))


# --- descriptors and references --------------------------------------------------------


# descriptor -> {contract code: the Ed-Fi code value a district's SIS would send}
CODE_VALUES: dict[str, dict[str, str]] = {
    "GradeLevelDescriptor": {
        "06": "Sixth grade",
        "07": "Seventh grade",
        "08": "Eighth grade",
        "09": "Ninth grade",
        "10": "Tenth grade",
        "11": "Eleventh grade",
        "12": "Twelfth grade",
    },
    "SexDescriptor": {"F": "Female", "M": "Male", "X": "Non-binary"},
    "RaceDescriptor": {
        "AMERICAN_INDIAN": "American Indian or Alaska Native",
        "ASIAN": "Asian",
        "BLACK": "Black or African American",
        "PACIFIC_ISLANDER": "Native Hawaiian or Pacific Islander",
        "WHITE": "White",
    },
    # CONTINUING: no exit at all (no type, no date).
    "ExitWithdrawTypeDescriptor": {
        "GRADUATED": "Graduated",
        "DROPPED": "Dropout",
        "TRANSFERRED_OUT": "Transferred",
        "OTHER": "Withdrawn",
    },
    "LimitedEnglishProficiencyDescriptor": {"Y": "Limited", "N": "NotLimited"},
    "TermDescriptor": {
        "S1": "Fall Semester",
        "S2": "Spring Semester",
        "YR": "Year Round",
        "SUM": "Summer Semester",
    },
    "CourseAttemptResultDescriptor": {"Y": "Pass", "N": "Fail"},
    "CredentialDeliveryMethodDescriptor": {"CG": "College Granted", "IS": "Industry Standard"},
    "AcademicSubjectDescriptor": {
        "RLA": "English Language Arts",
        "MATH": "Mathematics",
        "SCI": "Science",
    },
    # New Mexico's levels for its state tests (Novice, Nearing Proficiency, Proficient,
    # Advanced): a district's SIS would send one of them.
    "PerformanceLevelDescriptor": {"Y": "Proficient", "N": "Nearing Proficiency"},
}
# The special-population flags held as StudentCharacteristicDescriptor code values
# (english_learner and disability have fields of their own).
CHARACTERISTIC_OF_FLAG = {
    "economically_disadvantaged": "Economic Disadvantaged",
    "homeless": "Homeless",
    "foster_care": "Foster Care",
    "military_connected": "Parent in Military",
    "migrant": "Migrant",
    "single_parent": "Single Parent",
}
# The flags a special population's program association holds (a second source beside the
# education organization association): flag -> the association resource. Half the students
# (``by_program``) have these four flags served as program associations, the other half as
# characteristics and fields of their education organization association.
PROGRAM_OF_FLAG = {
    "disability": "studentSpecialEducationProgramAssociations",
    "migrant": "studentMigrantEducationProgramAssociations",
    "english_learner": "studentLanguageInstructionProgramAssociations",
    "homeless": "studentHomelessProgramAssociations",
}
# New Mexico's credential extension, as decision 0022 reads it.
CREDENTIAL_ASSOCIATION = "studentCTEProgramAssociationReference"


def code_value(descriptor: str, contract_code: str) -> str:
    return CODE_VALUES[descriptor][contract_code]


def descriptor_uri(descriptor: str, contract_code: str, namespace: str = ED) -> str:
    return f"{namespace}{descriptor}#{code_value(descriptor, contract_code)}"


def school_id(row: Row) -> int:
    return int(f"{STATE}{row['district_code']}{row['location_code']}")


def district_id(district_code: str) -> int:
    return int(f"{STATE}{district_code}")


def school_year(row: Row) -> int:
    return int(str(row["school_year"]))


def student_reference(row: Row) -> dict[str, Any]:
    return {"studentUniqueId": row["student_id"]}


def first_day(year: int) -> str:
    return f"{year - 1}-08-12"


# --- student_enrollment ----------------------------------------------------------------


def school_association(row: Row) -> dict[str, Any]:
    """studentSchoolAssociations: school, year, grade, cohort, exit."""
    year = school_year(row)
    record: dict[str, Any] = {
        "schoolReference": {"schoolId": school_id(row)},
        "studentReference": student_reference(row),
        "entryDate": first_day(year),
        "entryGradeLevelDescriptor": descriptor_uri(
            "GradeLevelDescriptor", str(row["grade_level"])
        ),
        "schoolYearTypeReference": {"schoolYear": year},
    }
    if row["cohort_year"] is not None:
        record["classOfSchoolYearTypeReference"] = {"schoolYear": int(row["cohort_year"])}
    exit_code = str(row["exit_code"])
    if exit_code != "CONTINUING":
        record["exitWithdrawTypeDescriptor"] = descriptor_uri(
            "ExitWithdrawTypeDescriptor", exit_code
        )
    if row["exit_date"] is not None:
        record["exitWithdrawDate"] = row["exit_date"]
    return record


def races(row: Row) -> tuple[bool, list[dict[str, str]]]:
    """hispanicLatinoEthnicity and races for the contract's race_ethnicity (a Hispanic
    student has a race too, as Ed-Fi asks for both: the ethnicity decides)."""
    race = str(row["race_ethnicity"])
    if race == "HISPANIC":
        return True, [{"raceDescriptor": f"{ED}RaceDescriptor#White"}]
    names = TWO_RACES if race == "MULTIRACIAL" else (code_value("RaceDescriptor", race),)
    return False, [{"raceDescriptor": f"{ED}RaceDescriptor#{name}"} for name in names]


def by_program(student_id: object) -> bool:
    """Whether the student's special populations are served as program associations (half
    the students, by the last digit of their ID)."""
    return str(student_id)[-1] in "02468"


def characteristics(rows: list[Row], skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The flags set in any of the student's rows (but ``skip``), each held for the school
    years whose row sets it (a period inside each)."""
    held = []
    for flag, code in CHARACTERISTIC_OF_FLAG.items():
        if flag in skip:
            continue
        years = sorted({school_year(row) for row in rows if row[flag] == "Y"})
        if years:
            periods = [{"beginDate": first_day(y), "endDate": f"{y}-05-29"} for y in years]
            held.append(
                {
                    "studentCharacteristicDescriptor": (
                        f"{ED}StudentCharacteristicDescriptor#{code}"
                    ),
                    "periods": periods,
                }
            )
    return held


# One district association holds the student's sex, race, English proficiency and
# disability for every year (none of them has periods): the student's rows must agree on
# them. The characteristics have periods: they must agree within a year only.
STEADY = ("sex", "race_ethnicity", "english_learner", "disability")


def check_representable(rows: list[Row]) -> None:
    """The rows of one student in one district fit in one district association (and, for a
    student ``by_program``, program associations: English learner and disability by year)."""
    steady = STEADY[:2] if by_program(rows[0]["student_id"]) else STEADY
    differ = [c for c in steady if len({row[c] for row in rows}) > 1]
    for year in {school_year(row) for row in rows}:
        same_year = [row for row in rows if school_year(row) == year]
        differ += [f for f in CHARACTERISTIC_OF_FLAG if len({row[f] for row in same_year}) > 1]
    assert not differ, f"one district association cannot hold these rows: {differ}"


def organization_association(rows: list[Row]) -> dict[str, Any]:
    """studentEducationOrganizationAssociations at the district: sex, race, flags."""
    check_representable(rows)
    first = rows[0]
    hispanic, race_list = races(first)
    if by_program(first["student_id"]):  # the four flags are in program associations
        first = {**first, "english_learner": "N", "disability": "N"}
    skip = PROGRAM_OF_FLAG if by_program(first["student_id"]) else ()
    return {
        "educationOrganizationReference": {
            "educationOrganizationId": district_id(str(first["district_code"]))
        },
        "studentReference": student_reference(first),
        "sexDescriptor": descriptor_uri("SexDescriptor", str(first["sex"])),
        "hispanicLatinoEthnicity": hispanic,
        "races": race_list,
        "studentCharacteristics": characteristics(rows, skip),
        "limitedEnglishProficiencyDescriptor": descriptor_uri(
            "LimitedEnglishProficiencyDescriptor", str(first["english_learner"])
        ),
        "disabilities": [{"disabilityDescriptor": DISABILITY}]
        if first["disability"] == "Y"
        else [],
    }


def program_associations(rows: list[Row], last_year: int) -> Records:
    """The program associations of a student ``by_program`` in one district: one per flag
    and school year whose row sets it, from the first day to the end of May; at the
    district in even years, at the school in odd ones; the sample's last year's open-ended
    (no endDate: still in the program)."""
    records: Records = defaultdict(list)
    for year in sorted({school_year(row) for row in rows}):
        row = next(r for r in rows if school_year(r) == year)
        organization = school_id(row) if year % 2 else district_id(str(row["district_code"]))
        end = None if year == last_year else f"{year}-05-29"
        for flag, resource in PROGRAM_OF_FLAG.items():
            if row[flag] == "Y":
                records[resource].append(
                    special_program_association(
                        resource, str(row["student_id"]), organization, first_day(year), end
                    )
                )
    return records


def enrollment_records(rows: list[Row]) -> Records:
    """One school association per row; one district association per student and district,
    for all the student's years and schools there; for half the students, the special
    populations as program associations (``by_program``)."""
    by_student: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_student[(str(row["student_id"]), str(row["district_code"]))].append(row)
    last_year = max(school_year(row) for row in rows)
    records: Records = {
        SSA: [school_association(row) for row in rows],
        SEOA: [organization_association(student_rows) for student_rows in by_student.values()],
    } | {resource: [] for resource in PROGRAM_OF_FLAG.values()}
    for (student, _), student_rows in by_student.items():
        if by_program(student):
            for resource, items in program_associations(student_rows, last_year).items():
                records[resource] += items
    return records


# --- cte_course_enrollment -------------------------------------------------------------


def session_name(year: int, term: str) -> str:
    return f"{year - 1}-{year} {code_value('TermDescriptor', term)}"


def local_course_code(course_code: str) -> str:
    """A district's own code for the course: the offering maps it to the state's."""
    return f"L{course_code}"


def section_reference(row: Row) -> dict[str, Any]:
    year = school_year(row)
    local = local_course_code(str(row["course_code"]))
    session = session_name(year, str(row["term"]))
    return {
        "localCourseCode": local,
        "schoolId": school_id(row),
        "schoolYear": year,
        "sectionIdentifier": f"{local}-{row['term']}-01",
        "sessionName": session,
    }


def section_association(row: Row) -> dict[str, Any]:
    """Data Standard 5.2: DualCredit is an inline common, its indicator the association's own
    property (``dualCreditIndicator``)."""
    year = school_year(row)
    return {
        "sectionReference": section_reference(row),
        "studentReference": student_reference(row),
        "beginDate": first_day(year),
        "dualCreditIndicator": row["dual_credit"] == "Y",
    }


# term -> its first and last day (years before the school year's end, month-day) and its
# instructional days: a session requires them (Data Standard 5); the mapping reads none.
TERM_DAYS: dict[str, tuple[tuple[int, str], tuple[int, str], int]] = {
    "S1": ((1, "08-12"), (1, "12-19"), 85),
    "S2": ((0, "01-06"), (0, "05-29"), 90),
    "YR": ((1, "08-12"), (0, "05-29"), 175),
    "SUM": ((0, "06-02"), (0, "06-26"), 19),
}


def _day(year: int, day: tuple[int, str]) -> str:
    back, month_day = day
    return f"{year - back}-{month_day}"


def session(row: Row) -> dict[str, Any]:
    year = school_year(row)
    first, last, days = TERM_DAYS[str(row["term"])]
    return {
        "schoolReference": {"schoolId": school_id(row)},
        "schoolYearTypeReference": {"schoolYear": year},
        "sessionName": session_name(year, str(row["term"])),
        "termDescriptor": descriptor_uri("TermDescriptor", str(row["term"])),
        "beginDate": _day(year, first),
        "endDate": _day(year, last),
        "totalInstructionalDays": days,
    }


def course_offering(row: Row) -> dict[str, Any]:
    section = section_reference(row)
    return {
        "localCourseCode": section["localCourseCode"],
        "schoolReference": {"schoolId": section["schoolId"]},
        "sessionReference": {
            "schoolId": section["schoolId"],
            "schoolYear": section["schoolYear"],
            "sessionName": section["sessionName"],
        },
        "courseReference": {
            "courseCode": row["course_code"],
            "educationOrganizationId": STATE_ORGANIZATION,
        },
        "courseLevelCharacteristics": [],
    }


def course_transcript(row: Row) -> dict[str, Any]:
    """The result (completed Y: Pass, N: Fail) and the credits earned."""
    return {
        "courseReference": {
            "courseCode": row["course_code"],
            "educationOrganizationId": STATE_ORGANIZATION,
        },
        "studentAcademicRecordReference": {
            "educationOrganizationId": district_id(str(row["district_code"])),
            "schoolYear": school_year(row),
            "studentUniqueId": row["student_id"],
            "termDescriptor": descriptor_uri("TermDescriptor", str(row["term"])),
        },
        "courseAttemptResultDescriptor": descriptor_uri(
            "CourseAttemptResultDescriptor", str(row["completed"])
        ),
        "earnedCredits": float(str(row["credits_earned"])),
    }


def unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records once each (a session or an offering is shared by its students)."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        seen.setdefault(repr(sorted(record.items())), record)
    return list(seen.values())


def course_records(rows: list[Row]) -> Records:
    return {
        STSA: [section_association(row) for row in rows],
        SESSIONS: unique(session(row) for row in rows),
        OFFERINGS: unique(course_offering(row) for row in rows),
        TRANSCRIPTS: [course_transcript(row) for row in rows],
    }


# --- credential_attainment --------------------------------------------------------------


def program_name(row: Row) -> str:
    return f"CTE {row['cip_code']}"


def program_association(row: Row) -> dict[str, Any]:
    """studentCTEProgramAssociations: the student's program at the school, its CIP code."""
    return {
        "studentReference": student_reference(row),
        "educationOrganizationReference": {"educationOrganizationId": school_id(row)},
        "programReference": {
            "educationOrganizationId": STATE_ORGANIZATION,
            "programName": program_name(row),
            "programTypeDescriptor": CTE_PROGRAM,
        },
        "beginDate": first_day(school_year(row)),
        "cteProgramServices": [
            {
                "cteProgramServiceDescriptor": f"{ED}CTEProgramServiceDescriptor#Other",
                "cipCode": row["cip_code"],
                "primaryIndicator": True,
            }
        ],
    }


def credential(row: Row) -> dict[str, Any]:
    """New Mexico's extension record: the credential, its date, how it
    was delivered and whether it was verified (absent when the row does not say)."""
    record: dict[str, Any] = {
        CREDENTIAL_ASSOCIATION: {
            "beginDate": first_day(school_year(row)),
            "educationOrganizationId": school_id(row),
            "programEducationOrganizationId": STATE_ORGANIZATION,
            "programName": program_name(row),
            "programTypeDescriptor": CTE_PROGRAM,
            "studentUniqueId": row["student_id"],
        },
        "industryCredentialDescriptor": (
            f"{NM}IndustryCredentialDescriptor#{row['credential_code']}"
        ),
        "earnedDate": row["earned_date"],
        "credentialDeliveryMethodDescriptor": descriptor_uri(
            "CredentialDeliveryMethodDescriptor", str(row["delivery_method"]), NM
        ),
    }
    if row["verified"] is not None:
        record["verifiedIndicator"] = row["verified"] == "Y"
    return record


def credential_records(rows: list[Row]) -> Records:
    return {
        CREDENTIALS: [credential(row) for row in rows],
        SCTEPA: unique(program_association(row) for row in rows),
    }


# --- assessment_results -----------------------------------------------------------------

# New Mexico's state tests, as decision 0022 reads them: the test of a subject, by its
# identifier (NM-MSSA, NM-ASR) and category.
STATE_TESTS = {
    "RLA": "NM-MSSA-ELA",
    "MATH": "NM-MSSA-MATH",
    "SCI": "NM-ASR-SCI",
}
STATE_TEST_NAMESPACE = f"{NM}Assessment"
STATE_TEST_CATEGORY = f"{ED}AssessmentCategoryDescriptor#State summative assessment 3-8 general"
# The contract row names no school; a result is reported for a school of the district.
ASSESSED_SCHOOL = "001"


def assessment_reference(subject: str) -> dict[str, str]:
    return {"assessmentIdentifier": STATE_TESTS[subject], "namespace": STATE_TEST_NAMESPACE}


def state_assessment(subject: str) -> dict[str, Any]:
    """assessments: the state test of a subject."""
    return {
        **assessment_reference(subject),
        "assessmentTitle": STATE_TESTS[subject],
        "assessmentCategoryDescriptor": STATE_TEST_CATEGORY,
        "academicSubjects": [
            {"academicSubjectDescriptor": descriptor_uri("AcademicSubjectDescriptor", subject)}
        ],
    }


def student_assessment(row: Row) -> dict[str, Any]:
    """studentAssessments: the student's scale score and performance level on the state
    test of the row's subject, reported for a school of the district."""
    year = school_year(row)
    subject = str(row["subject"])
    return {
        "studentAssessmentIdentifier": f"{STATE_TESTS[subject]}-{year}-{row['student_id']}",
        "assessmentReference": assessment_reference(subject),
        "studentReference": student_reference(row),
        "schoolYearTypeReference": {"schoolYear": year},
        "administrationDate": f"{year}-04-15T09:00:00Z",  # a date-time in Data Standard 5
        "reportedSchoolReference": {
            "schoolId": int(f"{STATE}{row['district_code']}{ASSESSED_SCHOOL}")
        },
        "scoreResults": [
            {
                "assessmentReportingMethodDescriptor": (
                    f"{ED}AssessmentReportingMethodDescriptor#Scale score"
                ),
                "result": str(row["scale_score"]),
                "resultDatatypeTypeDescriptor": f"{ED}ResultDatatypeTypeDescriptor#Integer",
            }
        ],
        "performanceLevels": [
            {
                "assessmentReportingMethodDescriptor": (
                    f"{ED}AssessmentReportingMethodDescriptor#Proficiency level"
                ),
                "performanceLevelDescriptor": descriptor_uri(
                    "PerformanceLevelDescriptor", str(row["proficient"]), NM
                ),
            }
        ],
    }


def assessment_records(rows: list[Row]) -> Records:
    subjects = sorted({str(row["subject"]) for row in rows})
    return {
        STUDENT_ASSESSMENTS: [student_assessment(row) for row in rows],
        ASSESSMENTS: [state_assessment(subject) for subject in subjects],
    }


INVERSES = {
    "student_enrollment": enrollment_records,
    "cte_course_enrollment": course_records,
    "credential_attainment": credential_records,
    "assessment_results": assessment_records,
}


def ods_records(landing: Path) -> tuple[Records, list[int]]:
    """The Ed-Fi records of the four families' rows in ``landing`` (one ODS for all school
    years, as Nova serves them without ``CTE_EDFI_YEAR_SPECIFIC``), and the school years."""
    records: Records = {}
    years: set[int] = set()
    for extract_name, inverse in INVERSES.items():
        rows = contract_rows(landing, extract_name)
        records |= inverse(rows)
        years |= {school_year(row) for row in rows}
    return records, sorted(years)
