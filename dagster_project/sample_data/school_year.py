"""Cut one school year's district extracts out of the cohorts that span it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from dagster_project.contracts import get_extract
from dagster_project.sample_data.cohorts import (
    CONTINUING,
    EXIT_CODES,
    SUBJECTS,
    TERMS,
    TRANSFERRED_OUT,
    WBL_TYPES,
    Cohort,
    dates,
)
from dagster_project.sample_data.directory import Directory
from dagster_project.sample_data.people import FLAG_NAMES, RACES, SEXES, SINGLE_PARENT
from dagster_project.sample_data.reference import Reference

CREDITS = np.array(["0.0", "0.5", "1.0", "1.5", "2.0"])
YN = np.array(["N", "Y"])
COMPONENTS = 12


def _ids(sid: np.ndarray) -> pl.Series:
    return pl.Series(sid).cast(pl.String)


def _frame(extract: str, columns: dict[str, object]) -> pl.DataFrame:
    """A frame with exactly the contract's columns, in the contract's order."""
    names = get_extract(extract).column_names
    return pl.DataFrame({name: _plain(columns[name]) for name in names})


def _plain(values: object) -> object:
    # numpy object arrays (text) would become polars Object columns
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values.astype(str)
    return values


def nullable_text(values: np.ndarray) -> pl.Series:
    """Text where the empty string means null."""
    s = pl.Series(values.astype(str))
    return pl.select(pl.when(s != "").then(s)).to_series()


def _gather(
    cohorts: Iterable[Cohort], build: Callable[[Cohort], pl.DataFrame | None]
) -> pl.DataFrame | None:
    frames = [f for f in (build(c) for c in cohorts) if f is not None and f.height]
    return pl.concat(frames) if frames else None


def enrollment(cohorts: Iterable[Cohort], d: Directory, year: int) -> pl.DataFrame | None:
    district, location = d.column("district_code"), d.column("location_code")

    def build(c: Cohort) -> pl.DataFrame | None:
        idx = np.flatnonzero(c.active(year))
        if not idx.size:
            return None
        grade = min(c.grade(year), 12)
        leaving = c.exit_year[idx] == year
        moved = np.flatnonzero(c.xfer_year[idx] == year)
        # A mid-year move: a TRANSFERRED_OUT row at the old school, then the new school's row.
        rows = np.concatenate([idx, idx[moved]])
        school = np.concatenate([c.school_in(idx, year), c.hs[idx[moved]]])
        code = np.concatenate(
            [np.where(leaving, c.exit_kind[idx], CONTINUING), np.full(moved.size, TRANSFERRED_OUT)]
        )
        exit_date = np.concatenate(
            [np.where(leaving, c.exit_date[idx], np.datetime64("NaT")), c.xfer_date[idx[moved]]]
        )
        flags = c.flags[rows].copy()
        flags[:, SINGLE_PARENT] &= grade >= 10
        cols: dict[str, object] = {
            "student_id": _ids(c.sid[rows]),
            "last_name": c.last_name[rows],
            "first_name": c.first_name[rows],
            "birth_date": c.birth_date[rows],
            "district_code": district[school],
            "location_code": location[school],
            "school_year": np.full(rows.size, year),
            "grade_level": np.full(rows.size, f"{grade:02d}"),
            "sex": SEXES[c.sex[rows]],
            "race_ethnicity": RACES[c.race[rows]],
            "cohort_year": np.full(rows.size, c.cohort_year),
            "exit_code": EXIT_CODES[code],
            "exit_date": exit_date,
        }
        cols |= {name: YN[flags[:, i].astype(int)] for i, name in enumerate(FLAG_NAMES)}
        return _frame("student_enrollment", cols)

    return _gather(cohorts, build)


def _in_year(plan: dict[str, np.ndarray], year: int) -> np.ndarray:
    return np.flatnonzero(plan["year"] == year) if plan else np.array([], dtype=np.int64)


def course_enrollment(cohorts: Iterable[Cohort], d: Directory, year: int) -> pl.DataFrame | None:
    district, location = d.column("district_code"), d.column("location_code")

    def build(c: Cohort) -> pl.DataFrame | None:
        p = c.courses
        i = _in_year(p, year)
        if not i.size:
            return None
        school = c.school_in(p["student"][i], year)
        return _frame(
            "cte_course_enrollment",
            {
                "student_id": _ids(c.sid[p["student"][i]]),
                "district_code": district[school],
                "location_code": location[school],
                "school_year": np.full(i.size, year),
                "course_code": p["code"][i],
                "term": TERMS[p["term"][i]],
                "completed": YN[p["completed"][i].astype(int)],
                "credits_earned": CREDITS[p["credits10"][i] // 5],
                "dual_credit": YN[p["dual"][i].astype(int)],
            },
        )

    return _gather(cohorts, build)


def assessments(cohorts: Iterable[Cohort], d: Directory, year: int) -> pl.DataFrame | None:
    district = d.column("district_code")

    def build(c: Cohort) -> pl.DataFrame | None:
        p = c.tests
        i = _in_year(p, year)
        if not i.size:
            return None
        school = c.school_in(p["student"][i], year)
        return _frame(
            "assessment_results",
            {
                "student_id": _ids(c.sid[p["student"][i]]),
                "district_code": district[school],
                "school_year": np.full(i.size, year),
                "subject": SUBJECTS[p["subject"][i]],
                "scale_score": p["score"][i],
                "proficient": YN[p["proficient"][i].astype(int)],
            },
        )

    return _gather(cohorts, build)


def credentials(
    cohorts: Iterable[Cohort], d: Directory, ref: Reference, year: int
) -> pl.DataFrame | None:
    district, location = d.column("district_code"), d.column("location_code")
    creds = {
        col: ref.credentials[col].to_numpy()
        for col in ("credential_code", "name", "issuer", "cip_code")
    }

    def build(c: Cohort) -> pl.DataFrame | None:
        p = c.credentials
        i = _in_year(p, year)
        if not i.size:
            return None
        school = c.school_in(p["student"][i], year)
        code = p["credential"][i]
        return _frame(
            "credential_attainment",
            {
                "student_id": _ids(c.sid[p["student"][i]]),
                "district_code": district[school],
                "location_code": location[school],
                "school_year": np.full(i.size, year),
                "cip_code": creds["cip_code"][code],
                "delivery_method": np.where(p["college"][i], "CG", "IS"),
                "credential_code": creds["credential_code"][code],
                "credential_name": creds["name"][code],
                "issuer": creds["issuer"][code],
                "earned_date": p["earned"][i],
                "verified": YN[p["verified"][i].astype(int)],
            },
        )

    return _gather(cohorts, build)


def work_based_learning(cohorts: Iterable[Cohort], d: Directory, year: int) -> pl.DataFrame | None:
    district = d.column("district_code")

    def build(c: Cohort) -> pl.DataFrame | None:
        p = c.wbl
        i = _in_year(p, year)
        if not i.size:
            return None
        school = c.school_in(p["student"][i], year)
        return _frame(
            "work_based_learning",
            {
                "student_id": _ids(c.sid[p["student"][i]]),
                "district_code": district[school],
                "school_year": np.full(i.size, year),
                "wbl_type": WBL_TYPES[p["type"][i]],
                "hours": p["hours"][i],
                "employer_naics": nullable_text(p["naics"][i]),
                "paid": YN[p["paid"][i].astype(int)],
            },
        )

    return _gather(cohorts, build)


def program_quality_review(
    d: Directory, ref: Reference, year: int, seed: int
) -> pl.DataFrame | None:
    """Every secondary school reviews every program it offers on the 12 components."""
    rng = np.random.default_rng([seed, year, 3])
    school, slot = np.nonzero(d.offered >= 0)
    keep = d.secondary[school]
    school, slot = school[keep], slot[keep]
    if not school.size:
        return None
    program_level = d.quality[school] + rng.normal(0.0, 0.3, school.size)
    rows = np.repeat(np.arange(school.size), COMPONENTS)
    component = np.tile(np.arange(1, COMPONENTS + 1), school.size)
    rating = np.clip(np.round(2.7 + program_level[rows] + rng.normal(0, 0.5, rows.size)), 1, 4)
    reviewed = dates(year, 2, 1) + rng.integers(0, 85, d.n)
    s = school[rows]
    codes = ref.programs["program_of_study_code"].to_numpy()
    return _frame(
        "program_quality_review",
        {
            "district_code": d.column("district_code")[s],
            "location_code": d.column("location_code")[s],
            "school_year": np.full(rows.size, year),
            "program_of_study_code": codes[d.offered[s, slot[rows]]],
            "component": component,
            "rating": rating.astype(np.int64),
            "reviewed_on": reviewed[s],
        },
    )
