"""Derived values worked out again from what the snapshot publishes: rule 5's other half.

Rule 5 (suppression.py) nulls a derived value whose inputs are hidden. Where those inputs
are published as a range or coded, a reader can still bound the value; these steps publish
that bound, computed from published columns alone (never the working values), so they tell
no more than the snapshot already does:

- ``differences``: a gap between two rates, as the range the rates' published bounds give
  (``<gap>_display``), and its flag where that range lies on one side of the threshold;
- ``below_flags``: a flag "rate below share x limit" where the rate's bounds decide it.

Run after the links (linked.py), whose ``display_as`` copies the displays read here.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from dagster_project.publish.linked import table_columns
from dagster_project.publish.spec import BelowFlag, Difference, PublishSpec
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import DISPLAY_SUFFIX, RANGE_SEPARATOR


def derive_from_published(con: duckdb.DuckDBPyConnection, specs: Sequence[PublishSpec]) -> None:
    """Every table's ``differences`` and ``below_flags``, on the staged tables in ``con``."""
    for spec in specs:
        for difference in spec.differences:
            _publish_difference(con, spec, difference)
        for below in spec.below_flags:
            _publish_below_flag(con, spec, below)


def _rate_bounds(rate: str, columns: list[str]) -> tuple[str, str]:
    """SQL: the lowest and highest value a reader can give ``rate`` (a fraction): its
    value where shown, else what its display says (a range, '>=95%', '<=5%'); null where
    withheld."""
    value, display = _quote(rate), _quote(rate + DISPLAY_SUFFIX)
    if rate + DISPLAY_SUFFIX not in columns:
        return value, value
    if rate not in columns:
        value = "null::double"

    def percent(text: str) -> str:
        return f"try_cast(replace({text}, '%', '') as double) / 100"

    ranged = f"contains({display}, '{RANGE_SEPARATOR}')"
    start, end = (f"split_part({display}, '{RANGE_SEPARATOR}', {part})" for part in (1, 2))
    low = (
        f"case when {value} is not null then {value} "
        f"when {ranged} then {percent(start)} "
        f"when starts_with({display}, '>=') then {percent(f'substr({display}, 3)')} "
        f"when starts_with({display}, '<=') then 0 end"
    )
    high = (
        f"case when {value} is not null then {value} "
        f"when {ranged} then {percent(end)} "
        f"when starts_with({display}, '>=') then 1 "
        f"when starts_with({display}, '<=') then {percent(f'substr({display}, 3)')} end"
    )
    return low, high


def _points(points: str) -> str:
    """SQL: percentage points as quoted, one decimal ('-3.2 pts'); + 0.0 makes -0.0 zero."""
    return f"printf('%.1f pts', {points} + 0.0)"


def _publish_difference(
    con: duckdb.DuckDBPyConnection, spec: PublishSpec, difference: Difference
) -> None:
    """``<column>_display`` of a difference of two rates: the exact difference where both
    are shown; where either is a range or coded, the range their published bounds give
    (rounded outwards), and the flag where the whole range is on one side of the threshold.
    Only published values go in, so nothing here tells a reader more than the two rates'
    displays do. Null where either rate is withheld."""
    columns = table_columns(con, spec.table)
    table, column = _quote(spec.table), _quote(difference.column)
    target = _quote(difference.column + DISPLAY_SUFFIX)
    (of_low, of_high), (minus_low, minus_high) = (
        _rate_bounds(r, columns) for r in (difference.of, difference.minus)
    )
    low, high = f"(({of_low}) - ({minus_high}))", f"(({of_high}) - ({minus_low}))"
    # Outwards to the published tenth of a point; the rounding first drops float noise.
    low_points = f"floor(round({low} * 1000, 6)) / 10"
    high_points = f"ceil(round({high} * 1000, 6)) / 10"
    ranged = f"{_points(low_points)} || '{RANGE_SEPARATOR}' || {_points(high_points)}"
    assignments = [
        f"{target} = case when {column} is not null then {_points(f'round({column} * 100, 1)')} "
        f"when {low} is not null and {high} is not null then {ranged} end"
    ]
    if difference.flag:
        threshold = float(difference.threshold or 0)
        flag = _quote(difference.flag)
        assignments.append(
            f"{flag} = case when {column} is not null then {flag} "
            f"when {low} > {threshold} or {high} < -{threshold} then true "
            f"when {low} >= -{threshold} and {high} <= {threshold} then false end"
        )
    con.execute(f"alter table {table} add column if not exists {target} varchar")
    con.execute(f"update {table} set {', '.join(assignments)}")


def _publish_below_flag(
    con: duckdb.DuckDBPyConnection, spec: PublishSpec, below: BelowFlag
) -> None:
    """The flag from the rate's published bounds: true where even the highest value is below
    share x limit, false where even the lowest is not, else null. Where the rate is shown
    that is the mart's flag; where rule 5 nulled it, the bounds may still decide it. Every
    row is recomputed, so rows reused from the last snapshot (staging.py) agree too."""
    columns = table_columns(con, spec.table)
    low, high = _rate_bounds(below.rate, columns)
    flag, limit = _quote(below.flag), f"({float(below.share)} * {_quote(below.limit)})"
    applies = f"coalesce({_quote(below.applies)}, false)" if below.applies else "true"
    con.execute(
        f"update {_quote(spec.table)} set {flag} = case when {high} < {limit} then true "
        f"when {low} >= {limit} then false end "
        f"where {applies} and {_quote(below.limit)} is not null"
    )
