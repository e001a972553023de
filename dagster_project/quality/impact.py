"""What the errors cost: which indicators and programs a district-year's set-aside rows touch.

For each extract with rows set aside in a current submission, from the quarantine and the
marts' student-level populations (never guessed): how many distinct students the rows are
of (``raw.quarantined_students``, the pseudonyms the loader keeps for the quarantine), and
how many of them the district-year's indicator populations and program concentrations
count now. A student whose only rows were set aside may be missing from them; one with
other rows loaded is counted, maybe with a different value. What an extract feeds is
declared once, as data, beside the contract (``contracts.FEEDS``). Only counts leave this
module: never a student's key (decision 0023).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from dagster_project.contracts import FEEDS, INDICATORS, Feeds

# The marts' student-level tables the counts read (dbt's intermediate schema).
POPULATIONS = "intermediate.int_indicator_students"
PROGRAMS = "intermediate.int_program_concentration"


@dataclass
class Impact:
    extract: str
    rows: int  # rows set aside
    students: int  # distinct students among them (rows with a well-formed student ID)
    rows_without_student: int  # set-aside rows whose student ID could not be read
    feeds: Feeds
    # Of those students, how many each indicator's population of the district-year counts
    # now; None when the marts are not built.
    in_indicators: dict[str, int] | None = None
    concentrators: int | None = None  # of them, concentrating in a program in the year
    programs: list[tuple[str, int]] = field(default_factory=list)  # (program, students)

    @property
    def indicators(self) -> str:
        """The indicators the extract feeds, runs written as ranges (5S1-5S3)."""
        return ", ".join(_ranges(self.feeds.indicators))


def _ranges(codes: Sequence[str]) -> list[str]:
    """Consecutive indicator codes of one family as a range: 2S1, 2S2, 2S3 -> 2S1-2S3."""
    runs: list[list[str]] = []
    for code in sorted(codes, key=INDICATORS.index):
        last = runs[-1][-1] if runs else None
        follows = (
            last is not None
            and last[:2] == code[:2]
            and INDICATORS.index(code) == INDICATORS.index(last) + 1
        )
        if follows:
            runs[-1].append(code)
        else:
            runs.append([code])
    return [r[0] if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs]


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``schema.name`` exists (dbt's tables do not before the first build)."""
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


# The set-aside rows of the submissions, and their distinct students per extract.
_WITH = """
    with aside as (
        select m.extract, q.manifest_id, q.source_row, k.student_key
        from (select distinct manifest_id, source_row from raw.quarantine
              where manifest_id in ({ids})) q
        join raw.load_manifest m using (manifest_id)
        left join raw.quarantined_students k using (manifest_id, source_row)
    ),
    students as (
        select distinct extract, student_key from aside where student_key is not null
    )
"""


def impacts(
    con: duckdb.DuckDBPyConnection, manifest_ids: Sequence[int], district: str, year: int
) -> list[Impact]:
    """The cost of the rows set aside from ``manifest_ids`` (a district-year's current
    submissions), one ``Impact`` per extract with rows set aside."""
    if not manifest_ids:
        return []
    with_ = _WITH.format(ids=", ".join(str(int(m)) for m in manifest_ids))
    found = {
        extract: Impact(extract, rows, students, no_key, FEEDS[extract])
        for extract, rows, students, no_key in con.execute(
            f"{with_} select extract, count(*), count(distinct student_key), "
            "count(*) filter (where student_key is null) "
            "from aside group by extract order by extract"
        ).fetchall()
    }
    if found and table_exists(con, POPULATIONS):
        for impact in found.values():
            impact.in_indicators = {}
        for extract, indicator, n in con.execute(
            f"{with_} select s.extract, i.indicator_code, count(distinct s.student_key) "
            f"from students s join {POPULATIONS} i using (student_key) "
            "where i.school_year = ? and i.district_code = ? group by all",
            [year, district],
        ).fetchall():
            found[extract].in_indicators[indicator] = n
    if found and table_exists(con, PROGRAMS):
        concentrating = (
            f"{with_}, concentrating as (select s.extract, s.student_key, p.program_of_study_code "
            f"from students s join {PROGRAMS} p using (student_key) "
            "where p.school_year = ? and p.is_concentrator)"
        )
        for impact in found.values():
            impact.concentrators = 0
        for extract, n in con.execute(
            f"{concentrating} select extract, count(distinct student_key) "
            "from concentrating group by all",
            [year],
        ).fetchall():
            found[extract].concentrators = n
        for extract, program, n in con.execute(
            f"{concentrating} select extract, program_of_study_code, count(distinct student_key) "
            "from concentrating group by all order by 1, 3 desc, 2",
            [year],
        ).fetchall():
            found[extract].programs.append((program, n))
    return list(found.values())
