"""What to publish, read from the dbt manifest: models whose ``config.meta.publish`` is set.

The declaration lives beside the model in its dbt YAML, so the person who writes a mart
also says how it may be published::

    config:
      meta:
        publish:
          grain: "one row per school year, school and student group"
          cell_size: denominator          # below min n: the whole row is suppressed
          counts: [numerator, denominator]
          rates:                          # fractions from 0 to 1
            - rate                        # numerator unknown: every other count hides with it
            - {column: pass_rate, numerator: passed, denominator: tested}
          derived: [gap_to_target, below_target_flag]   # hidden whenever a rate is
          derived_from: [rate]            # optional: hidden only when one of these is
          sibling_sets:                   # columns held fixed -> cells that sum to a total
            - columns: [school_year, school_code, group_type]
              total: {group_type: ALL, group_value: ALL}   # the row holding that total
            - [school_year, group_type, group_value]       # total not in this table
          hidden_with:                    # see HiddenWith
            - table: perkins_indicators
              key: [school_year, entity_code]
              where: {group_type: all}
              column: rate
              hide: [all_students_rate, gap]
              display_as: all_students_rate   # optional: its _display copies rate_display
          differences:                    # optional: a derived difference of two rates
            - {column: gap, of: group_rate, minus: all_students_rate,
               flag: gap_flag, threshold: 0.10}   # flag: |gap| > threshold
          below_flags:                    # optional: flag = rate < share * limit, where applies
            - {flag: below_target_flag, rate: rate, limit: state_target, share: 0.9,
               applies: is_complete}
          partition_by: [school_year]     # optional: coarser partitions (partition_columns)
    constraints:                          # the key, declared once (dbt model constraint)
      - {type: primary_key, columns: [school_year, school_code, group_type, group_value]}
    data_tests: [primary_key]             # unique on that key
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


def quote_identifier(name: str) -> str:
    """A table or column name quoted for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


class PublishSpecError(ValueError):
    """A model's meta.publish block is missing something or contradicts the table."""


@dataclass(frozen=True)
class RateSpec:
    column: str
    # None: not declared, so every count except the cell size is treated as its numerator.
    numerator: str | None = None
    # None: the table's cell_size column.
    denominator: str | None = None


@dataclass(frozen=True)
class HiddenWith:
    """Hide ``hide`` wherever the linked row of a published table (this one or another) has
    ``column`` hidden: a value copied or derived from that row (a gap to the all-students
    rate, the previous step's count as a base) would give it away. Rates computed from a
    hidden count, and the derived columns, are hidden with it (rule 5 of suppression.py).

    The linked row is the row of ``table`` with the same ``key`` values, ``key_from``'s
    columns (linked column: the column of this row holding its value, e.g.
    ``{step: base_step}``) and ``where``'s constants. Where no such row is published the
    columns are hidden too, unless ``show_unmatched`` (``unmatched: show``): only for values
    published nowhere else, such as a base that is no row of the table; refused where the
    linked table may leave rows out (rule 0 of suppression.py), since a left-out row is
    unmatched too. With ``omit_unmatched`` (``unmatched: omit``) the row is left out
    instead: for a copy of the linked row, whose existence alone would say what leaving
    that row out hides.
    """

    table: str
    key: tuple[str, ...]
    where: Mapping[str, Any]
    column: str
    hide: tuple[str, ...]
    key_from: Mapping[str, str] = field(default_factory=dict)
    show_unmatched: bool = False
    omit_unmatched: bool = False
    # This table's column whose ``<column>_display`` copies the linked column's display
    # (exact, coded, a range or why it is withheld): what the linked table publishes, so a
    # copy hidden here can still be quoted as the linked table quotes it.
    display_as: str | None = None

    def join_columns(self) -> dict[str, str]:
        """Linked table's column -> this table's column, for every column the rows match on."""
        return {c: c for c in self.key} | dict(self.key_from)


