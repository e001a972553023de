"""The ``hidden_with`` rules (spec.HiddenWith), applied in SQL to the staged snapshot.

They run after every table's own suppression, since a link reads the linked table's
suppressed values, in spec order and each rule's in declaration order (a rule sees what
earlier rules hid). On the staged DuckDB file no table is ever whole in Python memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from dagster_project.publish.spec import HiddenWith, PublishSpec, PublishSpecError
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    DISPLAY_SUFFIX,
    WITHHELD_DISPLAY,
)


class LinkError(PublishSpecError):
    """A hidden_with rule names an unpublished table or matches two rows to one."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def linked_flag(link: HiddenWith, linked: str, row: str, alias: str) -> tuple[str, str, list[Any]]:
    """A left join of the rows ``row`` (an alias) to their linked rows in the relation
    ``linked``, and the expression saying whether the row's columns are to be hidden: the
    linked value is hidden, or there is no linked row (unless ``unmatched: show``)."""
    columns = link.join_columns()
    where = " and ".join(f"{_quote(c)} = ?" for c in link.where) or "true"
    select = ", ".join(f"{_quote(theirs)} as {_quote(ours)}" for theirs, ours in columns.items())
    on = " and ".join(f"{row}.{_quote(o)} = {alias}.{_quote(o)}" for o in columns.values())
    join = (
        f"left join (select {select}, {_quote(link.column)} is null as __hidden "
        f"from {linked} where {where}) {alias} on {on}"
    )
    return join, f"coalesce({alias}.__hidden, {not link.show_unmatched})", list(link.where.values())


def _check_one_linked_row(con: duckdb.DuckDBPyConnection, link: HiddenWith, owner: str) -> None:
    # Two linked rows for one row would mean the key is wrong, not "hide twice".
    keys = ", ".join(map(_quote, link.join_columns()))
    conditions = [f"{_quote(c)} = ?" for c in link.where]
    conditions += [f"{_quote(c)} is not null" for c in link.join_columns()]
    duplicated = con.execute(
        f"select count(*) from (select 1 from {_quote(link.table)} "
        f"where {' and '.join(conditions)} group by {keys} having count(*) > 1)",
        list(link.where.values()),
    ).fetchone()
    if duplicated and duplicated[0]:
        raise LinkError(
            f"{owner}: hidden_with {link.table} on {list(link.join_columns())} matches "
            f"{duplicated[0]} key(s) to more than one row"
        )


def with_dependents(spec: PublishSpec, columns: Sequence[str]) -> list[str]:
    """``columns`` plus what rule 5 hides with them: rates over a hidden count, and the
    derived columns once any count or rate is hidden."""
    hide = list(dict.fromkeys(columns))
    for rate in spec.rates:
        parts = {spec.denominator_of(rate), *spec.numerators_of(rate)}
        if rate.column not in hide and parts & set(hide):
            hide.append(rate.column)
    if {*spec.counts, *(r.column for r in spec.rates)} & set(hide):
        hide += [d for d in spec.derived if d not in hide]
    return hide


def hide_linked(
    con: duckdb.DuckDBPyConnection, specs: Sequence[PublishSpec], by: str
) -> dict[str, dict[int, int]]:
    """Apply every ``hidden_with`` rule to the tables in ``con``; per table, the rates newly
    hidden (shown until then) counted by the value of column ``by``."""
    published = {s.table for s in specs}
    hidden: dict[str, dict[int, int]] = {}
    for spec in specs:
        for link in spec.hidden_with:
            if link.table not in published:
                raise LinkError(f"{spec.table}: hidden_with names unpublished {link.table}")
            _check_one_linked_row(con, link, spec.table)
            counted = _hide_one(con, spec, link, by)
            for key, n in counted.items():
                hidden.setdefault(spec.table, {})
                hidden[spec.table][key] = hidden[spec.table].get(key, 0) + n
    return hidden


def _hide_one(
    con: duckdb.DuckDBPyConnection, spec: PublishSpec, link: HiddenWith, by: str
) -> Mapping[int, int]:
    table = _quote(spec.table)
    join, flag, params = linked_flag(link, _quote(link.table), "t", "l")
    # Flags first, all from the table as it is now: for a link to the same table the
    # update below must not change which rows it applies to.
    con.execute(
        f"create or replace temp table __flagged as select t.rowid as __rid from {table} t "
        f"{join} where {flag}",
        params,
    )
    hide = with_dependents(spec, link.hide)
    rates = [r.column for r in spec.rates if r.column in hide]
    counted: dict[int, int] = {}
    flagged = "rowid in (select __rid from __flagged)"
    if rates:
        shown = " + ".join(f"({_quote(r)} is not null)::bigint" for r in rates)
        for key, n in con.execute(
            f"select {_quote(by)}, sum({shown}) from {table} where {flagged} group by 1"
        ).fetchall():
            counted[key] = int(n)
    displays = [d for r in rates if (d := r + DISPLAY_SUFFIX) in _columns(con, spec.table)]
    # A display already saying why it is withheld stays; a shown or coded rate there would
    # still tell the hidden base.
    assignments = [f"{_quote(c)} = null" for c in hide] + [
        f"{_quote(d)} = case when coalesce(starts_with({_quote(d)}, ?), false) "
        f"then {_quote(d)} else ? end"
        for d in displays
    ]
    con.execute(
        f"update {table} set {', '.join(assignments)} where {flagged}",
        [p for _ in displays for p in (WITHHELD_DISPLAY, COMPLEMENTARY_DISPLAY)],
    )
    con.execute("drop table __flagged")
    return counted


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return con.sql(f"select * from {_quote(table)}").columns


def links_reusable(specs: Sequence[PublishSpec]) -> bool:
    """Whether no link reads a column a link hides: then every link's flags are the same
    before and after the links run, and the current snapshot's linked tables give the flags
    its rows were published with (staging.py compares them to decide on reuse)."""
    hidden = {
        s.table: {c for link in s.hidden_with for c in with_dependents(s, link.hide)} for s in specs
    }
    return not any(
        {link.column, *link.join_columns(), *link.where} & hidden.get(link.table, set())
        for s in specs
        for link in s.hidden_with
    )
