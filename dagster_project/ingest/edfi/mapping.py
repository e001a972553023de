"""From Nova's Ed-Fi resources to the raw extract contract, declared as data (decision 0022).

Ed-Fi Data Standard 5.x (ODS/API 7), as New Mexico's Nova resources carry it. One
``studentSchoolAssociations`` record (a student enrolled at a school in a year) becomes one
``student_enrollment`` row; the student's ``studentEducationOrganizationAssociations``
record at the district (else at the school) gives sex, race and the special populations,
which the student's program associations of the year (special education, migrant, language
instruction, homeless: ``PROGRAM_FLAGS``) can set too.
The ``students`` resource is not read: what it adds for this extract is the name and birth
date, which the contract drops at load anyway.

A descriptor without an entry below is written as its code value ('Not Selected'), so the
load's code-set expectation quarantines the row with the value shown, like an unknown code
in a landed file. A record that names no New Mexico school cannot be placed in any
district's submission: it is counted and given a reason on the pull (``Placement``).

``cte_course_enrollment`` (second slice, below): one ``studentSectionAssociations`` record
in a CTE course becomes one row; its session gives the term, its course offering the
course code, the student's ``courseTranscripts`` record the result and credits. Each
extract's resources are a ``ResourceFamily`` (end of the module): the pull runs the same
way for each.

``credential_attainment`` (third slice): one record of New Mexico's extension resource
``nmped/studentCTEProgramAssociationCredentials`` (a credential earned in a CTE program;
its shape is our reading, not public: ``CREDENTIAL_FIELDS``) becomes one row; the
``studentCTEProgramAssociations`` record it names gives the CIP code.

``assessment_results`` (fourth slice): one ``studentAssessments`` record of a state test in
a tested subject becomes one row; its ``assessments`` record gives the subject.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster_project.contracts import FLAGS, Extract, get_extract

EXTRACT = get_extract("student_enrollment")
SSA = "studentSchoolAssociations"
SEOA = "studentEducationOrganizationAssociations"
# student_enrollment's resources: SSA, SEOA and the special populations' program
# associations (PROGRAM_FLAGS; RESOURCES is set beside that table).

COURSE_EXTRACT = get_extract("cte_course_enrollment")
STSA = "studentSectionAssociations"
SESSIONS = "sessions"
OFFERINGS = "courseOfferings"
TRANSCRIPTS = "courseTranscripts"
COURSE_RESOURCES = (STSA, SESSIONS, OFFERINGS, TRANSCRIPTS)

CREDENTIAL_EXTRACT = get_extract("credential_attainment")
# A resource of another namespace than ed-fi is named <namespace>/<resource> (the route is
# /data/v3/<namespace>/<resource>). New Mexico's extension: name and shape unconfirmed.
CREDENTIALS = "nmped/studentCTEProgramAssociationCredentials"
SCTEPA = "studentCTEProgramAssociations"
CREDENTIAL_RESOURCES = (CREDENTIALS, SCTEPA)

ASSESSMENT_EXTRACT = get_extract("assessment_results")
STUDENT_ASSESSMENTS = "studentAssessments"
ASSESSMENTS = "assessments"
ASSESSMENT_RESOURCES = (STUDENT_ASSESSMENTS, ASSESSMENTS)
# The extension's fields, our reading (decision 0022): contract meaning -> JSON name. One
# edit here when PED's Nova documentation says otherwise.
CREDENTIAL_FIELDS = {
    "association": "studentCTEProgramAssociationReference",
    "credential": "industryCredentialDescriptor",  # code value = PED's credential code
    "earned_date": "earnedDate",
    "delivery_method": "credentialDeliveryMethodDescriptor",
    "verified": "verifiedIndicator",
}

# The fields the mapping reads: the pull keeps no other (an SEOA also carries addresses,
# telephones and e-mail addresses, which no extract needs).
KEPT_FIELDS: dict[str, tuple[str, ...]] = {
    SSA: (
        "id",
        "schoolReference",
        "studentReference",
        "entryDate",
        "entryGradeLevelDescriptor",
        "schoolYearTypeReference",
        "classOfSchoolYearTypeReference",
        "exitWithdrawDate",
        "exitWithdrawTypeDescriptor",
    ),
    SEOA: (
        "id",
        "educationOrganizationReference",
        "studentReference",
        "sexDescriptor",
        "hispanicLatinoEthnicity",
        "races",
        "studentCharacteristics",
        "limitedEnglishProficiencyDescriptor",
        "disabilities",
    ),
    # cte_course_enrollment: the section enrollment (the spine), the session of the section
    # (its term), the course offering (the course code behind the local code, and its
    # course level characteristics), the transcript (result and credits).
    STSA: (
        "id",
        "sectionReference",
        "studentReference",
        "beginDate",
        "endDate",
        "dualCreditIndicator",
    ),
    SESSIONS: ("id", "schoolReference", "schoolYearTypeReference", "sessionName", "termDescriptor"),
    OFFERINGS: (
        "id",
        "localCourseCode",
        "schoolReference",
        "sessionReference",
        "courseReference",
        "courseLevelCharacteristics",
    ),
    TRANSCRIPTS: (
        "id",
        "courseReference",
        "studentAcademicRecordReference",
        "courseAttemptResultDescriptor",
        "earnedCredits",
    ),
    # credential_attainment: the credential (the spine) and the CTE program association it
    # belongs to (the CIP code). DS 5.x carries the CIP in cteProgramServices; DS 3 and 4
    # in ctePrograms (both read).
    CREDENTIALS: ("id", *CREDENTIAL_FIELDS.values()),
    SCTEPA: (
        "id",
        "studentReference",
        "educationOrganizationReference",
        "programReference",
        "beginDate",
        "cteProgramServices",
        "ctePrograms",
    ),
    # assessment_results: the student's result (the spine) and the assessment it is a
    # result of (subject, category). DS 5 names the school reportedSchoolReference (or, a
    # vendor's, reportedSchoolIdentifier), DS 3 and 4 schoolReference (all read).
    STUDENT_ASSESSMENTS: (
        "id",
        "assessmentReference",
        "studentReference",
        "schoolYearTypeReference",
        "administrationDate",
        "scoreResults",
        "performanceLevels",
        "reportedSchoolReference",
        "reportedSchoolIdentifier",
        "schoolReference",
    ),
    ASSESSMENTS: (
        "id",
        "assessmentIdentifier",
        "namespace",
        "academicSubjects",
        "assessmentCategoryDescriptor",
    ),
}

# Nova's education organization ids (PED's publishing guides for SIS vendors): a school is
# 35 + the three-digit district (LEA) number + the three-digit school number, 35001010;
# a district is 35 + its number, 35001 (the district id is our reading; see decision 0022).
STATE_PREFIX = "35"

# descriptor name -> {code value: contract code}
DESCRIPTORS: dict[str, dict[str, str]] = {
    "GradeLevelDescriptor": {
        "Sixth grade": "06",
        "Seventh grade": "07",
        "Eighth grade": "08",
        "Ninth grade": "09",
        "Tenth grade": "10",
        "Eleventh grade": "11",
        "Twelfth grade": "12",
    },
    # 'Not Selected' has no contract code: such rows are quarantined (UNKNOWN_CODE).
    "SexDescriptor": {"Female": "F", "Male": "M", "Non-binary": "X"},
    "RaceDescriptor": {
        "American Indian or Alaska Native": "AMERICAN_INDIAN",
        "Asian": "ASIAN",
        "Black or African American": "BLACK",
        "Native Hawaiian or Pacific Islander": "PACIFIC_ISLANDER",
        "White": "WHITE",
    },
    "ExitWithdrawTypeDescriptor": {
        "Graduated": "GRADUATED",
        "Dropout": "DROPPED",
        "Transferred": "TRANSFERRED_OUT",
        # Enrolled to the last day: the student continues (no exit date, as in STARS).
        "End of school year": "CONTINUING",
        "Completed": "OTHER",
        "Died or is permanently incapacitated": "OTHER",
        "Enrolled in a high school diploma program": "OTHER",
        "Expelled": "OTHER",
        "Incarcerated": "OTHER",
        "Invalid enrollment": "OTHER",
        "Involuntarily Removed": "OTHER",
        "No show": "OTHER",
        "Other": "OTHER",
        "Reached maximum age": "OTHER",
        "Withdrawn": "OTHER",
    },
    "LimitedEnglishProficiencyDescriptor": {
        "Limited": "Y",
        "Limited Monitored 1": "N",
        "Limited Monitored 2": "N",
        "NotLimited": "N",
    },
    # The contract's terms are S1, S2, YR, SUM. Quarters, trimesters, 'Semester', 'MiniTerm'
    # and 'Other' have no contract code: written as Ed-Fi says them, so the row is
    # quarantined with the value shown (UNKNOWN_CODE).
    "TermDescriptor": {
        "Fall Semester": "S1",
        "Spring Semester": "S2",
        "Year Round": "YR",
        "Summer Semester": "SUM",
    },
    # completed: Pass = Y; Fail, Incomplete, Withdrawn = N.
    "CourseAttemptResultDescriptor": {
        "Pass": "Y",
        "Fail": "N",
        "Incomplete": "N",
        "Withdrawn": "N",
    },
    # New Mexico's descriptor (unconfirmed): college-granted certificate CG, industry-standard
    # third-party assessment IS; the contract codes themselves are taken as they are.
    "CredentialDeliveryMethodDescriptor": {
        "College Granted": "CG",
        "Industry Standard": "IS",
        "CG": "CG",
        "IS": "IS",
    },
    # assessment_results' subject: the assessment's academicSubjects. Writing, Critical
    # Reading and the other subjects are not tested for Perkins: their results are skipped
    # (counted with a reason), not quarantined.
    "AcademicSubjectDescriptor": {
        "English Language Arts": "RLA",
        "Reading": "RLA",
        "Mathematics": "MATH",
        "Science": "SCI",
    },
    # proficient: the level the student reached. The Data Standard's levels (ed-fi.org) and
    # New Mexico's four (NM-MSSA, NM-ASR: Novice, Nearing Proficiency, Proficient, Advanced;
    # their namespace unconfirmed: only the code value is compared). Another level is
    # written as is (quarantined, UNKNOWN_CODE).
    "PerformanceLevelDescriptor": {
        "Advanced": "Y",
        "Proficient": "Y",
        "Met Standard": "Y",
        "Commended Performance": "Y",
        "Basic": "N",
        "Below Basic": "N",
        "Well Below Basic": "N",
        "Did Not Meet Standard": "N",
        "Unsatisfactory": "N",
        "Minimum": "N",
        "Novice": "N",
        "Nearing Proficiency": "N",
    },
}
# CourseLevelCharacteristicDescriptor code values read on a course offering: a course
# offering that carries CTE is a CTE course even when its code is not in the course seed
# (then the course_code_known rule quarantines it with the code shown); one that carries
# Dual Credit makes its enrollments dual credit (Data Standard 5.0 and 5.1 have no
# dual credit on the student's section association; 5.2 does: its DualCredit common is
# inline, so the indicator is the association's own ``dualCreditIndicator``).
CTE_CHARACTERISTIC = "Career and Technical Education"
DUAL_CREDIT_CHARACTERISTIC = "Dual Credit"
# Special-population flag -> the StudentCharacteristicDescriptor code value that sets it.
# english_learner and disability have their own fields (below); 'Migrant' is not an
# ed-fi.org characteristic (Nova keeps migrant students in a program association): the name
# is what a New Mexico namespace would use, unconfirmed (decision 0022).
CHARACTERISTICS: dict[str, str] = {
    "economically_disadvantaged": "Economic Disadvantaged",
    "homeless": "Homeless",
    "foster_care": "Foster Care",
    "military_connected": "Parent in Military",
    "migrant": "Migrant",
    "single_parent": "Single Parent",
}
assert set(CHARACTERISTICS) | {"english_learner", "disability"} == set(FLAGS)
# The second source of the flags: program association resource -> the flag it sets. A
# student is in the group for a school year when the SEOA says so (above) OR one of these
# associations of the student, at the district or one of its schools, overlaps the school
# year (beginDate..endDate against July 1..June 30; no endDate: still in the program). Each
# is a Data Standard 5.x GeneralStudentProgramAssociation subclass (decision 0022). Not
# studentSchoolFoodServiceProgramAssociations for economically_disadvantaged: it records
# meal program participation, full-price meals included (SchoolFoodServiceProgramService),
# and every New Mexico student has free meals since 2023-24 (decision 0022).
PROGRAM_FLAGS: dict[str, str] = {
    "studentSpecialEducationProgramAssociations": "disability",
    "studentMigrantEducationProgramAssociations": "migrant",
    "studentLanguageInstructionProgramAssociations": "english_learner",
    "studentHomelessProgramAssociations": "homeless",
}
assert set(PROGRAM_FLAGS.values()) <= set(FLAGS)
KEPT_FIELDS.update(
    dict.fromkeys(
        PROGRAM_FLAGS,
        ("id", "studentReference", "educationOrganizationReference", "beginDate", "endDate"),
    )
)
RESOURCES = (SSA, SEOA, *PROGRAM_FLAGS)


def kept(resource: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with only the fields the mapping reads."""
    return {f: record[f] for f in KEPT_FIELDS[resource] if f in record}


