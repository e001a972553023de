"""Sibling groups over one table's rows: which rows add up to which total, and each row's
groups, as flat arrays (the suppression rules and the complement search both walk them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from dagster_project.publish.disclosure import Equations, Group, spans
from dagster_project.publish.spec import PublishSpec


@dataclass(frozen=True)
class Links:
    """Sibling groups over one table's rows, and each row's groups."""

    groups: list[Group]
    equations: Equations
    # Each row's groups as slices of one array (a list per row costs gigabytes at state
    # scale): entries by_row[row_start[r]:row_start[r + 1]] of equations.
    by_row: np.ndarray
    row_start: np.ndarray
    # Each group's rows, total last, as the slice group_start[g]:group_start[g + 1] of
    # equations.cell (entries are in group order).
    group_start: np.ndarray

    @classmethod
    def build(cls, groups: list[Group], rows: int) -> Links:
        equations = Equations.from_groups(groups)
        sizes = np.bincount(equations.group, minlength=equations.groups)
        return cls(
            groups=groups,
            equations=equations,
            group_start=np.concatenate(([0], np.cumsum(sizes))),
            by_row=np.argsort(equations.cell, kind="stable"),
            row_start=np.concatenate(([0], np.cumsum(np.bincount(equations.cell, minlength=rows)))),
        )

    def groups_of(self, row: int) -> np.ndarray:
        entries = self.by_row[self.row_start[row] : self.row_start[row + 1]]
        return self.equations.group[entries]

    def groups_of_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The groups of all of ``rows``, with repeats, and for each the index in ``rows``
        of the row it is a group of: groups_of for many rows at once."""
        entries, which = spans(self.row_start[rows], self.row_start[rows + 1])
        return self.equations.group[self.by_row[entries]], which

    def rows_of_groups(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows of all of ``groups`` (each group's total last), and for each the group
        it is a row of."""
        entries, which = spans(self.group_start[groups], self.group_start[groups + 1])
        return self.equations.cell[entries], groups[which]


def sibling_groups(frame: pl.DataFrame, spec: PublishSpec) -> list[list[Group]]:
    """The groups of each sibling set."""
    pk = list(spec.primary_key)
    indexed = frame.with_row_index("__row")
    key_rows = indexed.select("__row", *(pl.col(c).cast(pl.String) for c in pk))
    by_set: list[list[Group]] = []
    for sibling in spec.sibling_sets:
        groups: list[Group] = []
        by_set.append(groups)
        # maintain_order: group ids, and so ties between complements, the same every run
        members = indexed.group_by(list(sibling.columns), maintain_order=True).agg(
            pl.col("__row"), __first=pl.col("__row").first()
        )
        totals = [None] * members.height
        no_total = [False] * members.height
        if sibling.total:
            keys = indexed.select("__row", *sibling.total_key(pk))
            matched = members.select("__first").join(
                keys, left_on="__first", right_on="__row", how="left", maintain_order="left"
            )
            # A rule that gives no value (not in its map, no parent): these parts have no
            # total, so they are no group of this set. A total key that is no row of
            # the table: the total is taken as known.
            no_total = matched.select(
                pl.any_horizontal(pl.col(c).is_null() for c in sibling.total)
            ).to_series()
            totals = matched.join(
                key_rows, on=pk, how="left", nulls_equal=False, maintain_order="left"
            )["__row"].to_list()
        for rows, total, skip in zip(members["__row"].to_list(), totals, no_total, strict=True):
            if skip:
                continue
            parts = np.asarray(rows, dtype=np.int64)
            if total is not None:
                parts = parts[parts != total]
            if len(parts):
                groups.append((parts, total))
    return by_set


def links_by_count(spec: PublishSpec, by_set: list[list[Group]], rows: int) -> dict[str, Links]:
    """Each count's groups: those of the sibling sets it adds up in (shared when equal)."""
    built: dict[tuple[int, ...], Links] = {}
    links = {}
    for count in spec.counts:
        sets = tuple(i for i, s in enumerate(spec.sibling_sets) if s.adds_up(count))
        if sets not in built:
            built[sets] = Links.build([g for i in sets for g in by_set[i]], rows)
        links[count] = built[sets]
    return links
