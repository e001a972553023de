"""What a snapshot shows: the other half of disclosure control (measures.md, publishing rules).

Every row of a working mart whose cell size reaches min n is a cell a reader is owed. Joined
to the published table on its primary key, each such cell is one of:

- shown: published with no part withheld as a complement (a rate top/bottom coded, or a part
  whose own denominator is small, still counts: what is shown is the answer);
  ``shown_as_range`` of them show a count or rate as a range ("4,120 to 4,129");
- withheld: the row, or one of its counts or rates, is "suppressed (complementary)"; or a
  derived value (a mean, a gap) is null where the mart has one, is not published as a range
  and no count or rate it is computed from is coded, a range or small
  (comparison_outcomes' difference is its answer);
- omitted: no published row (a link left it out).

The shares go into the snapshot (``publication_summary``), the publish result and the
benchmark, per table and level, and for the headline cells (all students, all programs).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from dagster_project.publish.spec import PublishSpec
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    DISPLAY_SUFFIX,
    RANGE_SEPARATOR,
    SMALL_N_DISPLAY,
    SUPPRESSION_REASON,
)

UTILITY_TABLE = "publication_summary"
# Key columns that, at these values, make a row a headline cell: all students, all programs.
_HEADLINE = {
    "group_type": "all",
    "group_value": "ALL",
    "program_of_study_code": "ALL",
    "career_cluster": "ALL",
}
COUNT_COLUMNS = ("cells", "shown", "shown_as_range", "withheld", "omitted")


def _displays(spec: PublishSpec, columns: set[str], of: set[str] | None = None) -> list[str]:
    """The display columns of the table's rates, counts and derived values (a gap published
    as a range, a copied rate's display; ``of``: only of these)."""
    names = [r.column for r in spec.rates] + list(spec.counts) + list(spec.derived)
    displays = [n + DISPLAY_SUFFIX for n in names if of is None or n in of]
    return [_quote(d) for d in displays if d in columns]


def _derived_lost(spec: PublishSpec, published: set[str], working: set[str]) -> str:
    """SQL: a derived value the mart has is null in the snapshot, and no count or rate it is
    computed from is coded, shown as a range or withheld for its own small n (which would
    explain it)."""
    derived = [_quote(d) for d in spec.derived if d in published and d in working]
    if not derived:
        return "false"
    lost = " or ".join(f"(w.{d} is not null and p.{d} is null)" for d in derived)
    # A derived value published as a range (its display) is explained by that range.
    inputs = _displays(spec, published, of=spec.derivation_inputs | set(spec.derived))
    explained = " or ".join(
        f"p.{d} like '>=%' or p.{d} like '<=%' or contains(p.{d}, '{RANGE_SEPARATOR}') "
        f"or starts_with(p.{d}, '{SMALL_N_DISPLAY}')"
        for d in inputs
    )
    return f"(({lost}) and not coalesce({explained or 'false'}, false))"


def _table_sql(
    spec: PublishSpec,
    published_columns: set[str],
    working: str,
    working_columns: set[str],
    min_n: int,
) -> str:
    displays = _displays(spec, published_columns)
    complementary = " or ".join(f"p.{d} = '{COMPLEMENTARY_DISPLAY}'" for d in displays) or "false"
    ranged = " or ".join(f"contains(p.{d}, '{RANGE_SEPARATOR}')" for d in displays) or "false"
    reason = f"p.{_quote(SUPPRESSION_REASON)}"
    derived_lost = _derived_lost(spec, published_columns, working_columns)
    level = "w.level" if "level" in working_columns else "'all'"
    headline = " and ".join(
        f"w.{_quote(c)} = '{v}'" for c, v in _HEADLINE.items() if c in spec.primary_key
    )
    on = " and ".join(f"w.{_quote(c)} is not distinct from p.{_quote(c)}" for c in spec.primary_key)
    return f"""
        with cells as (
            select {level}::varchar as level, {headline or "false"} as headline,
                case
                    when p.__published is null then 'omitted'
                    when {reason} is not null or {complementary} or {derived_lost}
                        then 'withheld'
                    when {ranged} then 'shown_as_range'
                    else 'shown_exactly'
                end as state
            from {working} w
            left join (select *, true as __published from {_quote(spec.table)}) p on {on}
            where w.{_quote(spec.cell_size)} >= {int(min_n)}
        )
        select '{spec.table}' as table_name, level, headline,
            count(*) as cells,
            count(*) filter (where state in ('shown_exactly', 'shown_as_range')) as shown,
            count(*) filter (where state = 'shown_as_range') as shown_as_range,
            count(*) filter (where state = 'withheld') as withheld,
            count(*) filter (where state = 'omitted') as omitted
        from cells group by all
    """


def measure(
    con: duckdb.DuckDBPyConnection, specs: Sequence[PublishSpec], working: str, min_n: int
) -> pl.DataFrame:
    """Cells at min n and what became of them, per table, level and headline flag.

    ``con`` holds the published tables; ``working`` is the alias of the working warehouse
    attached to it (read only)."""
    parts = []
    for spec in specs:
        columns = set(con.sql(f"select * from {_quote(spec.table)} limit 0").columns)
        relation = f"{working}.{spec.relation}"
        working_columns = set(con.sql(f"select * from {relation} limit 0").columns)
        parts.append(con.sql(_table_sql(spec, columns, relation, working_columns, min_n)).pl())
    frame = pl.concat(parts) if parts else pl.DataFrame()
    if frame.is_empty():
        return frame
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in COUNT_COLUMNS).sort(
        "table_name", "level", "headline"
    )


def summarize(detail: pl.DataFrame) -> pl.DataFrame:
    """The publication summary: per table and level, every cell and the headline cells,
    with the shown share of each."""

    def block(frame: pl.DataFrame, scope: str) -> pl.DataFrame:
        return (
            frame.group_by("table_name", "level")
            .agg(pl.col(c).sum() for c in COUNT_COLUMNS)
            .with_columns(
                scope=pl.lit(scope),
                shown_share=pl.when(pl.col("cells") > 0).then(pl.col("shown") / pl.col("cells")),
            )
        )

    every = block(detail, "every breakdown")
    headline = block(detail.filter("headline"), "all students, all programs")
    return (
        pl.concat([every, headline])
        .select("table_name", "level", "scope", *COUNT_COLUMNS, "shown_share")
        .sort("table_name", "level", "scope")
    )