def descriptor_code(uri: str | None) -> str | None:
    """The code value of a descriptor URI: uri://ed-fi.org/SexDescriptor#Female -> Female."""
    if not uri:
        return None
    return uri.rsplit("#", 1)[-1].strip() or None


def map_descriptor(name: str, uri: str | None) -> str | None:
    code = descriptor_code(uri)
    return None if code is None else DESCRIPTORS[name].get(code, code)


def school_year_of(ssa: Mapping[str, Any]) -> int | None:
    """The association's school year; without one, the year its entry date falls in."""
    year = (ssa.get("schoolYearTypeReference") or {}).get("schoolYear")
    if year is not None:
        return int(year)
    entry = ssa.get("entryDate")
    if not entry:
        return None
    day = date.fromisoformat(entry[:10])
    return day.year + (1 if day.month >= 7 else 0)


def place(school_id: object) -> tuple[str, str] | None:
    """(district_code, location_code) of a Nova school id, None when it is not one."""
    text = str(school_id or "")
    if len(text) != 8 or not text.isdigit() or not text.startswith(STATE_PREFIX):
        return None
    return text[2:5], text[5:8]


def district_id(district_code: str) -> int:
    return int(STATE_PREFIX + district_code)


def _race(seoa: Mapping[str, Any]) -> str | None:
    if seoa.get("hispanicLatinoEthnicity"):
        return "HISPANIC"
    races = sorted(
        {map_descriptor("RaceDescriptor", r.get("raceDescriptor")) for r in seoa.get("races", [])}
        - {None}
    )
    if len(races) > 1:
        return "MULTIRACIAL"
    return races[0] if races else None