@dataclass(frozen=True)
class Difference:
    """A derived column ``column`` = ``of`` - ``minus`` (two rates, or copies of rates
    with a display), with an optional ``flag`` column = |``column``| > ``threshold``.
    Where either rate is published only as a range or coded, the difference is published
    as the range those give (``<column>_display``) and the flag where that range decides it:
    both computed from what the snapshot shows, so they tell a reader nothing more."""

    column: str
    of: str
    minus: str
    flag: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class BelowFlag:
    """A derived flag ``flag`` = ``rate`` < ``share`` x ``limit`` (a published column), null
    where ``limit`` is null or the published boolean ``applies`` is not true. Where the rate
    is published only as a range or coded, the flag is published where that range decides
    it (from_published.py)."""

    flag: str
    rate: str
    limit: str
    share: float
    applies: str | None = None


@dataclass(frozen=True)
class SiblingSet:
    """Rows that agree on ``columns`` are parts of one total.

    ``total``: how the primary key of the row holding their sum differs from the parts'
    key, per key column: a constant (``group_value: ALL``), the value of another column of
    the part (``entity_code: {from: parent_entity_code}``) or a translation of the part's
    own value (``level: {map: {school: district, district: state}}``; a value not in the map
    has no total row). Without ``total`` the total is taken as known to every reader, which
    is safe but cannot protect a group whose parts are all suppressed: declare it wherever
    the total is a row of the same table.

    ``counts``: the counts that add up in this set (default: every count). A count left out
    (a base repeated on every tier row, an enrollment that includes schools not listed)
    gets no equation from the set, and the additivity check does not ask it to sum.
    """

    columns: tuple[str, ...]
    total: Mapping[str, Any] | None = None
    counts: tuple[str, ...] | None = None

    def adds_up(self, count: str) -> bool:
        return self.counts is None or count in self.counts

    def roots(self) -> dict[str, set[str]]:
        """Per column with a ``map`` rule, the values at the top of its hierarchy: totals
        that are no part (``state`` in ``{school: district, district: state}``)."""
        out = {}
        for column, rule in (self.total or {}).items():
            if isinstance(rule, Mapping) and "map" in rule:
                mapping = {str(k): str(v) for k, v in rule["map"].items()}
                out[column] = set(mapping.values()) - set(mapping)
        return out

    def total_key(self, primary_key: Sequence[str]) -> list[pl.Expr]:
        """Expressions over a part's row giving the primary key, as text, of its group's total
        row, named after the key columns; null where the part has no total (not in ``map``)."""
        total = self.total or {}
        key = []
        for column in primary_key:
            rule = total.get(column, _SAME)
            if rule is _SAME:
                value = pl.col(column).cast(pl.String)
            elif isinstance(rule, Mapping) and "from" in rule:
                value = pl.col(rule["from"]).cast(pl.String)
            elif isinstance(rule, Mapping) and "map" in rule:
                mapping = {str(k): str(v) for k, v in rule["map"].items()}
                value = (
                    pl.col(column)
                    .cast(pl.String)
                    .replace_strict(mapping, default=None, return_dtype=pl.String)
                )
            else:
                value = pl.lit(str(rule), dtype=pl.String)
            key.append(value.alias(column))
        return key


_SAME = object()


