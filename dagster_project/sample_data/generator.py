"""Generate every extract of the raw contract for a scale, year by year.

Cohorts are simulated whole when first needed and dropped when no written year needs them
any more, so memory holds about eight cohorts (one school year's students) at any scale.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from dagster_project.ingest.sample import register_sample_files
from dagster_project.sample_data import effects, finance, labor_market, school_year
from dagster_project.sample_data.cohorts import (
    TRANSFERRED_OUT,
    Catalog,
    Cohort,
    simulate_cohort,
)
from dagster_project.sample_data.directory import (
    CONCENTRATED_BY_GRADE_MEAN,
    SCALES,
    Directory,
    build_directory,
)
from dagster_project.sample_data.landing import Landing
from dagster_project.sample_data.reference import Reference, load_reference
from dagster_project.sample_data.studenttracker import detail_return

FIRST_SUPPORTED_YEAR, LAST_SUPPORTED_YEAR = 2012, 2035  # the years performance_targets covers
# Credentials came in PED's STARS template until Nova (Ed-Fi) took over in SY 2023-24.
LAST_STARS_YEAR = 2023


def truth_path(landing_dir: Path) -> Path:
    """Planted truth lives beside, never inside, the landing tree."""
    return landing_dir.parent / "generated" / "truth.json"


def _check(scale: str, years: int, last_year: int) -> None:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {sorted(SCALES)}")
    if years < 1:
        raise ValueError("years must be at least 1")
    if last_year - years + 1 < FIRST_SUPPORTED_YEAR or last_year > LAST_SUPPORTED_YEAR:
        raise ValueError(
            f"years {last_year - years + 1}..{last_year} fall outside "
            f"{FIRST_SUPPORTED_YEAR}..{LAST_SUPPORTED_YEAR} (the performance targets' years)"
        )


def _append_after_exit(landing: Landing, c: Cohort) -> None:
    """Wages, postsecondary enrollment and enlistment go to the file of their calendar year."""
    ids = pl.Series(c.sid).cast(pl.String)
    if c.wages:
        w = c.wages
        frame = (
            pl.DataFrame(
                {
                    "student_id": ids.gather(w["student"]),
                    "year": w["year"],
                    "quarter": w["quarter"],
                    "employer_naics": w["naics"].astype(str),
                    "cents": w["cents"],
                }
            )
            .with_columns(  # wages are positive: dollars and two-digit cents as text
                (
                    (pl.col("cents") // 100).cast(pl.String)
                    + "."
                    + (pl.col("cents") % 100).cast(pl.String).str.zfill(2)
                ).alias("wages")
            )
            .drop("cents")
        )
        for (year,), part in frame.partition_by("year", as_dict=True, maintain_order=True).items():
            landing.append("wage_records", int(year), part)
    if c.postsecondary:
        p = c.postsecondary
        frame = pl.DataFrame(
            {
                "student_id": ids.gather(p["student"]),
                "term_start": p["term_start"],
                "institution_id": p["institution"].astype(str),
                "institution_type": p["type"],
                "in_state": np.where(p["in_state"], "Y", "N"),
            }
        )
        last = landing.years[-1]
        earlier = frame.filter(pl.col("term_start").dt.year() != last)
        _append_by_calendar_year(landing, "postsecondary_enrollment", earlier, "term_start")
        _append_studenttracker(landing, c, frame)
    if c.military and c.military["student"].size:
        m = c.military
        frame = pl.DataFrame({"student_id": ids.gather(m["student"]), "enlist_date": m["date"]})
        _append_by_calendar_year(landing, "military_enlistment", frame, "enlist_date")


def _append_studenttracker(landing: Landing, c: Cohort, frame: pl.DataFrame) -> None:
    """The latest year's postsecondary enrollments as the Clearinghouse returns them, with a
    not-found row for each of the year's leavers enrolled in no written year; apprenticeships
    (which it does not report) in their own file."""
    year = landing.years[-1]
    term_year = pl.col("term_start").dt.year()
    latest = frame.filter(term_year == year)
    people = pl.DataFrame(
        {
            "student_id": pl.Series(c.sid).cast(pl.String),
            "first_name": c.first_name,
            "last_name": c.last_name,
            "exit_date": c.exit_date,
            "_left": (c.exit_year == year) & (c.exit_kind != TRANSFERRED_OUT),
        }
    )
    apprentices = pl.col("institution_type") == "APPRENTICESHIP"
    landing.append("postsecondary_enrollment", year, latest.filter(apprentices), "apprenticeship")
    enrolled = frame.filter(term_year.is_in(list(landing.years)))["student_id"]
    not_found = people.filter(pl.col("_left") & ~pl.col("student_id").is_in(enrolled.implode()))
    colleges = latest.filter(~apprentices).join(people, on="student_id")
    landing.append("postsecondary_enrollment", year, detail_return(colleges, not_found))


def _append_by_calendar_year(landing: Landing, extract: str, frame: pl.DataFrame, col: str) -> None:
    frame = frame.with_columns(pl.col(col).dt.year().alias("_year"))
    for (year,), part in frame.partition_by("_year", as_dict=True, maintain_order=True).items():
        if int(year) in landing.years:
            landing.append(extract, int(year), part.drop("_year"))


def _enrolled(frame: pl.DataFrame) -> tuple[dict, dict, dict]:
    """Students per school, high-school students per district, and their econ. share."""
    per_school = frame.group_by("district_code", "location_code").agg(
        pl.col("student_id").n_unique().alias("n")
    )
    high = frame.filter(pl.col("grade_level") >= "09")
    per_district = high.group_by("district_code").agg(
        pl.col("student_id").n_unique().alias("n"),
        (pl.col("economically_disadvantaged") == "Y").mean().alias("econ"),
    )
    return (
        {(d, s): n for d, s, n in per_school.rows()},
        {d: n for d, n, _ in per_district.rows()},
        {d: e for d, _, e in per_district.rows()},
    )


def _write_year(
    landing: Landing,
    cohorts: list[Cohort],
    d: Directory,
    ref: Reference,
    socs: list[str],
    year: int,
    last_year: int,
    seed: int,
) -> None:
    enrollment = school_year.enrollment(cohorts, d, year)
    landing.districts("student_enrollment", year, enrollment)
    landing.districts(
        "cte_course_enrollment", year, school_year.course_enrollment(cohorts, d, year)
    )
    landing.districts("assessment_results", year, school_year.assessments(cohorts, d, year))
    landing.districts(
        "program_quality_review", year, school_year.program_quality_review(d, ref, year, seed)
    )
    credentials = school_year.credentials(cohorts, d, ref, year)
    if year <= LAST_STARS_YEAR:  # as districts submitted them to STARS, before Nova
        landing.stars_credentials(year, credentials)
    else:
        landing.districts("credential_attainment", year, credentials)
    landing.districts(
        "work_based_learning", year, school_year.work_based_learning(cohorts, d, year)
    )
    if enrollment is not None:
        per_school, per_district, econ = _enrolled(enrollment)
        landing.districts(
            "school_expenditures", year, finance.expenditures(d, per_school, year, seed)
        )
        landing.state("grant_awards", year, finance.grant_awards(d, per_district, econ, year, seed))
    records = labor_market.oews(socs, year, seed)
    # State, metropolitan and nonmetropolitan estimates in three files, as BLS releases
    # them: the latest year as BLS's workbooks, earlier ones in the contract layout.
    for kind in labor_market.OEWS_WORKBOOKS:
        if year == last_year:
            path = landing.path("oews_wages", kind, year, ".xlsx")
            landing.record("oews_wages", labor_market.write_oews_xlsx(records, path, year, kind))
        else:
            frame = labor_market.oews_frame(labor_market.oews_of_kind(records, kind))
            landing.state("oews_wages", year, frame, kind)
    projections = labor_market.projections(socs, year, seed)
    if year == last_year:  # as Projections Central and BLS publish them
        path = landing.path("occupational_projections", "state", year, ".xlsx")
        landing.record(
            "occupational_projections",
            labor_market.write_projections_central_xlsx(projections, path, year),
        )
        path = landing.path("education_assignments", "national", year, ".xlsx")
        landing.record("education_assignments", labor_market.write_education_xlsx(socs, path, year))
    else:
        landing.state("occupational_projections", year, projections)


def _truth(d: Directory, scale: str, seed: int, first: int, last: int) -> dict[str, object]:
    heavy = d.schools.filter(pl.Series(d.heavy)).select("district_code", "location_code")
    secondary = d.secondary
    return {
        "scale": scale,
        "seed": seed,
        "years": list(range(first, last + 1)),
        "effects": {
            "instructional_spending_per_student_cte_heavy_dollars": (
                effects.CTE_HEAVY_INSTRUCTION_PER_STUDENT
            ),
            "graduation_pp": effects.GRADUATION_PP,
            "placement_pp": effects.PLACEMENT_PP,
            "earnings_quarterly_dollars": effects.EARNINGS_QUARTERLY_DOLLARS,
        },
        "definitions": {
            "instructional_spending_per_student_cte_heavy_dollars": (
                "Fund 11000, function 1000 dollars per enrolled student that a CTE-heavy high "
                "school spends above other high schools in every fiscal year; spending is "
                "otherwise drawn independently of CTE intensity, so the unadjusted difference "
                "of means between the two groups recovers it."
            ),
            "graduation_pp": (
                "Percentage points added to a concentrator's probability of graduating on or "
                "before June 30 of cohort_year (1S1 sense)."
            ),
            "placement_pp": (
                "Percentage points added to a concentrator's probability of being placed "
                "(3S1 rule) in the second quarter after exit; compare leavers with the same "
                "exit_code (graduates are placed more often than dropouts)."
            ),
            "earnings_quarterly_dollars": (
                "Dollars added to every quarterly UI wage record of a concentrator; among "
                "graduates employed in the second quarter after exit the mean and median "
                "shift by exactly this amount."
            ),
        },
        "matched_on": list(effects.MATCHED_ON),
        "concentrator_rule": (
            "Two completed courses in one program of study in grades 9-12; the generator "
            "decides concentration from school, sex, economic disadvantage and disability "
            "only, before any outcome."
        ),
        "full_history_cohorts": list(range(first + 3, last + 1)),
        "full_history_note": (
            "Only the requested years are written. Cohorts whose grade-9 year precedes the "
            "first written year are missing early courses, so some of their concentrators "
            "look like non-concentrators and dilute a comparison; use full_history_cohorts "
            "to check the planted effects."
        ),
        "cte_heavy_rule": (
            "A planted CTE-heavy school expects more than 25 percent of its students to be "
            "concentrators (the LESC CTE Powerhouse share); at the large scale the 500-"
            "concentrator count rule also classifies big schools that are not planted heavy."
        ),
        "cte_heavy_schools": heavy.to_dicts(),
        "expected_concentrator_share": round(
            float(np.average(d.intent[secondary], weights=d.cohort_size[secondary]))
            * CONCENTRATED_BY_GRADE_MEAN,
            3,
        ),
    }


def generate(
    scale: str, years: int, seed: int, landing_dir: Path, last_year: int = 2025
) -> dict[str, object]:
    """Write every extract for `years` school years ending `last_year`; return a summary."""
    started = time.perf_counter()
    _check(scale, years, last_year)
    first = last_year - years + 1
    ref = load_reference()
    catalog = Catalog.build(ref)
    d = build_directory(ref, SCALES[scale], seed)
    socs = sorted({s for codes in ref.programs["soc_codes"] for s in codes.split("|")})
    landing = Landing(Path(landing_dir), years=range(first, last_year + 1))
    cohorts: dict[int, Cohort] = {}
    next_cohort = first - 1
    try:
        for year in range(first, last_year + 1):
            # Cohorts in school this year: grade 6 (cohort year+6) to a fifth year (year-1).
            for c in [c for c in cohorts if c < year - 1]:
                del cohorts[c]
            while next_cohort <= year + 6:
                c = simulate_cohort(next_cohort, d, catalog, seed, (first, last_year))
                _append_after_exit(landing, c)
                cohorts[next_cohort] = c
                next_cohort += 1
            window = [cohorts[c] for c in sorted(cohorts)]
            _write_year(landing, window, d, ref, socs, year, last_year, seed)
    finally:
        landing.close()
    # Without CTE_PSEUDONYM_KEY only these files load (decision 0012).
    register_sample_files(Path(landing_dir), sorted(p for p in landing.written if p.exists()))
    truth = truth_path(Path(landing_dir))
    truth.parent.mkdir(parents=True, exist_ok=True)
    truth.write_text(json.dumps(_truth(d, scale, seed, first, last_year), indent=2) + "\n")
    return {
        "scale": scale,
        "seed": seed,
        "years": [first, last_year],
        "landing_dir": str(landing_dir),
        "truth": str(truth),
        "files": dict(sorted(landing.files.items())),
        "rows": dict(sorted(landing.rows.items())),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
