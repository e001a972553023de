"""What the errors cost (issue 22): the impact lines of a district-year, against a
hand-computed example on a warehouse written by hand (no dbt run: the two student-level
tables the counts read are created with the columns they use)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from test_quality import _manifest

from dagster_project.contracts import EXTRACTS_BY_NAME, FEEDS, INDICATORS
from dagster_project.quality.impact import _ranges, impacts
from dagster_project.quality.report import PageScope, build_report
from dagster_project.warehouse import ensure_schema

YEAR = 2025
A, B, C, D, E, F = (f"{n:064x}" for n in range(1, 7))  # pseudonyms, as the loader keeps them


def _set_aside(con, manifest_id: int, rows: dict[int, str | None], reasons: int = 1) -> None:
    """Quarantine ``rows`` (source row -> student pseudonym, None: no readable ID), each
    with ``reasons`` reasons."""
    for source_row, key in rows.items():
        for n in range(reasons):
            con.execute(
                "insert into raw.quarantine values (?, ?, 'grade_level', ?, 'fix it', null)",
                [manifest_id, source_row, f"REASON_{n}"],
            )
        if key:
            con.execute(
                "insert into raw.quarantined_students values (?, ?, ?)",
                [manifest_id, source_row, key],
            )


@pytest.fixture
def con():
    con = duckdb.connect()
    ensure_schema(con)
    _manifest(con, 1, "cte_course_enrollment", "001", YEAR, 100)
    _manifest(con, 2, "student_enrollment", "001", YEAR, 100)
    _manifest(con, 3, "cte_course_enrollment", "001", YEAR, 100, status="SUPERSEDED")
    # Courses: 7 rows set aside (line 2 for two reasons, counted once), of 5 students (A has
    # two lines; line 7's student ID could not be read).
    _set_aside(con, 1, {2: A}, reasons=2)
    _set_aside(con, 1, {3: A, 4: B, 5: C, 6: D, 7: None, 8: E})
    _set_aside(con, 2, {5: A})
    _set_aside(con, 3, {2: F})  # a superseded file's rows do not count
    con.execute("create schema intermediate")
    con.execute(
        "create table intermediate.int_indicator_students (student_key varchar, "
        "school_year bigint, indicator_code varchar, district_code varchar)"
    )
    con.executemany(
        "insert into intermediate.int_indicator_students values (?, ?, ?, ?)",
        [
            (A, YEAR, "1S1", "001"),
            (A, YEAR, "5S1", "001"),
            (B, YEAR, "1S1", "001"),
            (C, YEAR, "1S1", "002"),  # another district's population
            (D, YEAR - 1, "1S1", "001"),  # another year's
        ],
    )
    con.execute(
        "create table intermediate.int_program_concentration (student_key varchar, "
        "school_year bigint, program_of_study_code varchar, is_concentrator boolean)"
    )
    con.executemany(
        "insert into intermediate.int_program_concentration values (?, ?, ?, ?)",
        [
            (A, YEAR, "0301", True),
            (B, YEAR, "0301", True),
            (E, YEAR, "1402", True),
            (C, YEAR, "0301", False),  # a participant, not a concentrator
            (D, YEAR - 1, "0301", True),  # last year's
        ],
    )
    yield con
    con.close()


def test_the_impact_lines_match_a_hand_computed_example(con):
    courses, enrollment = impacts(con, [1, 2], "001", YEAR)
    assert (courses.extract, courses.rows, courses.students, courses.rows_without_student) == (
        "cte_course_enrollment",
        7,
        5,
        1,
    )
    # Of A-E: A and B are in 1S1 of 001's year (C is in 002's, D in last year's); A in 5S1.
    assert courses.in_indicators == {"1S1": 2, "5S1": 1}
    # A, B and E concentrate this year (C participates, D concentrated last year).
    assert courses.concentrators == 3 and courses.programs == [("0301", 2), ("1402", 1)]
    assert (enrollment.rows, enrollment.students, enrollment.in_indicators) == (
        1,
        1,
        {"1S1": 1, "5S1": 1},
    )
    assert impacts(con, [], "001", YEAR) == []


# Every page, as a rebuild writes them, and the district's page alone, as after its load.
@pytest.mark.parametrize("scopes", [None, [PageScope(YEAR, "001")]], ids=["all", "one"])
def test_the_page_says_it_in_counts_and_never_shows_a_key(
    con, tmp_path: Path, scopes: list[PageScope] | None
):
    index = build_report(con, tmp_path, scopes)
    page = (index.parent / "001" / f"{YEAR}.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
    assert (
        "7 cte_course_enrollment rows set aside: 5 students of this district may be missing "
        "from CTE participants and concentrators, so from 1S1-1S2, 2S1-2S3, 3S1, 4S1, "
        "5S1-5S3, the simulated allocation, program continuum." in text
    )
    assert "(1 of the rows have no readable student ID" in text
    assert "3 as concentrators (programs 0301: 2, 1402: 1)" in text
    assert "1S1 2 · 1S2 0 · 2S1 0" in text and "5S1 1 · 5S2 0" in text
    assert not re.search(r"[0-9a-f]{64}", page)


def test_every_extract_declares_what_it_feeds():
    assert set(FEEDS) == set(EXTRACTS_BY_NAME)
    assert all(set(f.indicators) <= set(INDICATORS) for f in FEEDS.values())
    assert _ranges(("5S3", "2S2", "2S1", "2S3", "5S1")) == ["2S1-2S3", "5S1", "5S3"]
    assert _ranges(INDICATORS) == ["1S1-1S2", "2S1-2S3", "3S1", "4S1", "5S1-5S3"]