def _in_year(period: Mapping[str, Any], school_year: int) -> bool:
    """A characteristic's period (or a program association's dates) overlaps the school
    year (July 1 to June 30); no begin or end date: open on that side."""
    begin, end = period.get("beginDate"), period.get("endDate")
    return (not begin or begin[:10] <= f"{school_year}-06-30") and (
        not end or end[:10] >= f"{school_year - 1}-07-01"
    )


def _characteristics(seoa: Mapping[str, Any], school_year: int) -> set[str]:
    """The characteristics held in the school year: without periods, or with one in it."""
    return {
        code
        for c in seoa.get("studentCharacteristics", [])
        if (code := descriptor_code(c.get("studentCharacteristicDescriptor")))
        and (not c.get("periods") or any(_in_year(p, school_year) for p in c["periods"]))
    }


def _demographics(
    seoa: Mapping[str, Any] | None, school_year: int, programs: Iterable[str] = ()
) -> dict[str, str | None]:
    """The SEOA's columns, with Y for the flags the year's program associations set
    (``programs``); without an SEOA the others are missing (the not-null expectations say
    so)."""
    in_program = dict.fromkeys(programs, "Y")
    if seoa is None:
        return {"sex": None, "race_ethnicity": None} | dict.fromkeys(FLAGS) | in_program
    held = _characteristics(seoa, school_year)
    flags = {flag: "Y" if code in held else "N" for flag, code in CHARACTERISTICS.items()}
    english = seoa.get("limitedEnglishProficiencyDescriptor")
    return {
        "sex": map_descriptor("SexDescriptor", seoa.get("sexDescriptor")),
        "race_ethnicity": _race(seoa),
        **flags,
        "english_learner": map_descriptor("LimitedEnglishProficiencyDescriptor", english) or "N",
        "disability": "Y" if seoa.get("disabilities") else "N",
    } | in_program


def _exit(ssa: Mapping[str, Any]) -> tuple[str, str | None]:
    exit_date = ssa.get("exitWithdrawDate")
    code = map_descriptor("ExitWithdrawTypeDescriptor", ssa.get("exitWithdrawTypeDescriptor"))
    if code is None:
        code = "CONTINUING" if not exit_date else "OTHER"
    return code, (None if code == "CONTINUING" else exit_date)


