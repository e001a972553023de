"""The floor: benchmarks/floor.sql over the same landed files, timed in a child process.

    python -m benchmarks.floor LANDING_DIR RESULTS_PARQUET   (prints {"seconds": ...})

The child reads every CSV once into an in-memory DuckDB and runs the script; only that is
timed. Its results are then written to Parquet (untimed) so the benchmark can compare them
with the pipeline's marts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from benchmarks.common import PYTHON, REPO_ROOT, log
from benchmarks.procmon import PeakRss, children_cpu_seconds, gib

FLOOR_SQL = Path(__file__).with_name("floor.sql")
SEEDS_DIR = REPO_ROOT / "dbt" / "seeds"
# State-level rows shown side by side in the report.
SHOWN_INDICATORS = ("CONC", "1S1", "3S1", "5S1")


# The two extracts whose files may land in a publisher's layout (decisions 0014, 0021): per
# layout, a word of its header and the select giving floor.sql's columns from read_csv(?).
_CONTRACT_CREDENTIALS = """
    select student_id, district_code, location_code, cip_code,
        nullif(earned_date, '')::date as earned_date, verified
    from read_csv(?, header = true, all_varchar = true)"""
# A STARS credential counts when its code is on PED's list for the year.
_STARS_CREDENTIALS = """
    select k."STUDENT ID" as student_id, k."DISTRICT CODE" as district_code,
        k."LOCATION CODE" as location_code, k."CIP CODE" as cip_code,
        nullif(k."CREDENTIAL EARNED DATE", '')::date as earned_date,
        case when exists (
            select 1 from read_csv('ped_credential_list.csv', header = true, all_varchar = true) l
            where l.credential_code = k."INDUSTRY CREDENTIAL CODE"
                and year(k."SCHOOL YEAR DATE"::date) >= l.first_school_year::integer
                and (l.last_school_year is null
                    or year(k."SCHOOL YEAR DATE"::date) <= l.last_school_year::integer)
        ) then 'Y' else 'N' end as verified
    from read_csv(?, header = true, all_varchar = true) k"""
_CONTRACT_POSTSECONDARY = """
    select student_id, nullif(term_start, '')::date as term_start
    from read_csv(?, header = true, all_varchar = true)"""
# Enrollment periods only: not-found students and degree rows are no enrollment.
_NSC_POSTSECONDARY = """
    select "Requester Return Field" as student_id,
        strptime("Enrollment Begin", '%Y%m%d')::date as term_start
    from read_csv(?, header = true, all_varchar = true)
    where "Record Found Y/N" = 'Y' and coalesce("Graduated?", 'N') <> 'Y'
        and nullif("Enrollment Begin", '') is not null"""
_LAYOUTS = {
    "credential_attainment": (
        "credentials/credential_attainment",
        {"student_id": _CONTRACT_CREDENTIALS, "STUDENT ID": _STARS_CREDENTIALS},
    ),
    "postsecondary_enrollment": (
        "labor_market/postsecondary_enrollment",
        {"student_id": _CONTRACT_POSTSECONDARY, "Requester Return Field": _NSC_POSTSECONDARY},
    ),
}


def _read_publisher_layouts(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Each file of the two extracts read by its layout (told by its header) into one table."""
    for table, (folder, layouts) in _LAYOUTS.items():
        by_layout: dict[str, list[str]] = {}
        for path in sorted((landing / folder).glob("*.csv")):
            with path.open(encoding="utf-8-sig") as f:
                header = f.readline()
            word = next(w for w in layouts if w in header)
            by_layout.setdefault(word, []).append(str(path))
        parts = [(layouts[w], files) for w, files in by_layout.items()]
        sql = " union all ".join(select for select, _ in parts)
        con.execute(f"create table {table} as {sql}", [files for _, files in parts])


def compute(landing: Path, results: Path) -> float:
    """Run floor.sql over ``landing``; seconds spent reading and computing."""
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"set file_search_path = '{landing},{SEEDS_DIR}'")
    _read_publisher_layouts(con, landing)
    con.execute(FLOOR_SQL.read_text())
    seconds = time.perf_counter() - started
    con.execute(f"copy floor_results to '{results}' (format parquet)")
    con.close()
    return seconds


def run_floor(landing: Path, results: Path, label: str) -> dict[str, object]:
    log(f"floor {label}: floor.sql over {landing}")
    cpu_before = children_cpu_seconds()
    proc = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.floor", str(landing), str(results)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with PeakRss(proc.pid) as peak:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"floor.sql failed:\n{err[-3000:]}")
    seconds = json.loads(out)["seconds"]
    log(f"floor {label}: {seconds:.1f}s, peak {gib(peak.bytes):.2f} GiB")
    return {
        "seconds": round(seconds, 2),
        # The whole child, start-up included: a little above the script's own CPU.
        "cpu_seconds": round(children_cpu_seconds() - cpu_before, 1),
        "peak_rss_bytes": peak.bytes,
        "results": str(results),
    }


# The pipeline's numbers for the same cells: Perkins indicators (all students, all programs)
# and concentrators enrolled in high school (program_continuum's 'concentrators' step).
_MART_CELLS = """
    select school_year, indicator_code, level, entity_code, numerator, denominator
    from wh.marts.perkins_indicators
    where group_type = 'all' and program_of_study_code = 'ALL' and career_cluster = 'ALL'
    union all
    select school_year, 'CONC', level, entity_code, student_count, student_count
    from wh.marts.program_continuum
    where step = 'concentrators' and program_of_study_code = 'ALL' and career_cluster = 'ALL'
"""


def cross_check(results: Path, warehouse: Path) -> dict[str, object]:
    """Agreement of the floor's cells with the marts, per level, plus a few state figures."""
    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as wh (read_only)")
    con.execute(f"create temp view floor_cells as select * from read_parquet('{results}')")
    con.execute(f"create temp view mart_cells as {_MART_CELLS}")
    joined = """
        from floor_cells as f
        full join mart_cells as m using (school_year, indicator_code, level, entity_code)
    """
    levels = {}
    for level, cells, agree, only_floor, only_mart in con.execute(
        f"""
        select level, count(*),
            count(*) filter (where f.numerator = m.numerator and f.denominator = m.denominator),
            count(*) filter (where m.denominator is null),
            count(*) filter (where f.denominator is null)
        {joined} group by level order by level
        """
    ).fetchall():
        levels[level] = {
            "cells": cells,
            "agree": agree,
            "only_in_floor": only_floor,
            "only_in_marts": only_mart,
        }
    latest = con.execute("select max(school_year) from floor_cells").fetchall()[0][0]
    shown = ", ".join(f"'{c}'" for c in SHOWN_INDICATORS)
    state_rows = con.execute(
        f"""
        select school_year, indicator_code, f.numerator, f.denominator,
            m.numerator, m.denominator
        {joined}
        where level = 'state' and school_year = ? and indicator_code in ({shown})
        order by indicator_code
        """,
        [latest],
    ).fetchall()
    con.close()
    total = sum(v["cells"] for v in levels.values())
    agree = sum(v["agree"] for v in levels.values())
    return {
        "levels": levels,
        "cells": total,
        "agree": agree,
        "agreement_share": round(agree / total, 4) if total else 0.0,
        "state_examples": [
            {
                "school_year": y,
                "indicator": code,
                "floor": [fn, fd],
                "marts": [mn, md],
                "agree": (fn, fd) == (mn, md),
            }
            for y, code, fn, fd, mn, md in state_rows
        ],
    }


if __name__ == "__main__":
    print(json.dumps({"seconds": compute(Path(sys.argv[1]), Path(sys.argv[2]))}))
