"""The ``hidden_with`` rules (spec.HiddenWith), applied in SQL to the staged snapshot.

They run after every table's own suppression, since a link reads the linked table's
suppressed values, in spec order and each rule's in declaration order (a rule sees what
earlier rules hid). On the staged DuckDB file no table is ever whole in Python memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import duckdb

from dagster_project.publish.spec import HiddenWith, PublishSpec, PublishSpecError
from dagster_project.publish.spec import quote_identifier as _quote
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    DISPLAY_SUFFIX,
    RANGE_SEPARATOR,
    SMALL_N_DISPLAY,
    SUPPRESSION_REASON,
    WITHHELD_DISPLAY,
    RowSuppression,
    SuppressionRules,
)

log = logging.getLogger(__name__)
# A coded display (suppression.py's top and bottom coding): ">=22", "<=5%".
_CODED = "^[<>]="


class LinkError(PublishSpecError):
    """A hidden_with rule names an unpublished table or matches two rows to one."""


def linked_flag(
    link: HiddenWith, linked: str, row: str, alias: str, extra: str = "", ranges: bool = False
) -> tuple[str, str, list[Any]]:
    """A left join of the rows ``row`` (an alias) to their linked rows in the relation
    ``linked``, and the expression saying whether the row's columns are to be hidden: the
    linked value is hidden, or there is no linked row (unless ``unmatched: show``; with
    ``unmatched: omit`` such rows are deleted before the flag is read). With ``ranges``
    (the linked table has the column's display), the join's ``__ranged`` says whether the
    hidden value is published as a range there (``__range_width``: how wide), ``__small``
    its display where it is withheld for its own small n (``suppressed (n<10)``), and
    ``__coded`` whether it is published coded (``>=22``, ``<=5%``)."""
    display = _quote(link.column + DISPLAY_SUFFIX)
    ranged = f"contains({display}, '{RANGE_SEPARATOR}')" if ranges else "false"
    # Why the linked value is withheld, where that is its own small n: a copy says the same.
    small = (
        f"case when starts_with({display}, '{SMALL_N_DISPLAY}') then {display} end"
        if ranges
        else "null"
    )
    coded = f"regexp_matches({display}, '{_CODED}')" if ranges else "false"
    width = f"case when {ranged} then {_range_width(display)} end" if ranges else "null"
    columns = link.join_columns()
    where = " and ".join(f"{_quote(c)} = ?" for c in link.where) or "true"
    select = ", ".join(f"{_quote(theirs)} as {_quote(ours)}" for theirs, ours in columns.items())
    select += f", {extra}" if extra else ""
    on = " and ".join(f"{row}.{_quote(o)} = {alias}.{_quote(o)}" for o in columns.values())
    join = (
        f"left join (select {select}, {_quote(link.column)} is null as __hidden, "
        f"coalesce({ranged}, false) as __ranged, {small} as __small, "
        f"coalesce({coded}, false) as __coded, {width} as __range_width "
        f"from {linked} where {where}) {alias} on {on}"
    )
    return join, f"coalesce({alias}.__hidden, {not link.show_unmatched})", list(link.where.values())


def _check_link_matches(con: duckdb.DuckDBPyConnection, link: HiddenWith, owner: str) -> None:
    """Two linked rows for one row would mean the key is wrong, not "hide twice". (Linked
    rows that match no row of the owner may share a key: a link reads part of a table.)
    A key column none of whose values is one of the linked column's is likely wrong too
    (a school's entity_code is district-location, not its location code): every row would
    be withheld, so it is logged."""
    join, _, params = linked_flag(link, _quote(link.table), "t", "l", extra="1 as __one")
    (duplicated,) = con.execute(
        f"select count(*) from (select t.rowid from {_quote(owner)} t {join} "
        "where l.__one is not null group by t.rowid having count(*) > 1)",
        params,
    ).fetchone() or (0,)
    if duplicated:
        raise LinkError(
            f"{owner}: hidden_with {link.table} on {list(link.join_columns())} "
            f"{dict(link.where)} matches {duplicated} row(s) to more than one linked row; "
            "add the columns that tell them apart"
        )
    where = " and ".join(f"{_quote(c)} = ?" for c in link.where) or "true"
    (linked,) = con.execute(
        f"select count(*) from {_quote(link.table)} where {where}", list(link.where.values())
    ).fetchone() or (0,)
    if not linked:
        return
    for theirs, ours in link.join_columns().items():
        shared, mine = con.execute(
            f"select count(*) filter (where l.v is not null), count(*) "
            f"from (select distinct {_quote(ours)}::varchar as v from {_quote(owner)}) o "
            f"left join (select distinct {_quote(theirs)}::varchar as v "
            f"from {_quote(link.table)} where {where}) l on l.v = o.v",
            list(link.where.values()),
        ).fetchone() or (0, 0)
        if mine and not shared:
            # A warning, not an error: in a small sample no reviewed program may have
            # graduates at all, which is right.
            log.warning(
                "%s: hidden_with %s: no value of %s is a value of %s.%s (where %s), so every "
                "row is withheld as unmatched: do the two columns hold the same codes?",
                owner,
                link.table,
                ours,
                link.table,
                theirs,
                dict(link.where),
            )


def hide_linked(
    con: duckdb.DuckDBPyConnection, specs: Sequence[PublishSpec], rules: SuppressionRules
) -> None:
    """Apply every ``hidden_with`` rule to the tables in ``con``."""
    published = {s.table for s in specs}
    for spec in specs:
        for link in spec.hidden_with:
            if link.table not in published:
                raise LinkError(f"{spec.table}: hidden_with names unpublished {link.table}")
            _check_link_matches(con, link, spec.table)
            _hide_one(con, spec, link, rules)
            check_copies_hidden(con, spec, link)
            if link.display_as:
                _copy_display(con, spec, link)


def check_copies_hidden(
    con: duckdb.DuckDBPyConnection, spec: PublishSpec, link: HiddenWith
) -> None:
    """After a link to another table: no row shows a value its linked row hides. A guard,
    not a rule: the flags must land on the rows they were computed for (they once went by
    rowid, which a checkpoint renumbers, and withheld state-scale rows were shown)."""
    if link.table == spec.table:
        return  # its own updates change what it reads; checked by its tests
    hide = [c for c in spec.with_dependents(link.hide) if c in table_columns(con, spec.table)]
    join, flag, params = linked_flag(link, _quote(link.table), "t", "l")
    shown = " or ".join(f"t.{_quote(c)} is not null" for c in hide) or "false"
    [(count,)] = con.execute(
        f"select count(*) from {_quote(spec.table)} t {join} where {flag} and ({shown})", params
    ).fetchall()
    if count:
        raise LinkError(
            f"{spec.table}: {count} row(s) show {hide} although their {link.table} row hides "
            f"{link.column}; the snapshot is not published"
        )


def _hide_one(
    con: duckdb.DuckDBPyConnection, spec: PublishSpec, link: HiddenWith, rules: SuppressionRules
) -> None:
    table = _quote(spec.table)
    columns = table_columns(con, spec.table)
    join, flag, params = linked_flag(
        link, _quote(link.table), "t", "l", ranges=shows_ranges(con, link, link.table)
    )
    if link.omit_unmatched:
        unmatched = f"select t.rowid from {table} t {join} where l.__hidden is null"
        con.execute(f"delete from {table} where rowid in ({unmatched})", params)
    # Flags first, all from the table as it is now: for a link to the same table the
    # update below must not change which rows it applies to. Where the linked value is
    # published as a range (a complement, rule 4 of suppression.py), this row's values
    # become ranges too instead of being withheld: no more than the linked table shows.
    # Rows are named by their primary key, not rowid: a checkpoint after the delete above
    # or the update below renumbers rowids, and the flags would land on other rows.
    keys, flagged_row = _keyed_rows(spec, "f")
    con.execute(
        f"create or replace temp table __flagged as select {keys}, "
        f"coalesce(l.__ranged, false) as __ranged, "
        f"coalesce(l.__small, {_small_unpublished(spec, link, columns, rules)}) as __small, "
        f"coalesce(l.__coded, false) as __coded, l.__range_width "
        f"from {table} t {join} where {flag}",
        params,
    )
    hide = spec.with_dependents(link.hide)
    _range_flagged(con, spec, hide, columns, flagged_row, rules)
    shown_as = [c for c in hide if c in spec.counts or c in {r.column for r in spec.rates}]
    displays = [d for c in shown_as if (d := c + DISPLAY_SUFFIX) in columns]
    # A display already saying why it is withheld stays; a shown or ranged value there
    # would still tell the hidden base. A coded copy of a value its source publishes coded
    # stays coded: the same rule on the same counts, no more than the source shows. A copy
    # of a value withheld for its own small n says so, as its source does; else it is
    # withheld as a complement.
    assignments = [f"{_quote(c)} = null" for c in hide] + [
        f"{_quote(d)} = case when coalesce(starts_with({_quote(d)}, ?), false) "
        f"or (f.__coded and coalesce(regexp_matches({_quote(d)}, '{_CODED}'), false)) "
        f"then {_quote(d)} else coalesce(f.__small, ?) end"
        for d in displays
    ]
    values = [p for _ in displays for p in (WITHHELD_DISPLAY, COMPLEMENTARY_DISPLAY)]
    # A link that hides every count withholds the row, as a complement would.
    if set(spec.counts) <= set(hide):
        reason = _quote(SUPPRESSION_REASON)
        assignments.append(f"{reason} = coalesce({reason}, ?)")
        values.append(RowSuppression.COMPLEMENTARY.name)
    con.execute(
        f"update {table} set {', '.join(assignments)} from __flagged f "
        f"where {flagged_row} and not f.__ranged",
        values,
    )
    con.execute("drop table __flagged")


def _small_unpublished(
    spec: PublishSpec, link: HiddenWith, columns: list[str], rules: SuppressionRules
) -> str:
    """The display of a copy whose source row is not published, where the copied counts are
    below min n: "suppressed (n<10)", as the source's own rules would say, not a complement.
    A missing source row already tells a reader its cell is empty or small (rule 0 leaves
    out small parts only), so the display says nothing more; it holds 0 to min n - 1.
    (program_quality: a program's 1S1 cohort of 4 at a school whose row rule 0 left out.)"""
    counts = [f"t.{_quote(c)}" for c in link.hide if c in spec.counts and c in columns]
    if not counts:
        return "null"
    below = " and ".join(f"coalesce({c}, 0) < {int(rules.min_n)}" for c in counts)
    text = f"{SMALL_N_DISPLAY}{rules.min_n})"
    return f"case when l.__hidden is null and {below} then '{text}' end"


_EXACT_COUNT = r"^[0-9][0-9,]*$"
_EXACT_RATE = r"^[0-9.]+%$"


def _range_end(display: str, part: int) -> str:
    """SQL: the low (``part`` 1) or high (2) count of a count's range display; null for a
    rate's ("72.5% to 75.0%")."""
    text = f"replace(split_part({display}, '{RANGE_SEPARATOR}', {part}), ',', '')"
    return f"try_cast({text} as bigint)"


def _range_width(display: str) -> str:
    """SQL: how many counts a count's range display ("4,100 to 4,199") spans."""
    return f"({_range_end(display, 2)} - {_range_end(display, 1)} + 1)"


def _range_flagged(
    con: duckdb.DuckDBPyConnection,
    spec: PublishSpec,
    hide: list[str],
    columns: list[str],
    flagged_row: str,
    rules: SuppressionRules,
) -> None:
    """Rows of ``__flagged`` whose linked value is a range: each count of ``hide`` shown
    exactly, or as a narrower range, becomes the range as wide as the linked one (its
    ``__range_width``) on the same grid, each rate over such a count the range its counts'
    ranges give (as suppression.py writes them), derived columns are nulled. Counts and
    rates coded or withheld already stay as they are."""
    width = f"coalesce(f.__range_width, {int(rules.range_width)})"
    counts = [c for c in hide if c in spec.counts and c + DISPLAY_SUFFIX in columns]
    rates = [r for r in spec.rates if r.column in hide and r.column + DISPLAY_SUFFIX in columns]
    nulls = [f"{_quote(c)} = null" for c in hide if c in columns]
    if not nulls:
        return

    def is_range(count: str) -> str:
        return f"contains({_quote(count + DISPLAY_SUFFIX)}, '{RANGE_SEPARATOR}')"

    def widened(count: str) -> str:
        """Shown exactly, or as a range narrower than the linked one."""
        display = _quote(count + DISPLAY_SUFFIX)
        return (
            f"(regexp_matches({display}, '{_EXACT_COUNT}') or "
            f"({is_range(count)} and {_range_width(display)} < {width}))"
        )

    def widened_low(count: str) -> str:
        # A range already published here lies inside the wider one: grids of ten nest.
        value = f"coalesce({_quote(count)}, {_range_end(_quote(count + DISPLAY_SUFFIX), 1)})"
        return f"(floor({value} / {width}) * {width})"

    def bounds(count: str) -> tuple[str, str]:
        """Low and high of the count as this update publishes it (null: withheld)."""
        c, display = _quote(count), _quote(count + DISPLAY_SUFFIX)
        if count + DISPLAY_SUFFIX not in columns:
            return c, c
        low, high = (
            f"(case when {is_range(count)} then {_range_end(display, part)} else {c} end)"
            for part in (1, 2)
        )
        if count not in counts:
            return low, high
        widened_to = widened_low(count)
        return (
            f"(case when {widened(count)} then {widened_to} else {low} end)",
            f"(case when {widened(count)} then {widened_to} + {width} - 1 else {high} end)",
        )

    assignments = []
    for rate in rates:
        numerator, denominator = rate.numerator, spec.denominator_of(rate)
        display = _quote(rate.column + DISPLAY_SUFFIX)
        if numerator in spec.counts and {numerator, denominator} & set(counts):
            (num_lo, num_hi), (den_lo, den_hi) = bounds(numerator), bounds(denominator)
            low = f"least(greatest({num_lo} / greatest({den_hi}, 1), 0), 1)"
            high = f"least(greatest({num_hi} / greatest({den_lo}, 1), 0), 1)"
            # greatest() skips nulls: a withheld count must give no range, not 0%.
            known = " and ".join(f"{b} is not null" for b in (num_lo, num_hi, den_lo, den_hi))
            text = (
                f"case when {known} then "
                f"printf('%.1f%%', floor({low} * 1000) / 10) || '{RANGE_SEPARATOR}' || "
                f"printf('%.1f%%', ceil({high} * 1000) / 10) end"
            )
            ranged = f"case when {text} is not null then {text} else '{COMPLEMENTARY_DISPLAY}' end"
        else:
            ranged = f"'{COMPLEMENTARY_DISPLAY}'"
        assignments.append(
            f"{display} = case when regexp_matches({display}, '{_EXACT_RATE}') "
            f"or contains({display}, '{RANGE_SEPARATOR}') then {ranged} else {display} end"
        )
    for count in counts:
        low = widened_low(count)
        text = (
            f"format('{{:,}}', ({low})::bigint) || '{RANGE_SEPARATOR}' || "
            f"format('{{:,}}', ({low} + {width} - 1)::bigint)"
        )
        display = _quote(count + DISPLAY_SUFFIX)
        assignments.append(f"{display} = case when {widened(count)} then {text} else {display} end")
    # Derived columns alone (a gap to a ranged all-students rate) are nulled too: the
    # exact gap would give the ranged rate away.
    con.execute(
        f"update {_quote(spec.table)} set {', '.join(assignments + nulls)} "
        f"from __flagged f where {flagged_row} and f.__ranged"
    )


def _keyed_rows(spec: PublishSpec, alias: str) -> tuple[str, str]:
    """SQL naming rows by their primary key, not rowid (a checkpoint renumbers rowids): the
    select list saving a row ``t``'s key as ``__k0``, ``__k1``..., and the condition matching
    the table's row to the saved key under ``alias``."""
    keys = ", ".join(f"t.{_quote(c)} as __k{i}" for i, c in enumerate(spec.primary_key))
    table = _quote(spec.table)
    match = " and ".join(
        f"{table}.{_quote(c)} is not distinct from {alias}.__k{i}"
        for i, c in enumerate(spec.primary_key)
    )
    return keys, match


def _copy_display(con: duckdb.DuckDBPyConnection, spec: PublishSpec, link: HiddenWith) -> None:
    """``<display_as>_display``: the linked column's display, as the linked table publishes
    it (exact, coded, a range, or why it is withheld); null where no linked row is."""
    if not shows_ranges(con, link, _quote(link.table)):
        raise LinkError(
            f"{spec.table}: hidden_with {link.table} copies the display of {link.column}, "
            f"which has none ({link.column}{DISPLAY_SUFFIX})"
        )
    table, target = _quote(spec.table), _quote(link.display_as + DISPLAY_SUFFIX)
    join, _, params = linked_flag(
        link, _quote(link.table), "t", "l", extra=f"{_quote(link.column + DISPLAY_SUFFIX)} as __d"
    )
    keys, row = _keyed_rows(spec, "d")
    con.execute(f"alter table {table} add column if not exists {target} varchar")
    con.execute(
        f"create or replace temp table __displays as select {keys}, l.__d from {table} t {join}",
        params,
    )
    con.execute(f"update {table} set {target} = d.__d from __displays d where {row}")
    con.execute("drop table __displays")


def shows_ranges(con: duckdb.DuckDBPyConnection, link: HiddenWith, relation: str) -> bool:
    """Whether the linked table (``relation``: its name, or qualified) has the display
    column that tells a range of ``link.column`` from a withheld value."""
    return link.column + DISPLAY_SUFFIX in con.sql(f"select * from {relation} limit 0").columns


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return con.sql(f"select * from {_quote(table)}").columns


def links_reusable(specs: Sequence[PublishSpec]) -> bool:
    """Whether no link reads a column a link hides: then every link's flags are the same
    before and after the links run, and the current snapshot's linked tables give the flags
    its rows were published with (staging.py compares them to decide on reuse)."""
    hidden = {
        s.table: {c for link in s.hidden_with for c in s.with_dependents(link.hide)} for s in specs
    }
    return not any(
        {link.column, *link.join_columns(), *link.where} & hidden.get(link.table, set())
        for s in specs
        for link in s.hidden_with
    )
