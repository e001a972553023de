"""Checks that need more than one file: run in SQL over the warehouse after a load.

All are WARN (reported, nothing quarantined): a course record for a student missing from
enrollment may be the enrollment file's fault, not the course file's. Results go to
audit.dq_results under suite ``cross_file`` with the manifest of the submission concerned.
They are recomputed for every current (LOADED) submission each time, because a file that
arrives later (the enrollment file) changes the answer for files already loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from dagster_project.ingest.hold import AREA_EXTRACTS, state_area_code
from dagster_project.quality.gate import RESULT_SCHEMA, replace_results
from dagster_project.quality.suites import WARN, seeds_dir

SUITE = "cross_file"
ROW_COUNT_TOLERANCE = 0.30  # a change beyond +-30 % against the previous submission
# A check's own columns: every result column but the two the suite sets for all of them.
_CHECK_SCHEMA = {k: v for k, v in RESULT_SCHEMA.items() if k not in ("suite", "severity")}


@dataclass(frozen=True)
class _StudentCheck:
    name: str
    table: str
    message: str


STUDENT_CHECKS = (
    _StudentCheck(
        "course_students_in_enrollment",
        "cte_course_enrollment",
        "Course records for students who are not in this district's student enrollment "
        "file for the same school year.",
    ),
    _StudentCheck(
        "credential_students_in_enrollment",
        "credential_attainment",
        "Credentials reported for students who are not in this district's student enrollment "
        "file for the same school year.",
    ),
    _StudentCheck(
        "wbl_students_in_enrollment",
        "work_based_learning",
        "Work-based learning reported for students who are not in this district's student "
        "enrollment file for the same school year.",
    ),
)


def _student_check_sql(check: _StudentCheck) -> str:
    # Only district-years whose enrollment has arrived: before that, every row would be
    # flagged, and the report already shows the enrollment file as missing.
    return f"""
        with enrolled as (
            select distinct e.student_id, e.district_code, e.school_year, true as found
            from raw.student_enrollment e
            join raw.load_manifest m on m.manifest_id = e._manifest_id and m.status = 'LOADED'
        ),
        covered as (
            select distinct district_code, school_year from raw.load_manifest
            where extract = 'student_enrollment' and status = 'LOADED'
        )
        select r._manifest_id as manifest_id,
               '{check.table}' as extract,
               '{check.name}' as expectation,
               'student_id' as column_name,
               'INCONSISTENT' as reason_code,
               '{check.message.replace("'", "''")}' as description,
               count(*) as element_count,
               count(*) filter (where e.found is null) as unexpected_count
        from raw.{check.table} r
        join covered c on c.district_code = r.district_code and c.school_year = r.school_year
        left join enrolled e
          on e.student_id = r.student_id and e.district_code = r.district_code
         and e.school_year = r.school_year
        group by r._manifest_id
    """


_ROW_COUNT_SQL = """
    with submissions as (
        select manifest_id, extract, district_code, school_year, submitted_at, status,
               file_name, rows_read,
               lag(rows_read) over w as previous_rows,
               lag(file_name) over w as previous_file
        from raw.load_manifest
        where status in ('LOADED', 'SUPERSEDED') and rows_read is not null
        window w as (partition by extract, district_code order by school_year, submitted_at)
    )
    select manifest_id, extract, rows_read, previous_rows, previous_file
    from submissions
    where status = 'LOADED' and previous_rows > 0
"""


def _row_count_results(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    rows = []
    for manifest_id, extract, now, before, before_file in con.execute(_ROW_COUNT_SQL).fetchall():
        change = (now - before) / before
        rows.append(
            {
                "manifest_id": manifest_id,
                "extract": extract,
                "expectation": "row_count_near_previous",
                "column_name": None,
                "reason_code": "INCONSISTENT",
                "description": (
                    f"{now:,} rows against {before:,} in the previous submission ({before_file}), "
                    f"a change of {change:+.0%}; changes beyond ±{ROW_COUNT_TOLERANCE:.0%} are "
                    "flagged: please confirm the file is complete."
                ),
                "success": abs(change) <= ROW_COUNT_TOLERANCE,
                "element_count": now,
                "unexpected_count": None,
                "unexpected_percent": 100.0 * change,
            }
        )
    return pl.DataFrame(rows, schema=_CHECK_SCHEMA)


def marts_areas(extract: str) -> list[str]:
    """The areas whose rows of ``extract`` a mart reads: the state's; for OEWS wages also the
    metro and nonmetro areas of the regional wages (seed labor_market_areas)."""
    areas = [state_area_code()]
    if extract == "oews_wages":
        seed = pl.read_csv(seeds_dir() / "labor_market_areas.csv", infer_schema=False)
        areas += sorted(set(seed["area_code"]))
    return areas


def _release_files(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(manifest, extract, data year, file, rows, rows of the state area, rows a mart reads)
    per current labor-market file with an area column."""
    counts = " union all ".join(
        f"select _manifest_id as manifest_id, count(*) as n, "
        f"count(*) filter (where area = '{state_area_code()}') as state_n, "
        f"count(*) filter (where area in ({', '.join(map(repr, marts_areas(e)))})) as read_n "
        f"from raw.{e} group by all"
        for e in AREA_EXTRACTS
    )
    return con.execute(f"""
        with counts as ({counts})
        select m.manifest_id, m.extract, m.school_year, m.file_name, c.n, c.state_n, c.read_n
        from raw.load_manifest m join counts c using (manifest_id)
        where m.status = 'LOADED' order by m.extract, m.school_year, m.manifest_id
    """).fetchall()