@dataclass(frozen=True)
class PublishSpec:
    table: str  # name in the published snapshot (the model's alias)
    unique_id: str  # dbt node id, e.g. model.nm_cte.perkins_indicators
    relation: str  # where it lives in the working warehouse: "schema"."alias"
    grain: str
    description: str
    primary_key: tuple[str, ...]
    cell_size: str
    counts: tuple[str, ...]
    rates: tuple[RateSpec, ...]
    derived: tuple[str, ...]
    sibling_sets: tuple[SiblingSet, ...]
    column_descriptions: Mapping[str, str]
    hidden_with: tuple[HiddenWith, ...] = ()
    # The counts and rates the derived columns are computed from; empty: all of them.
    derived_from: tuple[str, ...] = ()
    differences: tuple[Difference, ...] = ()
    below_flags: tuple[BelowFlag, ...] = ()
    # meta.publish.partition_by: coarser partitions than the sibling sets allow (see
    # partition_columns); empty: the finest.
    partition_by: tuple[str, ...] = ()

    @property
    def derivation_inputs(self) -> set[str]:
        """Counts and rates whose hiding hides the derived columns (rule 5)."""
        return set(self.derived_from) or {*self.counts, *(r.column for r in self.rates)}

    def denominator_of(self, rate: RateSpec) -> str:
        return rate.denominator or self.cell_size

    def numerators_of(self, rate: RateSpec) -> tuple[str, ...]:
        """Counts that would reveal the rate once its denominator is known."""
        if rate.numerator:
            return (rate.numerator,)
        denominator = self.denominator_of(rate)
        return tuple(c for c in self.counts if c not in (self.cell_size, denominator))

    def with_dependents(self, columns: Sequence[str]) -> list[str]:
        """``columns`` plus what rule 5 of suppression.py hides with them: the rates over a
        hidden count, and the derived columns once a count or rate they are computed from
        (``derivation_inputs``) is hidden. One rule for a table's own suppression and for
        its ``hidden_with`` links."""
        hide = list(dict.fromkeys(columns))
        for rate in self.rates:
            parts = {self.denominator_of(rate), *self.numerators_of(rate)}
            if rate.column not in hide and parts & set(hide):
                hide.append(rate.column)
        if self.derivation_inputs & set(hide):
            hide += [d for d in self.derived if d not in hide]
        return hide

    @property
    def may_omit_rows(self) -> bool:
        """Whether rule 0 may leave rows out: some set has total rows and adds the cell size."""
        return any(s.total and s.adds_up(self.cell_size) for s in self.sibling_sets)

    @property
    def partition_columns(self) -> tuple[str, ...]:
        """Key columns every sibling group holds fixed, its total row included: rows that
        differ on one are never in one group, so each combination of their values can be
        suppressed alone with the same result as the whole table. A column a ``total`` rule
        changes is out (the total row differs there). Key columns only, in key order, so a
        duplicate key cannot hide in two partitions. Without sibling sets every row stands
        alone: the whole key. Empty: the table is one partition.

        ``partition_by`` names fewer of these columns: partitions of the finest kind grouped,
        suppressed and reused together. equity_gaps' rows stand alone, and a partition per
        row (8.6 million at ten statewide years) cost every publish 20 s to plan and as long
        again to copy from the current snapshot (decision 0046)."""
        finest = self.finest_partition_columns
        if not self.partition_by:
            return finest
        return tuple(c for c in finest if c in self.partition_by)

    @property
    def finest_partition_columns(self) -> tuple[str, ...]:
        """partition_columns without ``partition_by``."""
        if not self.sibling_sets:
            return self.primary_key
        fixed = set.intersection(*(set(s.columns) for s in self.sibling_sets))
        fixed -= {c for s in self.sibling_sets for c in s.total or {}}
        return tuple(c for c in self.primary_key if c in fixed)

    def declared_columns(self) -> set[str]:
        cols = set(self.primary_key) | {self.cell_size} | set(self.counts) | set(self.derived)
        cols |= {r.column for r in self.rates}
        for sibling in self.sibling_sets:
            cols |= set(sibling.columns) | set(sibling.total or {})
            cols |= {
                r["from"]
                for r in (sibling.total or {}).values()
                if isinstance(r, Mapping) and "from" in r
            }
        for link in self.hidden_with:
            cols |= set(link.key) | set(link.key_from.values()) | set(link.hide)
        for difference in self.differences:
            cols |= {difference.column, difference.of, difference.minus}
            cols |= {difference.flag} if difference.flag else set()
        for below in self.below_flags:
            cols |= {below.flag, below.rate, below.limit}
            cols |= {below.applies} if below.applies else set()
        return cols


