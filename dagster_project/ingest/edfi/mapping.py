"""From Nova's Ed-Fi resources to the raw extract contract, declared as data (decision 0022).

Ed-Fi Data Standard 5.x (ODS/API 7), as New Mexico's Nova resources carry it. One
``studentSchoolAssociations`` record (a student enrolled at a school in a year) becomes one
``student_enrollment`` row; the student's ``studentEducationOrganizationAssociations``
record at the district (else at the school) gives sex, race and the special populations.
The ``students`` resource is not read: what it adds for this extract is the name and birth
date, which the contract drops at load anyway.

A descriptor without an entry below is written as its code value ('Not Selected'), so the
load's code-set expectation quarantines the row with the value shown, like an unknown code
in a landed file. A record that names no New Mexico school cannot be placed in any
district's submission: it is counted and given a reason on the pull (``Placement``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dagster_project.contracts import FLAGS, get_extract

EXTRACT = get_extract("student_enrollment")
SSA = "studentSchoolAssociations"
SEOA = "studentEducationOrganizationAssociations"
RESOURCES = (SSA, SEOA)

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
}
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
    """A characteristic's period overlaps the school year (July to June)."""
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


def _demographics(seoa: Mapping[str, Any] | None, school_year: int) -> dict[str, str | None]:
    """The SEOA's columns; all missing without one (the not-null expectations say so)."""
    if seoa is None:
        return {"sex": None, "race_ethnicity": None} | dict.fromkeys(FLAGS)
    held = _characteristics(seoa, school_year)
    flags = {flag: "Y" if code in held else "N" for flag, code in CHARACTERISTICS.items()}
    english = seoa.get("limitedEnglishProficiencyDescriptor")
    return {
        "sex": map_descriptor("SexDescriptor", seoa.get("sexDescriptor")),
        "race_ethnicity": _race(seoa),
        **flags,
        "english_learner": map_descriptor("LimitedEnglishProficiencyDescriptor", english) or "N",
        "disability": "Y" if seoa.get("disabilities") else "N",
    }


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
) -> dict[str, str | None]:
    """One contract row (text, as a landed file holds it) from an association."""
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
        **_demographics(seoa, year),
        "cohort_year": None if cohort is None else str(cohort),
        "exit_code": exit_code,
        "exit_date": exit_date and exit_date[:10],
    }
    return {c: row[c] for c in EXTRACT.column_names}


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

    @property
    def placed(self) -> int:
        return sum(len(r) for r in self.rows.values())

    @property
    def accounted(self) -> int:
        return self.placed + self.other_years + self.earlier_entries + sum(self.unplaced.values())


NO_YEAR = "the association has neither a school year nor an entry date"
NOT_A_SCHOOL = (
    "schoolReference.schoolId is not a Nova school id (35 + three-digit district + "
    "three-digit school)"
)


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
    for (student, school_id), (ssa, district, location) in latest.items():
        seoa = demographics.get((student, district_id(district))) or demographics.get(
            (student, school_id)
        )
        rows[district].append(enrollment_row(ssa, district, location, school_year, seoa))
    placement.rows = dict(rows)
    return placement


def submission_csv(rows: list[dict[str, str | None]]) -> bytes:
    """A district's rows as a landed file in the contract's layout, in a stable order (the
    same records always make the same bytes: an unchanged district is not sent again)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXTRACT.column_names, lineterminator="\n")
    writer.writeheader()
    key = ("location_code", "student_id", "grade_level", "exit_code")
    writer.writerows(sorted(rows, key=lambda r: tuple(r[k] or "" for k in key)))
    return out.getvalue().encode()