def enrollment_row(
    ssa: Mapping[str, Any],
    district: str,
    location: str,
    year: int,
    seoa: Mapping[str, Any] | None,
    programs: Iterable[str] = (),
) -> dict[str, str | None]:
    """One contract row (text, as a landed file holds it) from an association; ``programs``:
    the flags the student's program associations set for the year."""
    exit_code, exit_date = _exit(ssa)
    cohort = (ssa.get("classOfSchoolYearTypeReference") or {}).get("schoolYear")
    row: dict[str, str | None] = {
        "student_id": (ssa.get("studentReference") or {}).get("studentUniqueId"),
        # Never pulled (the students resource is not read) and dropped at load anyway.
        "last_name": None,
        "first_name": None,
        "birth_date": None,
        "district_code": district,
        "location_code": location,
        "school_year": str(year),
        "grade_level": map_descriptor("GradeLevelDescriptor", ssa.get("entryGradeLevelDescriptor")),
        **_demographics(seoa, year, programs),
        "cohort_year": None if cohort is None else str(cohort),
        "exit_code": exit_code,
        "exit_date": exit_date and exit_date[:10],
    }
    return {c: row[c] for c in EXTRACT.column_names}


@dataclass
class ProgramUse:
    """What the mapping made of one program association resource's records for a year:
    those that set a flag of a row, those of other years, those that could not be placed
    (per reason)."""

    applied: int = 0
    other_years: int = 0
    unplaced: Counter[str] = field(default_factory=Counter)

    @property
    def accounted(self) -> int:
        return self.applied + self.other_years + sum(self.unplaced.values())


@dataclass
class Placement:
    """What the mapping made of a year's associations: rows per district, and the
    associations that could not be placed in any district's submission, per reason."""

    rows: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    unplaced: Counter[str] = field(default_factory=Counter)
    other_years: int = 0  # associations of another school year: not this pull's
    # A student who left a school and came back has an association per entry; the contract
    # has one row per student, school and year: the latest entry's.
    earlier_entries: int = 0
    # Section enrollments in courses that are not CTE (cte_course_enrollment only).
    other_courses: int = 0
    # Records that are not rows of the extract, per reason (assessment_results: another
    # subject, not a state test).
    skipped: Counter[str] = field(default_factory=Counter)
    # student_enrollment: what each program association resource's records did (PROGRAM_FLAGS)
    programs: dict[str, ProgramUse] = field(default_factory=dict)

    @property
    def placed(self) -> int:
        return sum(len(r) for r in self.rows.values())

    @property
    def accounted(self) -> int:
        return (
            self.placed
            + self.other_years
            + self.earlier_entries
            + self.other_courses
            + sum(self.skipped.values())
            + sum(self.unplaced.values())
        )


NO_YEAR = "the association has neither a school year nor an entry date"
NOT_A_SCHOOL = (
    "schoolReference.schoolId is not a Nova school id (35 + three-digit district + "
    "three-digit school)"
)


NOT_A_PROGRAM_ORGANIZATION = (
    "the program association's educationOrganizationId is neither a Nova district id (35 + "
    "three-digit district) nor a Nova school id"
)
NO_ENROLLMENT_FOR_PROGRAM = (
    "the program association's student has no enrollment in the school year at the "
    "association's district (studentSchoolAssociations)"
)


def district_of(organization_id: object) -> str | None:
    """The district code of a Nova district id (35001) or school id (35001010); None when it
    is neither."""
    text = str(organization_id or "")
    if len(text) == 5 and text.isdigit() and text.startswith(STATE_PREFIX):
        return text[2:]
    where = place(organization_id)
    return None if where is None else where[0]


def _program_flags(
    mirror: Mapping[str, Mapping[str, Mapping[str, Any]]],
    school_year: int,
    enrolled: set[tuple[str, str]],
    placement: Placement,
) -> dict[tuple[str, str], set[str]]:
    """The flags the program associations (PROGRAM_FLAGS) set for the school year, by
    (studentUniqueId, district code): an association at the district or one of its schools
    whose dates overlap the year, of a student ``enrolled`` there that year. The others are
    counted on ``placement.programs`` (another year, or unplaced with a reason)."""
    held: dict[tuple[str, str], set[str]] = defaultdict(set)
    for resource, flag in PROGRAM_FLAGS.items():
        use = placement.programs.setdefault(resource, ProgramUse())
        for association in mirror.get(resource, {}).values():
            if not _in_year(association, school_year):
                use.other_years += 1
                continue
            org = (association.get("educationOrganizationReference") or {}).get(
                "educationOrganizationId"
            )
            district = district_of(org)
            if district is None:
                use.unplaced[NOT_A_PROGRAM_ORGANIZATION] += 1
                continue
            student = str((association.get("studentReference") or {}).get("studentUniqueId"))
            if (student, district) not in enrolled:
                use.unplaced[NO_ENROLLMENT_FOR_PROGRAM] += 1
                continue
            held[(student, district)].add(flag)
            use.applied += 1
    return held


def _demographics_index(
    seoas: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, int], Mapping[str, Any]]:
    """SEOA records by (studentUniqueId, educationOrganizationId)."""
    index = {}
    for seoa in seoas:
        student = (seoa.get("studentReference") or {}).get("studentUniqueId")
        org = (seoa.get("educationOrganizationReference") or {}).get("educationOrganizationId")
        if student is not None and org is not None:
            index[(str(student), int(org))] = seoa
    return index


Entry = tuple[Mapping[str, Any], str, str]  # an association, its district and location


def _latest_entries(
    ssas: Iterable[Mapping[str, Any]], school_year: int, placement: Placement
) -> dict[tuple[str, int], Entry]:
    """The year's associations at Nova schools, the latest entry per (student, school id);
    the others counted on ``placement``."""
    latest: dict[tuple[str, int], Entry] = {}
    for ssa in ssas:
        year = school_year_of(ssa)
        if year != school_year:
            if year is None:
                placement.unplaced[NO_YEAR] += 1
            else:
                placement.other_years += 1
            continue
        school_id = (ssa.get("schoolReference") or {}).get("schoolId")
        where = place(school_id)
        if where is None:
            placement.unplaced[NOT_A_SCHOOL] += 1
            continue
        key = (str((ssa.get("studentReference") or {}).get("studentUniqueId")), int(school_id))
        earlier = latest.get(key)
        if earlier is not None:
            placement.earlier_entries += 1
            if str(earlier[0].get("entryDate")) >= str(ssa.get("entryDate")):
                continue
        latest[key] = (ssa, *where)
    return latest