def _as_tuple(value: Any, field: str, model: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise PublishSpecError(f"{model}: meta.publish.{field} must be a list of column names")
    return tuple(str(v) for v in value)


def _derived_from(
    block: Mapping[str, Any], counts: Sequence[str], rates: Sequence[RateSpec], model: str
) -> tuple[str, ...]:
    inputs = _as_tuple(block.get("derived_from"), "derived_from", model)
    if inputs and not block.get("derived"):
        raise PublishSpecError(f"{model}: derived_from without derived columns")
    if stray := set(inputs) - {*counts, *(r.column for r in rates)}:
        raise PublishSpecError(
            f"{model}: derived_from lists {sorted(stray)}, which are no counts or rates of "
            "the table"
        )
    return inputs


def _rate(entry: Any, model: str) -> RateSpec:
    if isinstance(entry, str):
        return RateSpec(entry)
    if isinstance(entry, Mapping) and "column" in entry:
        return RateSpec(entry["column"], entry.get("numerator"), entry.get("denominator"))
    raise PublishSpecError(
        f"{model}: each meta.publish.rates entry is a column name or "
        f"{{column, numerator, denominator}}, got {entry!r}"
    )


def _sibling_set(entry: Any, primary_key: tuple[str, ...], model: str) -> SiblingSet:
    if isinstance(entry, Mapping):
        if unknown := set(entry) - {"columns", "total", "counts"}:
            raise PublishSpecError(f"{model}: sibling_sets do not know {sorted(map(str, unknown))}")
        columns = _as_tuple(entry.get("columns"), "sibling_sets.columns", model)
        total = dict(entry.get("total") or {})
        counts = (
            _as_tuple(entry["counts"], "sibling_sets.counts", model) if "counts" in entry else None
        )
    else:
        columns, total, counts = _as_tuple(entry, "sibling_sets", model), {}, None
    if not columns:
        raise PublishSpecError(f"{model}: a sibling set needs its columns")
    for column, rule in total.items():
        if isinstance(rule, Mapping) and not ({"from"} == set(rule) or {"map"} == set(rule)):
            raise PublishSpecError(
                f"{model}: sibling set total for {column} must be a value, {{from: column}} "
                f"or {{map: {{part value: total value}}}}, got {rule!r}"
            )
    if total:
        unnamed = [c for c in primary_key if c not in columns and c not in total]
        if unnamed:
            raise PublishSpecError(
                f"{model}: sibling set {list(columns)} varies {unnamed} but its total does "
                "not fix them; give their values in total"
            )
    return SiblingSet(columns, total or None, counts)


def _primary_key(node: Mapping[str, Any], model: str) -> tuple[str, ...]:
    """The model's primary_key constraint: the one declaration of its key, which its
    ``primary_key`` data test reads too (dbt/tests/generic/primary_key.sql)."""
    for constraint in node.get("constraints") or ():
        if constraint.get("type") == "primary_key":
            return _as_tuple(constraint.get("columns"), "primary_key constraint", model)
    raise PublishSpecError(
        f"{model}: a published model declares its key as a model-level constraint "
        "(constraints: [{type: primary_key, columns: [...]}])"
    )


def spec_from_node(node: Mapping[str, Any]) -> PublishSpec | None:
    """The publish spec of one manifest node, or None when the model is not published."""
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    block = meta.get("publish")
    if not block:
        return None
    model = node["unique_id"]
    for required in ("grain", "cell_size"):
        if not block.get(required):
            raise PublishSpecError(f"{model}: meta.publish.{required} is required")
    rates = tuple(_rate(r, model) for r in block.get("rates") or ())
    cell_size = str(block["cell_size"])
    # The cell size and every rate denominator are counts too: publishing a denominator of 3
    # would undo the suppression of its rate.
    counts = [cell_size, *_as_tuple(block.get("counts"), "counts", model)]
    counts += [r.denominator for r in rates if r.denominator]
    counts += [r.numerator for r in rates if r.numerator]
    alias = node.get("alias") or node["name"]
    primary_key = _primary_key(node, model)
    sibling_sets = tuple(
        _sibling_set(s, primary_key, model) for s in block.get("sibling_sets") or ()
    )
    for sibling in sibling_sets:
        if stray := set(sibling.counts or ()) - set(counts):
            raise PublishSpecError(
                f"{model}: sibling set {list(sibling.columns)} lists {sorted(stray)} under "
                "counts, which are not counts of the table"
            )
    spec = PublishSpec(
        table=alias,
        unique_id=model,
        relation=f"{quote_identifier(node['schema'])}.{quote_identifier(alias)}",
        grain=str(block["grain"]),
        description=node.get("description") or "",
        primary_key=primary_key,
        cell_size=cell_size,
        counts=tuple(dict.fromkeys(counts)),
        rates=rates,
        derived=_as_tuple(block.get("derived"), "derived", model),
        derived_from=_derived_from(block, counts, rates, model),
        sibling_sets=sibling_sets,
        column_descriptions={
            name: (col.get("description") or "")
            for name, col in (node.get("columns") or {}).items()
        },
        hidden_with=tuple(_hidden_with(h, model) for h in block.get("hidden_with") or ()),
        differences=tuple(_difference(d, model) for d in block.get("differences") or ()),
        below_flags=tuple(_below_flag(b, model) for b in block.get("below_flags") or ()),
        partition_by=_as_tuple(block.get("partition_by"), "partition_by", model),
    )
    _check_differences(spec)
    if stray := set(spec.partition_by) - set(spec.finest_partition_columns):
        raise PublishSpecError(
            f"{model}: meta.publish.partition_by names {sorted(stray)}: a partition must hold "
            f"every row of a sibling group; choose among {list(spec.finest_partition_columns)}"
        )
    return spec


def _check_differences(spec: PublishSpec) -> None:
    """A difference, its flag and a below flag are derived columns (hidden with their rates
    by rule 5), and the rates they compare are rates of the table or linked rates copied
    with their display."""
    quoted = {r.column for r in spec.rates} | {
        link.display_as for link in spec.hidden_with if link.display_as
    }
    for below in spec.below_flags:
        if below.flag not in spec.derived:
            raise PublishSpecError(
                f"{spec.unique_id}: below_flags names {below.flag}, no derived column"
            )
        if below.rate not in quoted:
            raise PublishSpecError(
                f"{spec.unique_id}: below_flags compares {below.rate}, no rate with a display"
            )
    for difference in spec.differences:
        outputs = {difference.column, *([difference.flag] if difference.flag else [])}
        if stray := outputs - set(spec.derived):
            raise PublishSpecError(
                f"{spec.unique_id}: differences names {sorted(stray)}, which are not derived "
                "columns of the table"
            )
        if stray := {difference.of, difference.minus} - quoted:
            raise PublishSpecError(
                f"{spec.unique_id}: a difference is taken between rates with a display; "
                f"{sorted(stray)} is none (a rate of the table, or a hidden_with display_as)"
            )


_HIDDEN_WITH_OPTIONS = {
    "table",
    "key",
    "key_from",
    "where",
    "column",
    "hide",
    "unmatched",
    "display_as",
}
_DIFFERENCE_OPTIONS = {"column", "of", "minus", "flag", "threshold"}


_BELOW_FLAG_OPTIONS = {"flag", "rate", "limit", "share", "applies"}


def _below_flag(entry: Any, model: str) -> BelowFlag:
    if not isinstance(entry, Mapping) or not {"flag", "rate", "limit", "share"} <= set(entry):
        raise PublishSpecError(f"{model}: below_flags entries need flag, rate, limit and share")
    if unknown := set(entry) - _BELOW_FLAG_OPTIONS:
        raise PublishSpecError(f"{model}: below_flags does not know {sorted(map(str, unknown))}")
    return BelowFlag(
        flag=str(entry["flag"]),
        rate=str(entry["rate"]),
        limit=str(entry["limit"]),
        share=float(entry["share"]),
        applies=str(entry["applies"]) if entry.get("applies") else None,
    )


def _difference(entry: Any, model: str) -> Difference:
    if not isinstance(entry, Mapping) or not {"column", "of", "minus"} <= set(entry):
        raise PublishSpecError(f"{model}: differences entries need column, of and minus")
    if unknown := set(entry) - _DIFFERENCE_OPTIONS:
        raise PublishSpecError(f"{model}: differences does not know {sorted(map(str, unknown))}")
    if ("flag" in entry) != ("threshold" in entry):
        raise PublishSpecError(f"{model}: a difference's flag needs its threshold, and back")
    return Difference(
        column=str(entry["column"]),
        of=str(entry["of"]),
        minus=str(entry["minus"]),
        flag=str(entry["flag"]) if "flag" in entry else None,
        threshold=float(entry["threshold"]) if "threshold" in entry else None,
    )


def _hidden_with(entry: Any, model: str) -> HiddenWith:
    if not isinstance(entry, Mapping) or not {"table", "key", "column", "hide"} <= set(entry):
        raise PublishSpecError(f"{model}: hidden_with entries need table, key, column and hide")
    # A misspelt (or YAML-mangled: `on:` reads as true) option must not silently match less.
    if unknown := set(entry) - _HIDDEN_WITH_OPTIONS:
        raise PublishSpecError(f"{model}: hidden_with does not know {sorted(map(str, unknown))}")
    key_from = entry.get("key_from") or {}
    if not isinstance(key_from, Mapping):
        raise PublishSpecError(
            f"{model}: hidden_with.key_from maps linked columns to this table's columns"
        )
    unmatched = entry.get("unmatched", "hide")
    if unmatched not in ("hide", "show", "omit"):
        raise PublishSpecError(
            f"{model}: hidden_with.unmatched is hide, show or omit, got {unmatched!r}"
        )
    return HiddenWith(
        table=str(entry["table"]),
        key=_as_tuple(entry["key"], "hidden_with.key", model),
        where=dict(entry.get("where") or {}),
        column=str(entry["column"]),
        hide=_as_tuple(entry["hide"], "hidden_with.hide", model),
        key_from={str(k): str(v) for k, v in key_from.items()},
        show_unmatched=unmatched == "show",
        omit_unmatched=unmatched == "omit",
        display_as=str(entry["display_as"]) if entry.get("display_as") else None,
    )


def load_publish_specs(manifest_path: Path) -> list[PublishSpec]:
    """Every published model in the manifest, in name order."""
    manifest = json.loads(Path(manifest_path).read_text())
    specs = [
        spec
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and (spec := spec_from_node(node))
    ]
    names = [s.table for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise PublishSpecError(f"two published models share the name(s) {sorted(duplicates)}")
    by_name = {s.table: s for s in specs}
    for spec in specs:
        for link in spec.hidden_with:
            linked = by_name.get(link.table)
            if link.show_unmatched and linked is not None and linked.may_omit_rows:
                raise PublishSpecError(
                    f"{spec.unique_id}: hidden_with {link.table} cannot show unmatched rows: "
                    f"{link.table} leaves rows under small totals out, and a copy of one "
                    "would be shown"
                )
    return sorted(specs, key=lambda s: s.table)


def check_columns(spec: PublishSpec, columns: Sequence[str]) -> None:
    missing = spec.declared_columns() - set(columns)
    if missing:
        raise PublishSpecError(
            f"{spec.unique_id}: meta.publish names columns the table does not have: "
            f"{sorted(missing)}"
        )
