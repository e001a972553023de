"""The ``hidden_with`` rules (spec.HiddenWith), applied in SQL to the staged snapshot.

They run after every table's own suppression, since a link reads the linked table's
suppressed values, in spec order and each rule's in declaration order (a rule sees what
earlier rules hid). On the staged DuckDB file no table is ever whole in Python memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from dagster_project.publish.spec import HiddenWith, PublishSpec, PublishSpecError
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    DISPLAY_SUFFIX,
    SUPPRESSION_REASON,
    WITHHELD_DISPLAY,
    RowReason,
)


class LinkError(PublishSpecError):
    """A hidden_with rule names an unpublished table or matches two rows to one."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def linked_flag(
    link: HiddenWith, linked: str, row: str, alias: str, extra: str = ""
) -> tuple[str, str, list[Any]]:
    """A left join of the rows ``row`` (an alias) to their linked rows in the relation
    ``linked``, and the expression saying whether the row's columns are to be hidden: the
    linked value is hidden, or there is no linked row (unless ``unmatched: show``; with
    ``unmatched: omit`` such rows are deleted before the flag is read)."""
    columns = link.join_columns()
    where = " and ".join(f"{_quote(c)} = ?" for c in link.where) or "true"
    select = ", ".join(f"{_quote(theirs)} as {_quote(ours)}" for theirs, ours in columns.items())
    select += f", {extra}" if extra else ""
    on = " and ".join(f"{row}.{_quote(o)} = {alias}.{_quote(o)}" for o in columns.values())
    join = (
        f"left join (select {select}, {_quote(link.column)} is null as __hidden "
        f"from {linked} where {where}) {alias} on {on}"
    )
    return join, f"coalesce({alias}.__hidden, {not link.show_unmatched})", list(link.where.values())


def _check_one_linked_row(con: duckdb.DuckDBPyConnection, link: HiddenWith, owner: str) -> None:
    # Two linked rows for one row would mean the key is wrong, not "hide twice". (Linked
    # rows that match no row of the owner may share a key: a link reads part of a table.)
    join, _, params = linked_flag(link, _quote(link.table), "t", "l", extra="1 as __one")
    duplicated = con.execute(
        f"select count(*) from (select t.rowid from {_quote(owner)} t {join} "
        "where l.__one is not null group by t.rowid having count(*) > 1)",
        params,
    ).fetchone()
    if duplicated and duplicated[0]:
        raise LinkError(
            f"{owner}: hidden_with {link.table} on {list(link.join_columns())} "
            f"{dict(link.where)} matches {duplicated[0]} row(s) to more than one linked row; "
            "add the columns that tell them apart"
        )


@dataclass
class LinkCounts:
    """What the links changed in one chunk of a table (added to its ChunkCounts)."""

    hidden_rates: int = 0  # rates shown until a link hid them
    withheld_rows: int = 0  # rows a link withheld whole (reason set to COMPLEMENTARY)
    omitted_rows: int = 0  # rows left out with their unpublished linked row
    omitted_small_n: int = 0  # of those, rows that were withheld for small n
    omitted_complementary: int = 0  # and as complements


def hide_linked(
    con: duckdb.DuckDBPyConnection, specs: Sequence[PublishSpec], by: str
) -> dict[str, dict[int, LinkCounts]]:
    """Apply every ``hidden_with`` rule to the tables in ``con``; per table, what they
    changed, by the value of column ``by`` (the chunk)."""
    published = {s.table for s in specs}
    changed: dict[str, dict[int, LinkCounts]] = {}
    for spec in specs:
        for link in spec.hidden_with:
            if link.table not in published:
                raise LinkError(f"{spec.table}: hidden_with names unpublished {link.table}")
            _check_one_linked_row(con, link, spec.table)
            _hide_one(con, spec, link, by, changed.setdefault(spec.table, {}))
    return changed


def _hide_one(
    con: duckdb.DuckDBPyConnection,
    spec: PublishSpec,
    link: HiddenWith,
    by: str,
    changed: dict[int, LinkCounts],
) -> None:
    table = _quote(spec.table)
    join, flag, params = linked_flag(link, _quote(link.table), "t", "l")
    if link.omit_unmatched:
        _omit_unmatched(con, table, join, params, by, changed)
    # Flags first, all from the table as it is now: for a link to the same table the
    # update below must not change which rows it applies to.
    con.execute(
        f"create or replace temp table __flagged as select t.rowid as __rid from {table} t "
        f"{join} where {flag}",
        params,
    )
    hide = spec.with_dependents(link.hide)
    rates = [r.column for r in spec.rates if r.column in hide]
    flagged = "rowid in (select __rid from __flagged)"
    # A link that hides every count withholds the row, as a complement would.
    withholds_row = set(spec.counts) <= set(hide)
    shown = " + ".join(f"({_quote(r)} is not null)::bigint" for r in rates) or "0"
    unexplained = f"{_quote(SUPPRESSION_REASON)} is null" if withholds_row else "false"
    for key, rates_shown, rows in con.execute(
        f"select {_quote(by)}, sum({shown}), count(*) filter (where {unexplained}) "
        f"from {table} where {flagged} group by 1"
    ).fetchall():
        counts = changed.setdefault(key, LinkCounts())
        counts.hidden_rates += int(rates_shown)
        counts.withheld_rows += int(rows)
    displays = [d for r in rates if (d := r + DISPLAY_SUFFIX) in _columns(con, spec.table)]
    # A display already saying why it is withheld stays; a shown or coded rate there would
    # still tell the hidden base.
    assignments = [f"{_quote(c)} = null" for c in hide] + [
        f"{_quote(d)} = case when coalesce(starts_with({_quote(d)}, ?), false) "
        f"then {_quote(d)} else ? end"
        for d in displays
    ]
    params = [p for _ in displays for p in (WITHHELD_DISPLAY, COMPLEMENTARY_DISPLAY)]
    if withholds_row:
        reason = _quote(SUPPRESSION_REASON)
        assignments.append(f"{reason} = coalesce({reason}, ?)")
        params.append(RowReason.COMPLEMENTARY.name)
    con.execute(f"update {table} set {', '.join(assignments)} where {flagged}", params)
    con.execute("drop table __flagged")


def _omit_unmatched(
    con: duckdb.DuckDBPyConnection,
    table: str,
    join: str,
    params: list[Any],
    by: str,
    changed: dict[int, LinkCounts],
) -> None:
    """Delete the rows with no published linked row (``unmatched: omit``)."""
    reason = _quote(SUPPRESSION_REASON)
    unmatched = f"select t.rowid from {table} t {join} where l.__hidden is null"
    for key, rows, small, complementary in con.execute(
        f"select {_quote(by)}, count(*), count(*) filter (where {reason} = 'SMALL_N'), "
        f"count(*) filter (where {reason} = 'COMPLEMENTARY') from {table} "
        f"where rowid in ({unmatched}) group by 1",
        params,
    ).fetchall():
        counts = changed.setdefault(key, LinkCounts())
        counts.omitted_rows += int(rows)
        counts.omitted_small_n += int(small)
        counts.omitted_complementary += int(complementary)
    con.execute(f"delete from {table} where rowid in ({unmatched})", params)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
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