def _area_words(extract: str) -> str:
    state = state_area_code()
    if extract == "oews_wages":
        return f"the state, area {state}, or a metro or nonmetro area of seed labor_market_areas"
    return f"the state, area {state}"


def _release_used(school_year: int, data_years: list[int]) -> int:
    """int_labor_market_years' rule: the latest release not after the school year, else the
    earliest (sample and back-filled years)."""
    before = [d for d in data_years if d <= school_year]
    return max(before) if before else min(data_years)


def _release_result(file: tuple, uses: dict[int, int]) -> list[dict]:
    """The two checks of one labor-market file: do its rows reach a mart; does any school
    year fall back to an older release although this one is loaded."""
    manifest_id, extract, data_year, name, rows, _state_rows, read_rows = file
    used_by = sorted(y for y, used in uses.items() if used == data_year)
    older = sorted(y for y, used in uses.items() if used < data_year <= y)
    state = state_area_code()
    if read_rows == 0:
        why = f"none of its {rows:,} rows is for an area the marts read ({_area_words(extract)})"
    elif not used_by:
        why = f"no school year uses its release ({data_year}): each uses the latest not after it"
    else:
        why = ""
    base = {"manifest_id": manifest_id, "extract": extract, "column_name": "area"}
    base |= {"reason_code": "INCONSISTENT", "element_count": rows}
    reach = bool(read_rows and used_by)
    fallback = ", ".join(map(str, older))
    return [
        base
        | {
            "expectation": "labor_market_rows_reach_marts",
            "description": f"Loaded, but no row reaches a mart: {why}." if why else "Used.",
            "success": reach,
            "unexpected_count": 0 if reach else rows,
            "unexpected_percent": 0.0 if reach else 100.0,
        },
        base
        | {
            "expectation": "labor_market_no_older_release",
            "description": (
                f"School year {fallback} use(s) an older {extract} release than this loaded "
                f"{data_year} file ({name}): it has no row for the state (area {state})."
            ),
            "success": not older,
            "unexpected_count": None,
            "unexpected_percent": None,
        },
    ]


def _labor_market_results(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    years = [
        r[0]
        for r in con.execute(
            "select distinct e.school_year from raw.student_enrollment e join raw.load_manifest "
            "m on m.manifest_id = e._manifest_id and m.status = 'LOADED' order by 1"
        ).fetchall()
    ]
    files = _release_files(con)
    rows = []
    for extract in AREA_EXTRACTS:
        mine = [f for f in files if f[1] == extract]
        releases = sorted({f[2] for f in mine if f[5]})
        uses = {y: _release_used(y, releases) for y in years} if releases else {}
        for file in mine:
            rows += _release_result(file, uses)
    return pl.DataFrame(rows, schema=_CHECK_SCHEMA)


def cross_file_results(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every cross-file result for the current submissions (audit.dq_results columns)."""
    frames = [
        pl.from_arrow(con.sql(_student_check_sql(check)).to_arrow_table())
        .with_columns(
            (pl.col("unexpected_count") == 0).alias("success"),
            (100.0 * pl.col("unexpected_count") / pl.col("element_count")).alias(
                "unexpected_percent"
            ),
        )
        .select(list(_CHECK_SCHEMA))
        .cast(_CHECK_SCHEMA)
        for check in STUDENT_CHECKS
    ]
    frames.append(_row_count_results(con))
    frames.append(_labor_market_results(con))
    return pl.concat(frames).with_columns(
        pl.lit(SUITE).alias("suite"), pl.lit(WARN).alias("severity")
    )


def run_cross_file_checks(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None
) -> pl.DataFrame:
    """Replace the cross-file results of the current submissions; return what was written."""
    results = cross_file_results(con)
    replace_results(con, SUITE, results, run_id)
    return results