def place_enrollments(
    mirror: Mapping[str, Mapping[str, Mapping[str, Any]]], school_year: int
) -> Placement:
    """Every association of the school year, as contract rows grouped by district."""
    demographics = _demographics_index(mirror.get(SEOA, {}).values())
    placement = Placement()
    rows: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    latest = _latest_entries(mirror.get(SSA, {}).values(), school_year, placement)
    enrolled = {(student, district) for (student, _), (_, district, _) in latest.items()}
    programs = _program_flags(mirror, school_year, enrolled, placement)
    for (student, school_id), (ssa, district, location) in latest.items():
        seoa = demographics.get((student, district_id(district))) or demographics.get(
            (student, school_id)
        )
        flags = programs.get((student, district), set())
        rows[district].append(enrollment_row(ssa, district, location, school_year, seoa, flags))
    placement.rows = dict(rows)
    return placement


def submission_csv(
    rows: list[dict[str, str | None]], family: ResourceFamily | None = None
) -> bytes:
    """A district's rows as a landed file in the contract's layout, in a stable order (the
    same records always make the same bytes: an unchanged district is not sent again)."""
    family = family or STUDENT_ENROLLMENT
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=family.extract.column_names, lineterminator="\n")
    writer.writeheader()
    key = family.sort_key
    writer.writerows(sorted(rows, key=lambda r: tuple(r[k] or "" for k in key)))
    return out.getvalue().encode()


# --- cte_course_enrollment ------------------------------------------------------------
# One studentSectionAssociations record (a student in a section of a course offering, at a
# school, in a session of a school year) becomes one row, when the course is CTE. The
# section reference names the school, the year, the session and the local course code;
# the session gives the term, the course offering the course code, the student's course
# transcript for that course, year and term the result and the credits.

NO_SECTION_YEAR = "sectionReference has no schoolYear"
NOT_A_SECTION_SCHOOL = (
    "sectionReference.schoolId is not a Nova school id (35 + three-digit district + "
    "three-digit school)"
)


def _session_key(school_id: object, year: object, session: object) -> tuple[str, str, str]:
    return (str(school_id), str(year), str(session))


