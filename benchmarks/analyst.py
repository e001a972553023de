"""Typical analyst queries on the published snapshot, timed on a read-only connection.

The eight queries follow docs/analyst-guide.md: look-ups an analyst types at the prompt
(snapshot, catalog, one school, one district over the years) and state-wide scans
(equity gaps, credentials by cluster, suppression summary, all indicators).
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from benchmarks.common import percentile

QUERIES: dict[str, str] = {
    "snapshot_info": """
        select snapshot_id, published_at, code_version, min_n, len(manifest_ids) as loads
        from snapshot""",
    "catalog_rate_columns": """
        select table_name, column_name, description from catalog
        where column_name ilike '%rate%' and table_name = 'perkins_indicators'""",
    "state_indicators_latest_year": """
        select indicator_code, numerator, denominator, rate_display, state_target
        from perkins_indicators
        where school_year = {year} and level = 'state' and group_type = 'all'
          and program_of_study_code = 'ALL' and career_cluster = 'ALL'
        order by indicator_code""",
    "schools_below_1s1_trigger": """
        select entity_code, rate_display, state_target from perkins_indicators
        where school_year = {year} and indicator_code = '1S1' and level = 'school'
          and program_of_study_code = 'ALL' and career_cluster = 'ALL' and group_type = 'all'
          and is_below_target_trigger
        order by rate""",
    "district_5s3_trend": """
        select school_year, numerator, denominator, rate_display, state_target
        from perkins_indicators
        where level = 'district' and entity_code = '{district}' and indicator_code = '5S3'
          and program_of_study_code = 'ALL' and career_cluster = 'ALL' and group_type = 'all'
        order by school_year""",
    "school_continuum": """
        select step_order, step, credential_tier, student_count, rate_of_base_display,
               suppression_reason
        from program_continuum
        where school_year = {year} and level = 'school' and entity_code = '{school}'
          and program_of_study_code = 'ALL' and career_cluster = 'ALL'
        order by step_order, credential_tier""",
    "state_equity_gaps": """
        select indicator_code, group_type, group_value, group_rate_display,
               all_students_rate, round(gap, 3) as gap
        from equity_gaps
        where school_year = {year} and level = 'state' and program_of_study_code = 'ALL'
          and career_cluster = 'ALL' and is_gap_above_threshold
        order by abs(gap) desc""",
    "suppression_summary": """
        select 'perkins_indicators' as table_name, suppression_reason, count(*) as n
        from perkins_indicators group by all
        union all
        select 'program_continuum', suppression_reason, count(*) from program_continuum
        group by all
        order by 1, 2 nulls first""",
}


def parameters(published: Path) -> dict[str, object]:
    """The latest year, the largest district and its largest school, as an analyst picks."""
    with duckdb.connect(str(published), read_only=True) as con:
        year = con.execute("select max(school_year) from perkins_indicators").fetchall()[0][0]
        district, school = con.execute(
            """
            select district_code, entity_code from program_continuum
            where level = 'school' and step = 'participants' and school_year = ?
              and program_of_study_code = 'ALL' and career_cluster = 'ALL'
            order by student_count desc nulls last, entity_code limit 1
            """,
            [year],
        ).fetchall()[0]
    return {"year": year, "district": district, "school": school}


def run_round(published: Path, params: dict[str, object]) -> dict[str, float]:
    """Each query once on a fresh read-only connection (as an analyst opens the file);
    milliseconds per query, fetching every row."""
    timings = {}
    with duckdb.connect(str(published), read_only=True) as con:
        for name, sql in QUERIES.items():
            started = time.perf_counter()
            con.execute(sql.format(**params)).fetchall()
            timings[name] = (time.perf_counter() - started) * 1000
    return timings


def summarize(rounds: list[dict[str, float]]) -> dict[str, object]:
    samples = [ms for r in rounds for ms in r.values()]
    if not samples:
        return {"rounds": 0, "samples": 0}
    return {
        "rounds": len(rounds),
        "samples": len(samples),
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "max_ms": round(max(samples), 2),
        "median_ms_by_query": {
            name: round(percentile([r[name] for r in rounds], 50), 2) for name in QUERIES
        },
    }


def measure_idle(published: Path, rounds: int) -> dict[str, object]:
    params = parameters(published)
    run_round(published, params)  # warm the OS file cache, as a working analyst's would be
    result = summarize([run_round(published, params) for _ in range(rounds)])
    return result | {"parameters": params}