def _sessions_index(sessions: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """Term code value by (schoolId, schoolYear, sessionName)."""
    index = {}
    for s in sessions:
        term = descriptor_code(s.get("termDescriptor"))
        school = (s.get("schoolReference") or {}).get("schoolId")
        year = (s.get("schoolYearTypeReference") or {}).get("schoolYear")
        if term is not None:
            index[_session_key(school, year, s.get("sessionName"))] = term
    return index


def _offerings_index(
    offerings: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    """Course offerings by (localCourseCode, schoolId, schoolYear, sessionName)."""
    index = {}
    for o in offerings:
        session = o.get("sessionReference") or {}
        school = (o.get("schoolReference") or {}).get("schoolId", session.get("schoolId"))
        key = _session_key(school, session.get("schoolYear"), session.get("sessionName"))
        index[(str(o.get("localCourseCode")), *key)] = o
    return index


TranscriptKey = tuple[str, str, str, str]  # studentUniqueId, courseCode, schoolYear, term


def _transcripts_index(
    transcripts: Iterable[Mapping[str, Any]],
) -> dict[TranscriptKey, Mapping[str, Any]]:
    index = {}
    for t in transcripts:
        record = t.get("studentAcademicRecordReference") or {}
        key = (
            str(record.get("studentUniqueId")),
            str((t.get("courseReference") or {}).get("courseCode")),
            str(record.get("schoolYear")),
            str(descriptor_code(record.get("termDescriptor"))),
        )
        index[key] = t
    return index


def _characteristics_of(offering: Mapping[str, Any] | None) -> set[str]:
    return {
        code
        for c in (offering or {}).get("courseLevelCharacteristics", [])
        if (code := descriptor_code(c.get("courseLevelCharacteristicDescriptor")))
    }


def _credits(value: object) -> str:
    return str(float(value))  # type: ignore[arg-type]


def course_row(
    stsa: Mapping[str, Any],
    district: str,
    location: str,
    year: int,
    course_code: str | None,
    term: str | None,  # the TermDescriptor code value
    offering: Mapping[str, Any] | None,
    transcript: Mapping[str, Any] | None,
) -> dict[str, str | None]:
    """One contract row (text, as a landed file holds it) from a section enrollment.

    Without a transcript (the course is not finished, or not graded yet) the course is not
    completed and no credits are earned."""
    if transcript is None:
        completed: str | None = "N"
        credits: str | None = "0.0"
    else:
        completed = map_descriptor(
            "CourseAttemptResultDescriptor", transcript.get("courseAttemptResultDescriptor")
        )
        earned = transcript.get("earnedCredits")
        credits = _credits(earned) if earned is not None else ("0.0" if completed == "N" else None)
    dual = stsa.get("dualCreditIndicator") is True or (
        DUAL_CREDIT_CHARACTERISTIC in _characteristics_of(offering)
    )
    row: dict[str, str | None] = {
        "student_id": (stsa.get("studentReference") or {}).get("studentUniqueId"),
        "district_code": district,
        "location_code": location,
        "school_year": str(year),
        "course_code": course_code,
        "term": None if term is None else DESCRIPTORS["TermDescriptor"].get(term, term),
        "completed": completed,
        "credits_earned": credits,
        "dual_credit": "Y" if dual else "N",
    }
    return {c: row[c] for c in COURSE_EXTRACT.column_names}


Latest = tuple[Mapping[str, Any], dict[str, str | None]]  # a record and its row


def _keep_latest(
    latest: dict[tuple[str, ...], Latest],
    key: tuple[str, ...],
    record: Mapping[str, Any],
    row: dict[str, str | None],
    date_field: str,
    placement: Placement,
) -> None:
    """Keep the record's row under ``key`` unless an earlier-read one is as late or later
    by ``date_field``; the one not kept is counted as an earlier entry."""
    earlier = latest.get(key)
    if earlier is not None:
        placement.earlier_entries += 1
        if str(earlier[0].get(date_field)) >= str(record.get(date_field)):
            return
    latest[key] = (record, row)


def _rows_by_district(
    latest: Mapping[tuple[str, ...], Latest],
) -> dict[str, list[dict[str, str | None]]]:
    rows: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    for _, row in latest.values():
        rows[str(row["district_code"])].append(row)
    return dict(rows)


def place_course_enrollments(
    mirror: Mapping[str, Mapping[str, Mapping[str, Any]]],
    school_year: int,
    cte_courses: frozenset[str] | None = None,
) -> Placement:
    """Every CTE section enrollment of the school year, as contract rows by district.

    A course is CTE when its code is in the course seed (``cte_courses``: PED's CTE course
    catalog) or its course offering carries the CTE course level characteristic; the other
    enrollments are counted as ``other_courses``. A student in two sections of a course in
    a term (a section change) is one contract row: the latest begin date's."""
    if cte_courses is None:
        from dagster_project.quality.suites import read_code_sets

        cte_courses = read_code_sets().course_codes
    terms = _sessions_index(mirror.get(SESSIONS, {}).values())
    offerings = _offerings_index(mirror.get(OFFERINGS, {}).values())
    transcripts = _transcripts_index(mirror.get(TRANSCRIPTS, {}).values())
    placement = Placement()
    latest: dict[tuple[str, ...], Latest] = {}
    for stsa in mirror.get(STSA, {}).values():
        section = stsa.get("sectionReference") or {}
        year = section.get("schoolYear")
        if year is None:
            placement.unplaced[NO_SECTION_YEAR] += 1
            continue
        if int(year) != school_year:
            placement.other_years += 1
            continue
        where = place(section.get("schoolId"))
        if where is None:
            placement.unplaced[NOT_A_SECTION_SCHOOL] += 1
            continue
        session = _session_key(section.get("schoolId"), year, section.get("sessionName"))
        local = section.get("localCourseCode")
        offering = offerings.get((str(local), *session))
        course = (offering or {}).get("courseReference", {}).get("courseCode") or local
        if course not in cte_courses and CTE_CHARACTERISTIC not in _characteristics_of(offering):
            placement.other_courses += 1
            continue
        # Without its session, the term is unknown: the session name is written instead, so
        # the row is quarantined with it shown.
        term = terms.get(session) or section.get("sessionName")
        student = str((stsa.get("studentReference") or {}).get("studentUniqueId"))
        transcript = transcripts.get((student, str(course), str(year), str(term)))
        row = course_row(stsa, *where, school_year, course, term, offering, transcript)
        key = (student, *where, str(course), str(row["term"]))
        _keep_latest(latest, key, stsa, row, "beginDate", placement)
    placement.rows = _rows_by_district(latest)
    return placement


# --- credential_attainment -----------------------------------------------------------
# One credential record of the NM extension becomes one row. Its reference to the student's
# CTE program association names the student and the school (educationOrganizationId: the
# association's own key); the association gives the CIP code (the primary service's, else
# the first with one). The school year is the one the earned date falls in (July on: the
# next). credential_name and issuer are left empty: staging takes them from the credentials
# seed, as for a STARS file.

NO_EARNED_DATE = "the credential has no earned date (or not a date)"
NOT_A_PROGRAM_SCHOOL = (
    "the CTE program association's educationOrganizationId is not a Nova school id (35 + "
    "three-digit district + three-digit school)"
)


def _association_key(ref: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(ref.get("studentUniqueId")),
        str(ref.get("educationOrganizationId")),
        str(ref.get("programName")),
        str(ref.get("beginDate"))[:10],
    )


def _associations_index(
    associations: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    """CTE program associations by (studentUniqueId, educationOrganizationId, programName,
    beginDate): the part of their key a credential's reference repeats."""
    index = {}
    for a in associations:
        ref = {
            "studentUniqueId": (a.get("studentReference") or {}).get("studentUniqueId"),
            "educationOrganizationId": (a.get("educationOrganizationReference") or {}).get(
                "educationOrganizationId"
            ),
            "programName": (a.get("programReference") or {}).get("programName"),
            "beginDate": a.get("beginDate"),
        }
        index[_association_key(ref)] = a
    return index


def cip_code_of(association: Mapping[str, Any] | None) -> str | None:
    """The primary service's (DS 5: cteProgramServices[].primaryIndicator) or primary
    program's (DS 3/4: ctePrograms[].primaryCTEProgramIndicator) CIP code, else the first."""
    services = [
        (bool(s.get("primaryIndicator") or s.get("primaryCTEProgramIndicator")), s["cipCode"])
        for s in [
            *(association or {}).get("cteProgramServices", []),
            *(association or {}).get("ctePrograms", []),
        ]
        if s.get("cipCode")
    ]
    primary = [code for is_primary, code in services if is_primary]
    return (primary or [code for _, code in services] or [None])[0]


def school_year_of_date(day: object) -> int | None:
    """The school year a date falls in (July on: the next); None when it is not a date."""
    try:
        parsed = date.fromisoformat(str(day or "")[:10])
    except ValueError:
        return None
    return parsed.year + (1 if parsed.month >= 7 else 0)


def credential_row(
    credential: Mapping[str, Any],
    district: str,
    location: str,
    year: int,
    association: Mapping[str, Any] | None,
) -> dict[str, str | None]:
    """One contract row (text, as a landed file holds it) from a credential record.

    Without a delivery method the column is empty (quarantined, MISSING_VALUE); without a
    verification it is empty, which the contract allows (PED's list decides)."""
    f = CREDENTIAL_FIELDS
    verified = credential.get(f["verified"])
    row: dict[str, str | None] = {
        "student_id": (credential.get(f["association"]) or {}).get("studentUniqueId"),
        "district_code": district,
        "location_code": location,
        "school_year": str(year),
        "cip_code": cip_code_of(association),
        "delivery_method": map_descriptor(
            "CredentialDeliveryMethodDescriptor", credential.get(f["delivery_method"])
        ),
        "credential_code": descriptor_code(credential.get(f["credential"])),
        "credential_name": None,
        "issuer": None,
        "earned_date": str(credential.get(f["earned_date"]))[:10],
        "verified": None if verified is None else ("Y" if verified else "N"),
    }
    return {c: row[c] for c in CREDENTIAL_EXTRACT.column_names}


def place_credentials(
    mirror: Mapping[str, Mapping[str, Mapping[str, Any]]], school_year: int
) -> Placement:
    """Every credential earned in the school year, as contract rows by district."""
    associations = _associations_index(mirror.get(SCTEPA, {}).values())
    placement = Placement()
    rows: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    for credential in mirror.get(CREDENTIALS, {}).values():
        year = school_year_of_date(credential.get(CREDENTIAL_FIELDS["earned_date"]))
        if year is None:
            placement.unplaced[NO_EARNED_DATE] += 1
            continue
        if year != school_year:
            placement.other_years += 1
            continue
        ref = credential.get(CREDENTIAL_FIELDS["association"]) or {}
        where = place(ref.get("educationOrganizationId"))
        if where is None:
            placement.unplaced[NOT_A_PROGRAM_SCHOOL] += 1
            continue
        association = associations.get(_association_key(ref))
        row = credential_row(credential, *where, school_year, association)
        rows[where[0]].append(row)
    placement.rows = dict(rows)
    return placement


# --- assessment_results --------------------------------------------------------------
# One studentAssessments record (a student's result on an assessment) becomes one row when
# its assessment is a state test (STATE_ASSESSMENT_*) in a tested subject. The assessment
# gives the subject; the result the school (its district), the school year, the scale score
# and the performance level. A student with two results in a subject and year (a retest)
# is one row: the latest administration's.

# The state tests, our reading (decision 0022): an assessment whose category is one of the
# Data Standard's state categories, or whose identifier starts with one of New Mexico's
# (NM-MSSA grades 3-8, NM-ASR science, SAT grade 11: identifiers unconfirmed). Others
# (interim, benchmark, classroom tests) are skipped: they would make a second row per
# student, year and subject.
STATE_ASSESSMENT_CATEGORIES = frozenset(
    {
        "State summative assessment 3-8 general",
        "State high school subject assessment",
        "State high school course assessment",
        "State assessment",
    }
)
STATE_ASSESSMENT_IDENTIFIERS = ("NM-MSSA", "NM-ASR", "SAT")
# The score result read as scale_score (AssessmentReportingMethodDescriptor code values).
SCALE_SCORE_METHODS = ("Scale score",)

NO_ASSESSMENT_YEAR = "the result has neither a school year nor an administration date"
NO_ASSESSMENT = "the assessment the result names was not read (assessmentReference)"
MORE_THAN_ONE_SUBJECT = (
    "the assessment names more than one tested subject (its subject scores are objective "
    "assessments: not read)"
)
NOT_AN_ASSESSED_SCHOOL = (
    "reportedSchoolReference.schoolId is not a Nova school id (35 + three-digit district + "
    "three-digit school)"
)
NOT_A_STATE_ASSESSMENT = "not a state test (STATE_ASSESSMENT_CATEGORIES, _IDENTIFIERS)"
NOT_A_TESTED_SUBJECT = "not a tested subject (RLA, MATH, SCI)"
# Results that are not rows of the extract (counted as skipped, not as a fault to fix).
SKIPPED_REASONS = frozenset({NOT_A_STATE_ASSESSMENT, NOT_A_TESTED_SUBJECT})


def _assessment_key(ref: Mapping[str, Any]) -> tuple[str, str]:
    return (str(ref.get("assessmentIdentifier")), str(ref.get("namespace")))


def _assessments_index(
    assessments: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """Assessments by (assessmentIdentifier, namespace), their key."""
    return {_assessment_key(a): a for a in assessments}


def is_state_assessment(assessment: Mapping[str, Any]) -> bool:
    category = descriptor_code(assessment.get("assessmentCategoryDescriptor"))
    identifier = str(assessment.get("assessmentIdentifier") or "")
    return category in STATE_ASSESSMENT_CATEGORIES or identifier.startswith(
        STATE_ASSESSMENT_IDENTIFIERS
    )


def tested_subjects(assessment: Mapping[str, Any]) -> set[str]:
    """The contract subjects (RLA, MATH, SCI) among the assessment's academic subjects."""
    subjects = DESCRIPTORS["AcademicSubjectDescriptor"]
    return {
        subjects[code]
        for s in assessment.get("academicSubjects", [])
        if (code := descriptor_code(s.get("academicSubjectDescriptor"))) in subjects
    }


def _scale_score(result: Mapping[str, Any]) -> str | None:
    """The scale score result as an integer's text; a result that is not a whole number is
    written as is (the load quarantines it); none: None (MISSING_VALUE)."""
    scores = [
        str(r.get("result")).strip()
        for r in result.get("scoreResults", [])
        if descriptor_code(r.get("assessmentReportingMethodDescriptor")) in SCALE_SCORE_METHODS
        and r.get("result") is not None
    ]
    if not scores:
        return None
    try:
        number = float(scores[0])
    except ValueError:
        return scores[0]
    return str(int(number)) if number.is_integer() else scores[0]


def _proficient(result: Mapping[str, Any]) -> str | None:
    """Y when a performance level reached is proficient (PerformanceLevelDescriptor), N when
    the levels reached are all below; an unknown level as Ed-Fi says it (quarantined); no
    level: None (MISSING_VALUE). Data Standard 3's performanceLevelMet false drops a level."""
    reached = [
        descriptor_code(p.get("performanceLevelDescriptor"))
        for p in result.get("performanceLevels", [])
        if p.get("performanceLevelMet", True) is not False
    ]
    codes = [c for c in reached if c is not None]
    mapped = [DESCRIPTORS["PerformanceLevelDescriptor"].get(c, c) for c in codes]
    for answer in ("Y", "N"):
        if answer in mapped:
            return answer
    return mapped[0] if mapped else None


def assessed_school(result: Mapping[str, Any]) -> object:
    """The school id the result was reported for: DS 5 reportedSchoolReference, DS 3 and 4
    schoolReference; else DS 5's reportedSchoolIdentifier (the vendor's school identifier
    when it does not know the school id: placed only when it is a Nova school id)."""
    school = result.get("reportedSchoolReference") or result.get("schoolReference") or {}
    return school.get("schoolId") or result.get("reportedSchoolIdentifier")


def assessment_row(
    result: Mapping[str, Any], district: str, year: int, subject: str
) -> dict[str, str | None]:
    """One contract row (text, as a landed file holds it) from a student's result."""
    row: dict[str, str | None] = {
        "student_id": (result.get("studentReference") or {}).get("studentUniqueId"),
        "district_code": district,
        "school_year": str(year),
        "subject": subject,
        "scale_score": _scale_score(result),
        "proficient": _proficient(result),
    }
    return {c: row[c] for c in ASSESSMENT_EXTRACT.column_names}


def _assessment_year(result: Mapping[str, Any]) -> int | None:
    year = (result.get("schoolYearTypeReference") or {}).get("schoolYear")
    if year is not None:
        return int(year)
    return school_year_of_date(result.get("administrationDate"))


def _subject_or_reason(assessment: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """The contract subject of the result's assessment, else why there is none (a reason
    in ``SKIPPED_REASONS`` or an unplaced one)."""
    if assessment is None:
        return None, NO_ASSESSMENT
    if not is_state_assessment(assessment):
        return None, NOT_A_STATE_ASSESSMENT
    subjects = tested_subjects(assessment)
    if len(subjects) != 1:
        return None, MORE_THAN_ONE_SUBJECT if subjects else NOT_A_TESTED_SUBJECT
    return subjects.pop(), ""


def place_assessments(
    mirror: Mapping[str, Mapping[str, Mapping[str, Any]]], school_year: int
) -> Placement:
    """Every state test result of the school year in a tested subject, as contract rows by
    district; a retest makes one row, the latest administration's (``earlier_entries``)."""
    assessments = _assessments_index(mirror.get(ASSESSMENTS, {}).values())
    placement = Placement()
    latest: dict[tuple[str, ...], Latest] = {}
    for result in mirror.get(STUDENT_ASSESSMENTS, {}).values():
        year = _assessment_year(result)
        if year is None:
            placement.unplaced[NO_ASSESSMENT_YEAR] += 1
            continue
        if year != school_year:
            placement.other_years += 1
            continue
        assessment = assessments.get(_assessment_key(result.get("assessmentReference") or {}))
        subject, reason = _subject_or_reason(assessment)
        where = place(assessed_school(result))
        if subject is None or where is None:
            reason = reason or NOT_AN_ASSESSED_SCHOOL
            counts = placement.skipped if reason in SKIPPED_REASONS else placement.unplaced
            counts[reason] += 1
            continue
        row = assessment_row(result, where[0], school_year, subject)
        key = (str(row["student_id"]), where[0], subject)
        _keep_latest(latest, key, result, row, "administrationDate", placement)
    placement.rows = _rows_by_district(latest)
    return placement


# --- the resource families: one pull, mirror and asset each ----------------------------


@dataclass(frozen=True)
class ResourceFamily:
    """The Ed-Fi resources one extract is derived from. The first resource is the one whose
    records become rows (the pull's ``associations``); the others are looked up."""

    extract: Extract
    resources: tuple[str, ...]
    place: Callable[[Mapping[str, Mapping[str, Mapping[str, Any]]], int], Placement]
    sort_key: tuple[str, ...]  # the order of a submission's rows
    # What is pulled, for the asset's description: "<extract> pulled from Nova (Ed-Fi
    # ODS/API): <about>, by change version, loaded into raw.<extract> as ...".
    about: str = ""

    @property
    def spine(self) -> str:
        return self.resources[0]


STUDENT_ENROLLMENT = ResourceFamily(
    EXTRACT,
    RESOURCES,
    place_enrollments,
    ("location_code", "student_id", "grade_level", "exit_code"),
    "studentSchoolAssociations, studentEducationOrganizationAssociations and the special "
    "populations' program associations (special education, migrant, language instruction, "
    "homeless)",
)
CTE_COURSE_ENROLLMENT = ResourceFamily(
    COURSE_EXTRACT,
    COURSE_RESOURCES,
    place_course_enrollments,
    ("location_code", "student_id", "course_code", "term"),
    "studentSectionAssociations with their sessions (term), courseOfferings (course code, CTE "
    "and dual credit) and courseTranscripts (result, credits)",
)
CREDENTIAL_ATTAINMENT = ResourceFamily(
    CREDENTIAL_EXTRACT,
    CREDENTIAL_RESOURCES,
    place_credentials,
    ("location_code", "student_id", "credential_code", "earned_date"),
    "New Mexico's extension studentCTEProgramAssociationCredentials (credential, earned "
    "date, delivery, verification) with the studentCTEProgramAssociations they belong to "
    "(CIP code)",
)
ASSESSMENT_RESULTS = ResourceFamily(
    ASSESSMENT_EXTRACT,
    ASSESSMENT_RESOURCES,
    place_assessments,
    ("student_id", "subject"),
    "studentAssessments of the state tests (scale score, performance level, school, year) "
    "with the assessments they are results of (subject)",
)
# Every family: its asset, pull job and sensor are made from this (assets/edfi.py, jobs.py,
# code_location.py): a new family is one entry here.
FAMILIES = {
    f.extract.name: f
    for f in (
        STUDENT_ENROLLMENT,
        CTE_COURSE_ENROLLMENT,
        CREDENTIAL_ATTAINMENT,
        ASSESSMENT_RESULTS,
    )
}
