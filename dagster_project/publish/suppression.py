"""Small-cell suppression, complementary suppression and top/bottom coding of one table.

Rules (docs/analyst-guide.md repeats them for analysts):

0. OMITTED (row): a part withheld for small n of a sibling group whose total row is
   withheld too (below min n, or as a complement in rule 4) is not published: it would show
   only "suppressed", and its mere existence says its group holds at least one student,
   which with the reason codes (small n: at most min n - 1) can pin every part to a value.
   So is every part of a state total's group whose parts are all below min n, where the
   complementary search would otherwise withhold the state total (ten districts' rows of 1
   beside a state total of 10): the total stays. An omitted part stays in the checks as an
   unknown from 0 (it may be a group with no one in it) to min n - 1.
1. SMALL_N (row): the cell size (e.g. the denominator) is below min n, or null. Every
   count, rate and derived column of the row is nulled; ``suppression_reason`` = SMALL_N.
2. Rate-level small n: a rate whose own declared denominator is below min n (while the
   row's cell size is not) is nulled with its numerator.
3. Top/bottom coding: a shown rate at or above the band's top, or at or below its bottom,
   is nulled with its numerator; ``<rate>_display`` says ">=95%" or "<=5%". The band is
   chosen by the rate's denominator (larger groups get narrower bands).
4. Complementary: within every sibling group (rows that agree on a sibling set's columns
   and sum to a total), no hidden count may be derivable from the total, the published
   siblings and the bounds a reason code reveals (see disclosure.py). While one is, the
   next-smallest shown cell of a group holding it is hidden too: the whole row
   (COMPLEMENTARY) when protecting a SMALL_N row, else just the numerator and its rate.
   Repeated across overlapping sets until no cell is derivable.
5. A rate whose numerator or denominator is withheld is withheld; where they are only coded
   or published as ranges, the rate is published as the range those give ("57.1% to
   59.8%"), which a reader could work out anyway. Derived columns (gaps, flags, means) are
   nulled whenever a count or rate they are computed from (``derived_from``, else every
   one) is hidden. A count that is null in the mart (not applicable to the row, such as
   records found for graduation) is published null, and so is a rate over it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any

import numpy as np
import polars as pl

from dagster_project.publish.complements import ComplementSearch
from dagster_project.publish.siblings import links_by_count, sibling_groups
from dagster_project.publish.spec import (
    PublishSpec,
    PublishSpecError,
    RateSpec,
    check_columns,
)

SUPPRESSION_REASON = "suppression_reason"
# Rows of whole partitions suppressed together (suppress's batches).
BATCH_ROWS = 2_000
DISPLAY_SUFFIX = "_display"
# A withheld rate's display starts with this word, then says why.
WITHHELD_DISPLAY = "suppressed"
COMPLEMENTARY_DISPLAY = f"{WITHHELD_DISPLAY} (complementary)"
# ... and this for a small n: "suppressed (n<10)".
SMALL_N_DISPLAY = f"{WITHHELD_DISPLAY} (n<"
# A count or rate published as a range: "4,120 to 4,129", "86.9% to 87.4%".
RANGE_SEPARATOR = " to "


class RowSuppression(IntEnum):
    """Why a published row is shown or not (its `suppression_reason`); not the quarantine's
    ingest.reasons.RowReason."""

    SHOWN = 0
    SMALL_N = 1
    COMPLEMENTARY = 2
    OMITTED = 3  # a part of a total below min n: not published (see rule 0)


class RateStatus(IntEnum):
    SHOWN = 0
    SMALL_N = 1
    TOP_CODED = 2
    BOTTOM_CODED = 3
    COMPLEMENTARY = 4
    RANGED = 5  # a count it is built on is published as a range (rule 4)


@dataclass(frozen=True)
class CodingBand:
    """From this denominator up, rates at or below ``bottom`` or at or above ``top`` are coded."""

    min_denominator: int
    bottom: float
    top: float


# Each band's ends hold a handful of students at its smallest denominators; from 1,000 up the
# ends are a tenth of a percent (decision 0040): "<=1%" of the state's 97,661 students hid
# 940 participants of a program, and the rates built on them.
DEFAULT_BANDS = (
    CodingBand(10, 0.10, 0.90),
    CodingBand(50, 0.05, 0.95),
    CodingBand(300, 0.01, 0.99),
    CodingBand(1000, 0.001, 0.999),
)


@dataclass(frozen=True)
class SuppressionRules:
    min_n: int = 10
    bands: tuple[CodingBand, ...] = DEFAULT_BANDS
    # A complement is published as the range of ``range_width`` whole counts that holds it,
    # on a fixed grid (4,120 to 4,129): where in the range the value lies says nothing.
    range_width: int = 10
    # Where ranges around a withheld cell still pin it, a range grows tenfold (4,100 to
    # 4,199), up to this many times, before a cell is withheld outright (decision 0037).
    coarser_ranges: int = 1

    def __post_init__(self) -> None:
        if self.min_n < 1:
            raise ValueError("min_n must be at least 1")
        if self.range_width < 2:
            raise ValueError("range_width must be at least 2: a range of one count is the count")
        if self.coarser_ranges < 0:
            raise ValueError("coarser_ranges must be 0 or more")
        if not self.bands:
            raise ValueError("at least one coding band is required")
        starts = [b.min_denominator for b in self.bands]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError("coding bands must be in increasing order of min_denominator")
        for i, band in enumerate(self.bands):
            smallest = max(band.min_denominator, self.min_n) if i == 0 else band.min_denominator
            # A coded range must hold at least two possible counts, or ">=95%" of a group of
            # 10 would still say "all of them".
            if smallest * band.bottom < 1 - 1e-9 or smallest * (1 - band.top) < 1 - 1e-9:
                raise ValueError(
                    f"coding band {band} is too narrow for a denominator of {smallest}: "
                    "bottom and 1 - top must each cover at least one student"
                )

    def band_for(self, denominator: float) -> CodingBand:
        chosen = self.bands[0]
        for band in self.bands:
            if denominator >= band.min_denominator:
                chosen = band
        return chosen

    def band_limits(self, denominators: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """band_for over an array: (bottom, top) of each denominator's band."""
        starts = np.array([b.min_denominator for b in self.bands], dtype=float)
        index = np.clip(np.searchsorted(starts, denominators, side="right") - 1, 0, None)
        bottoms = np.array([b.bottom for b in self.bands])
        tops = np.array([b.top for b in self.bands])
        return bottoms[index], tops[index]


@dataclass
class SuppressedTable:
    frame: pl.DataFrame
    rows: int
    small_n_rows: int
    complementary_rows: int
    coded_rates: int  # on shown rows: ">=x%" / "<=x%"
    hidden_rates: int  # on shown rows: withheld, coded or ranged (the numeric rate is null)
    # Hidden cells in components too large for the exact check: protected against every
    # single group and against bounds propagated across groups, not against every linear
    # combination of groups (see disclosure.py).
    propagation_only_cells: int = 0
    notes: list[str] = field(default_factory=list)
    # The primary key of each note's row (in the order of notes) and of each cell counted
    # in propagation_only_cells: a publish keeps both by partition (chunks.py).
    notes_at: pl.DataFrame = field(default_factory=pl.DataFrame)
    unchecked_at: pl.DataFrame = field(default_factory=pl.DataFrame)
    omitted_rows: int = 0  # rule 0: rows not published
    ranged_counts: int = 0  # rule 4: counts published as a range


def _percent(x: float) -> str:
    return f"{x * 100:g}%"


class TableState:
    """Masks over one table's rows while the rules run; nothing is nulled until the end."""

    def __init__(self, frame: pl.DataFrame, spec: PublishSpec, rules: SuppressionRules) -> None:
        self.spec, self.rules, self.n = spec, rules, frame.height
        self.keys = frame.select(spec.primary_key)
        self.values = {c: frame[c].cast(pl.Float64).fill_null(0.0).to_numpy() for c in spec.counts}
        # Null in the mart: not applicable to the row (counted as 0 in every sum).
        self.missing = {c: frame[c].is_null().to_numpy() for c in spec.counts}
        self.rate_values = {
            r.column: frame[r.column].cast(pl.Float64).to_numpy(allow_copy=True) for r in spec.rates
        }
        size = frame[spec.cell_size].cast(pl.Float64).to_numpy(allow_copy=True)
        self.size = np.nan_to_num(size, nan=-1.0)
        self.row = np.where(
            self.size < rules.min_n, RowSuppression.SMALL_N, RowSuppression.SHOWN
        ).astype(np.int8)
        self.hidden = {c: np.zeros(self.n, dtype=bool) for c in spec.counts}
        # Complements published as a range (rule 4): the value is unknown within it.
        self.ranged = {c: np.zeros(self.n, dtype=bool) for c in spec.counts}
        # How many times a ranged value's range grew tenfold (SuppressionRules.coarser_ranges).
        self.coarsened = {c: np.zeros(self.n, dtype=np.int8) for c in spec.counts}
        self.status = {r.column: np.zeros(self.n, dtype=np.int8) for r in spec.rates}
        self.rows_are_nonempty = bool((self.size >= 1).all())
        # Computed once from the values (which never change): value_range's grids, and
        # bounds' coded limits.
        self._grids: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        # The last grids of rows at several levels, with the levels they were made for.
        self._mixed_grids: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._coded: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.links = links_by_count(spec, sibling_groups(frame, spec), self.n)
        self._check_additive(frame)
        self.omit_small_parts_of_withheld_totals()
        self.capped = self._capped_by_cell_size()
        self.totals = {c: self._total_rows(c) for c in spec.counts}
        self.roots = self._root_rows(frame)
        self.repeated_as_size = self._repeated_as_cell_size(frame)

    def _total_rows(self, count: str) -> np.ndarray:
        """Whether each row is the total of some group of ``count``."""
        totals = self.links[count].equations.total
        out = np.zeros(self.n, dtype=bool)
        out[totals[totals >= 0]] = True
        return out

    def _root_rows(self, frame: pl.DataFrame) -> np.ndarray:
        """Whether each row is at the top of a declared hierarchy (the state, in a
        school -> district -> state map): the cells readers look for first, and the last a
        complement may take (measures.md: never a state total)."""
        out = np.zeros(self.n, dtype=bool)
        for sibling in self.spec.sibling_sets:
            for column, values in sibling.roots().items():
                out |= (
                    frame[column].cast(pl.String).is_in(sorted(values)).fill_null(False).to_numpy()
                )
        return out

    def _check_additive(self, frame: pl.DataFrame) -> None:
        """A declared total must be the sum of its parts, or the protection is an illusion."""
        for count in self.spec.counts:
            eq = self.links[count].equations
            balance = np.bincount(eq.group, eq.coef * self.values[count][eq.cell], eq.groups)
            wrong = np.flatnonzero((eq.total >= 0) & (np.abs(balance) > 1e-6))
            if len(wrong):
                key = frame.select(self.spec.primary_key).row(int(eq.total[wrong[0]]))
                raise PublishSpecError(
                    f"{self.spec.unique_id}: {count} of a sibling group's parts does not add "
                    f"up to its total row {key} ({len(wrong)} such groups); fix the sibling "
                    "set declaration (columns or total) or the model"
                )

    # rule 0 --------------------------------------------------------------------------
    def omit_small_parts_of_withheld_totals(self) -> bool:
        """Leave out the parts withheld for small n of a total that is withheld too. Where the
        cell size adds up, every part of a total below min n is small as well; after the
        complementary rounds, a total withheld as a complement joins them. Whether anything
        new was left out."""
        equations = self.links[self.spec.cell_size].equations
        has_total = equations.total >= 0
        withheld = np.zeros(equations.groups, dtype=bool)
        withheld[has_total] = self.row[equations.total[has_total]] != RowSuppression.SHOWN
        parts = equations.cell[(equations.coef > 0) & withheld[equations.group]]
        small = parts[self.row[parts] == RowSuppression.SMALL_N]
        self.row[small] = RowSuppression.OMITTED
        return len(small) > 0

    def omit_small_parts_of(self, total: int) -> bool:
        """Leave out the parts of ``total``'s groups where every part is below min n,
        instead of withholding ``total`` (a state total the complementary search would
        withhold to protect them): a reader who sees ten districts' rows of 1 beside a state
        total of 10 knows each; without the rows, each may hold 0 to 9. Rule 0 then leaves
        out their own small parts. Whether anything was left out."""
        eq = self.links[self.spec.cell_size].equations
        groups = np.unique(eq.group[(eq.cell == total) & (eq.coef < 0)])
        entries = np.isin(eq.group, groups) & (eq.coef > 0)
        small = np.isin(self.row, [RowSuppression.SMALL_N, RowSuppression.OMITTED])
        all_small = np.ones(eq.groups, dtype=bool)
        np.logical_and.at(all_small, eq.group[entries], small[eq.cell[entries]])
        parts = eq.cell[entries & all_small[eq.group]]
        parts = parts[self.row[parts] == RowSuppression.SMALL_N]
        self.row[parts] = RowSuppression.OMITTED
        return len(parts) > 0

    def _repeated_as_cell_size(
        self, frame: pl.DataFrame
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """count -> (rows holding it, rows whose cell size repeats it), from this table's
        own ``hidden_with`` links that hide the cell size (program_continuum: a step's
        student_count is the base_count of the steps built on it). Where the value is
        withheld the repeat is hidden too, but the repeating row's reason code still says
        whether it is below min n."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for link in self.spec.hidden_with:
            if link.table != self.spec.table or self.spec.cell_size not in link.hide:
                continue
            columns = link.join_columns()
            holding = (
                frame.with_row_index("__holding")
                .filter(*(pl.col(c) == v for c, v in link.where.items()))
                .select("__holding", *(pl.col(t).alias(o) for t, o in columns.items()))
            )
            pairs = frame.with_row_index("__repeating").join(
                holding, on=list(columns.values()), how="inner"
            )
            out[link.column] = (
                pairs["__holding"].to_numpy().astype(np.int64),
                pairs["__repeating"].to_numpy().astype(np.int64),
            )
        return out

    def _capped_by_cell_size(self) -> set[str]:
        """Counts known to be at most the cell size: it, and numerators chained down to it."""
        capped = {self.spec.cell_size}
        changed = True
        while changed:
            changed = False
            for rate in self.spec.rates:
                num = rate.numerator
                if num and num not in capped and self.spec.denominator_of(rate) in capped:
                    capped.add(num)
                    changed = True
        return capped

    # rules 2 and 3 -------------------------------------------------------------------
    def code_rates(self) -> None:
        shown = self.row == RowSuppression.SHOWN
        for rate in self.spec.rates:
            value = self.rate_values[rate.column]
            if np.nanmax(np.where(shown, value, np.nan), initial=0.0) > 1 + 1e-9:
                raise PublishSpecError(
                    f"{self.spec.unique_id}: rate {rate.column} exceeds 1; publish rates as "
                    "fractions from 0 to 1"
                )
            den = self.values[self.spec.denominator_of(rate)]
            status = self.status[rate.column]
            small = shown & (den < self.rules.min_n)
            status[small] = RateStatus.SMALL_N
            bottom, top = self.rules.band_limits(den)
            candidates = shown & ~small & ~np.isnan(value)
            status[candidates & (value >= top - 1e-12)] = RateStatus.TOP_CODED
            status[candidates & (value < top - 1e-12) & (value <= bottom + 1e-12)] = (
                RateStatus.BOTTOM_CODED
            )
            for num in self.spec.numerators_of(rate):
                self.hidden[num] |= status != RateStatus.SHOWN

    # rule 4 --------------------------------------------------------------------------
    def unknown(self, count: str) -> np.ndarray:
        """Cells of ``count`` a reader does not see. A count null in the mart (not applicable,
        as placement counts outside 3S1) is taken as known to be 0, even in a withheld row:
        there is nothing there to protect, and it protects nothing as a complement."""
        hidden = (self.row != RowSuppression.SHOWN) | self.hidden[count] | self.ranged[count]
        return hidden & ~self.missing[count]

    def value_range(self, count: str) -> tuple[np.ndarray, np.ndarray]:
        """The grid range holding each value of ``count``: ``range_width`` counts wide, ten
        times wider for each time it was coarsened. Read only: the grids are computed once
        (values never change) and picked per row by how often it was coarsened."""
        levels = self.coarsened[count]
        low, high = self.grid_range(count, 0)
        if not levels.any():
            return low, high
        kept = self._mixed_grids.get(count)
        if kept is not None and np.array_equal(kept[0], levels):
            return kept[1], kept[2]
        low, high = low.copy(), high.copy()
        for level in np.unique(levels[levels != 0]).tolist():
            at = levels == level
            level_low, level_high = self.grid_range(count, level)
            low[at], high[at] = level_low[at], level_high[at]
        low.flags.writeable = high.flags.writeable = False
        self._mixed_grids[count] = (levels.copy(), low, high)
        return low, high

    def grid_range(self, count: str, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Every value's grid range at one coarsening level (the same arithmetic as a
        width per row: 10.0 ** level is exact)."""
        key = (count, level)
        if key not in self._grids:
            width = self.rules.range_width * np.power(10.0, np.int8(level))
            low = np.floor(self.values[count] / width) * width
            high = low + width - 1
            low.flags.writeable = high.flags.writeable = False
            self._grids[key] = (low, high)
        return self._grids[key]

    def coarsenable(self, count: str) -> np.ndarray:
        """Ranged values whose range may still grow tenfold."""
        return self.ranged[count] & (self.coarsened[count] < self.rules.coarser_ranges)

    def coarsen(self, count: str, row: int) -> None:
        """Publish the ranged ``count`` at ``row`` as a range ten times wider."""
        self.coarsened[count][row] += 1

    def bounds(self, count: str, repeats: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """What a reader can tell about each hidden value of ``count`` from the snapshot
        (``repeats``: including what rows repeating it as their cell size say)."""
        lo, hi = np.zeros(self.n), np.full(self.n, np.inf)
        for rate in self.spec.rates:
            if count not in self.spec.numerators_of(rate):
                continue
            den, coded_low, coded_high = self._coded_limits(rate)
            status = self.status[rate.column]
            # In place where the mask holds (the masks are most of the table).
            np.minimum(hi, den, out=hi, where=status != RateStatus.SHOWN)
            np.maximum(lo, coded_low, out=lo, where=status == RateStatus.TOP_CODED)
            np.minimum(hi, coded_high, out=hi, where=status == RateStatus.BOTTOM_CODED)
        # A withheld row shows nothing but its reason code; an omitted one not even that.
        small = self.row == RowSuppression.SMALL_N
        withheld = self.row != RowSuppression.SHOWN
        np.copyto(lo, 0.0, where=withheld)
        np.copyto(hi, np.inf, where=withheld)
        ranged = self.ranged[count] & ~withheld
        range_lo, range_hi = self.value_range(count)
        np.maximum(lo, range_lo, out=lo, where=ranged)
        np.minimum(hi, range_hi, out=hi, where=ranged)
        if count in self.capped:
            # Only parts below min n are ever left out: a reader knows that of an omitted
            # row too (it may also be a group with no one in it, so nothing below).
            omitted = self.row == RowSuppression.OMITTED
            np.copyto(hi, float(self.rules.min_n - 1), where=small | omitted)
        if repeats and count in self.repeated_as_size:
            holding, repeating = self.repeated_as_size[count]
            reason = self.row[repeating]
            below = holding[reason == RowSuppression.SMALL_N]
            hi[below] = np.minimum(hi[below], self.rules.min_n - 1)
            above = holding[
                (reason == RowSuppression.SHOWN) | (reason == RowSuppression.COMPLEMENTARY)
            ]
            lo[above] = np.maximum(lo[above], self.rules.min_n)
        # A complementary row's cell size among them.
        reaches, below_min_n = self.min_n_known(count)
        np.maximum(lo, float(self.rules.min_n), out=lo, where=reaches)
        np.minimum(hi, float(self.rules.min_n - 1), out=hi, where=below_min_n)
        if count == self.spec.cell_size:
            # Where every row of the table has someone in its group (rows exist because
            # someone is), a reader may assume a withheld one holds at least 1; a table that
            # also lists empty groups tells them nothing of the kind.
            np.copyto(lo, 1.0 if self.rows_are_nonempty else 0.0, where=small)
        return lo, hi

    def min_n_known(self, count: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows where the reason codes say ``count`` reaches min n, and rows where they say
        it is below: a row not withheld for small n has a cell size of at least min n (rule
        1), and each of its rates' displays says whether that rate's denominator is below min
        n (rule 2: "suppressed (n<10)" shows even in a complementary row)."""
        coded_rows = (self.row == RowSuppression.SHOWN) | (self.row == RowSuppression.COMPLEMENTARY)
        reaches = coded_rows.copy() if count == self.spec.cell_size else np.zeros(self.n, bool)
        below = np.zeros(self.n, dtype=bool)
        for rate in self.spec.rates:
            if self.spec.denominator_of(rate) != count:
                continue
            small = self.status[rate.column] == RateStatus.SMALL_N
            reaches |= coded_rows & ~small
            below |= coded_rows & small
        return reaches, below

    def _coded_limits(self, rate: RateSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rate's denominator, and the numerator's bound a top code (at least) and a
        bottom code (at most) give at each row: computed once, the values never change."""
        if rate.column not in self._coded:
            den = self.values[self.spec.denominator_of(rate)]
            bottom, top = self.rules.band_limits(den)
            self._coded[rate.column] = (
                den,
                np.ceil(top * den - 1e-9),
                np.floor(bottom * den + 1e-9),
            )
        return self._coded[rate.column]

    def withhold(self, count: str, row: int) -> None:
        """Withhold a ranged ``count`` at ``row`` outright: the row if it is the cell size."""
        self.ranged[count][row] = False
        if count == self.spec.cell_size:
            self.row[row] = RowSuppression.COMPLEMENTARY
            return
        self.hidden[count][row] = True
        for rate in self.spec.rates:
            built_on = {self.spec.denominator_of(rate), *self.spec.numerators_of(rate)}
            status = self.status[rate.column]
            applies = not self._not_applicable_at(rate, row)
            if (
                count in built_on
                and status[row] in (RateStatus.SHOWN, RateStatus.RANGED)
                and applies
            ):
                status[row] = RateStatus.COMPLEMENTARY

    def publish_as_range(self, count: str, row: int) -> None:
        """Publish ``count`` at ``row`` as its grid range; rates over it become ranges too."""
        self.ranged[count][row] = True
        for rate in self.spec.rates:
            parts = {self.spec.denominator_of(rate), *self.spec.numerators_of(rate)}
            status = self.status[rate.column]
            # A rate over a count that does not apply stays null: no '0.0% to 0.0%'.
            applies = not self._not_applicable_at(rate, row)
            if count in parts and status[row] == RateStatus.SHOWN and applies:
                status[row] = RateStatus.RANGED if rate.numerator else RateStatus.COMPLEMENTARY

    def uncode(self, count: str, row: int) -> bool:
        """Withhold the coded rates of ``count`` at ``row`` as complementary instead: the
        range ">=90%" gives can pin a value together with other bounds (a later step's
        small-n reason in program_continuum) where no sibling is left to hide."""
        uncoded = False
        for rate in self.spec.rates:
            status = self.status[rate.column]
            coded = status[row] in (RateStatus.TOP_CODED, RateStatus.BOTTOM_CODED)
            if count in self.spec.numerators_of(rate) and coded:
                status[row] = RateStatus.COMPLEMENTARY
                uncoded = True
        return uncoded

    def complementary_rows(self) -> int:
        return int((self.row == RowSuppression.COMPLEMENTARY).sum())

    # rule 5 --------------------------------------------------------------------------
    def coded(self, count: str) -> np.ndarray:
        """Rows where ``count`` is hidden only by the coding of a rate over it (">=38")."""
        out = np.zeros(self.n, dtype=bool)
        for rate in self.spec.rates:
            if rate.numerator == count:
                out |= np.isin(
                    self.status[rate.column], [RateStatus.TOP_CODED, RateStatus.BOTTOM_CODED]
                )
        return out & self.hidden[count] & ~self.ranged[count]

    def hide_dependent_rates(self) -> None:
        """Rule 5 for rates still shown; derived columns follow in apply()."""
        for rate in self.spec.rates:
            parts = {self.spec.denominator_of(rate), *self.spec.numerators_of(rate)}
            withheld = np.zeros(self.n, dtype=bool)
            bounded = np.zeros(self.n, dtype=bool)
            for count in parts:
                coded = self.coded(count)
                withheld |= self.hidden[count] & ~coded
                bounded |= coded | self.ranged[count]
            status = self.status[rate.column]
            open_ = (status == RateStatus.SHOWN) & ~self._not_applicable(rate)
            status[open_ & withheld] = RateStatus.COMPLEMENTARY
            # A coded rate over a withheld denominator: its numerator's ">=" would be a
            # fraction of the withheld value.
            denominator = self.spec.denominator_of(rate)
            den_withheld = self.hidden[denominator] & ~self.coded(denominator)
            coded = np.isin(status, [RateStatus.TOP_CODED, RateStatus.BOTTOM_CODED])
            status[coded & den_withheld] = RateStatus.COMPLEMENTARY
            status[open_ & ~withheld & bounded] = (
                RateStatus.RANGED if rate.numerator else RateStatus.COMPLEMENTARY
            )

    def _not_applicable_at(self, rate: RateSpec, row: int) -> bool:
        """_not_applicable at one row."""
        numerator = rate.numerator
        return bool(numerator and self.missing[numerator][row] and not self.hidden[numerator][row])

    def _not_applicable(self, rate: RateSpec) -> np.ndarray:
        """Rows where the rate's numerator is null in the mart and not hidden: nothing to
        publish, nor to withhold."""
        if not rate.numerator:
            return np.zeros(self.n, dtype=bool)
        return self.missing[rate.numerator] & ~self.hidden[rate.numerator]

    def display(self, rate: RateSpec) -> list[str | None]:
        """The rate as a reader sees it; assigned from the weakest reason up, so that where
        several apply the strongest (small n, then complementary, then the codes) shows."""
        value, status = self.rate_values[rate.column], self.status[rate.column]
        bottom, top = self.rules.band_limits(self.values[self.spec.denominator_of(rate)])
        out = np.full(self.n, None, dtype=object)
        shown = ~np.isnan(value)
        out[shown] = [f"{v * 100:.1f}%" for v in value[shown].tolist()]
        for code, prefix, limit in (
            (RateStatus.BOTTOM_CODED, "<=", bottom),
            (RateStatus.TOP_CODED, ">=", top),
        ):
            coded = status == code
            out[coded] = [prefix + _percent(x) for x in limit[coded].tolist()]
        ranged = np.flatnonzero(status == RateStatus.RANGED)
        if len(ranged):
            low, high = self._rate_range(rate, ranged)
            out[ranged] = [
                f"{math.floor(a * 1000) / 10:.1f}%{RANGE_SEPARATOR}{math.ceil(b * 1000) / 10:.1f}%"
                for a, b in zip(low.tolist(), high.tolist(), strict=True)
            ]
        out[(self.row == RowSuppression.COMPLEMENTARY) | (status == RateStatus.COMPLEMENTARY)] = (
            COMPLEMENTARY_DISPLAY
        )
        below = f"{SMALL_N_DISPLAY}{self.rules.min_n})"
        out[(self.row == RowSuppression.SMALL_N) | (status == RateStatus.SMALL_N)] = below
        return out.tolist()

    def _count_bounds(self, count: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the snapshot says of ``count`` at shown ``rows``: its value, its range, or
        the bounds its coding gives."""
        low, high = self.values[count].copy(), self.values[count].copy()
        range_low, range_high = self.value_range(count)
        ranged = self.ranged[count]
        low[ranged], high[ranged] = range_low[ranged], range_high[ranged]
        coded = self.coded(count)
        if coded.any():
            bound_low, bound_high = self.bounds(count)
            low[coded], high[coded] = bound_low[coded], bound_high[coded]
        # A range "0 to 99" of a cell size shown in its row holds at least min n.
        reaches, _ = self.min_n_known(count)
        np.maximum(low, float(self.rules.min_n), out=low, where=reaches & ranged)
        return low[rows], high[rows]

    def _rate_range(self, rate: RateSpec, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rate's range from its numerator's and denominator's published ranges."""
        num_lo, num_hi = self._count_bounds(str(rate.numerator), rows)
        den_lo, den_hi = self._count_bounds(self.spec.denominator_of(rate), rows)
        low = np.clip(num_lo / np.maximum(den_hi, 1), 0.0, 1.0)
        high = np.clip(num_hi / np.maximum(den_lo, 1), 0.0, 1.0)
        return low, high

    def count_display(self, count: str) -> list[str | None]:
        """The count as a reader sees it: the value, its range, the coded bound its rate
        gives (">=38"), or why it is withheld."""
        out = np.array([f"{v:,.0f}" for v in self.values[count].tolist()], dtype=object)
        small_n = f"{SMALL_N_DISPLAY}{self.rules.min_n})"
        coded = np.zeros(self.n, dtype=bool)
        for rate in self.spec.rates:
            if rate.numerator != count:
                continue
            status = self.status[rate.column]
            denominator = self.spec.denominator_of(rate)
            bottom, top = self.rules.band_limits(self.values[denominator])
            # From what the snapshot says of the denominator: where it is coded too, its
            # value would show through ">=" a fraction of it.
            den_low, den_high = self._count_bounds(denominator, np.arange(self.n))
            top_coded = status == RateStatus.TOP_CODED
            out[top_coded] = [f">={math.ceil(x - 1e-9):,}" for x in (top * den_low)[top_coded]]
            bottom_coded = status == RateStatus.BOTTOM_CODED
            out[bottom_coded] = [
                f"<={math.floor(x + 1e-9):,}" for x in (bottom * den_high)[bottom_coded]
            ]
            coded |= top_coded | bottom_coded
            # The numerator of a rate whose own denominator is below min n (rule 2) is
            # withheld for that small n, not as a complement.
            small = (status == RateStatus.SMALL_N) & ~coded
            out[small] = small_n
            coded |= small
        ranged = self.ranged[count]
        low, high = self.value_range(count)
        out[ranged] = [
            f"{a:,.0f}{RANGE_SEPARATOR}{b:,.0f}"
            for a, b in zip(low[ranged].tolist(), high[ranged].tolist(), strict=True)
        ]
        out[self.missing[count]] = None
        out[self.hidden[count] & ~coded & ~ranged] = COMPLEMENTARY_DISPLAY
        out[self.row == RowSuppression.COMPLEMENTARY] = COMPLEMENTARY_DISPLAY
        out[self.row == RowSuppression.SMALL_N] = small_n
        return out.tolist()

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        row_hidden = self.row != RowSuppression.SHOWN
        inputs = self.spec.derivation_inputs
        any_hidden = row_hidden.copy()
        for count in inputs & set(self.spec.counts):
            any_hidden |= self.hidden[count] | self.ranged[count]
        for column, status in self.status.items():
            if column in inputs:
                any_hidden |= status != RateStatus.SHOWN
        nulls = {c: row_hidden | self.hidden[c] | self.ranged[c] for c in self.spec.counts}
        nulls |= {r: row_hidden | (s != RateStatus.SHOWN) for r, s in self.status.items()}
        nulls |= {d: any_hidden for d in self.spec.derived}
        reason = np.array([r.name if r else None for r in RowSuppression], dtype=object)[self.row]
        columns: list[pl.Series] = []
        displays = {r.column: r for r in self.spec.rates}
        for name in frame.columns:
            series = frame[name]
            if name in nulls:
                keep = pl.Series(~nulls[name])
                series = pl.select(
                    pl.when(keep).then(pl.lit(series)).otherwise(None).alias(name)
                ).to_series()
            columns.append(series)
            if name in displays:
                columns.append(
                    pl.Series(name + DISPLAY_SUFFIX, self.display(displays[name]), pl.String)
                )
            elif name in self.spec.counts:
                columns.append(
                    pl.Series(name + DISPLAY_SUFFIX, self.count_display(name), pl.String)
                )
        columns.append(pl.Series(SUPPRESSION_REASON, reason.tolist(), pl.String))
        return pl.DataFrame(columns).filter(pl.Series(self.row != RowSuppression.OMITTED))


def suppress(
    frame: pl.DataFrame,
    spec: PublishSpec,
    rules: SuppressionRules,
    progress: Callable[[str], None] | None = None,
) -> SuppressedTable:
    """The table as it may be published: rules 0-5 above applied, display columns added.
    ``progress`` receives a line per round of rule 4 on large tables."""
    check_columns(spec, frame.columns)
    clashes = {SUPPRESSION_REASON} | {
        c + DISPLAY_SUFFIX for c in (*spec.counts, *(r.column for r in spec.rates))
    }
    if clashes & set(frame.columns):
        raise PublishSpecError(f"{spec.unique_id}: reserved column name(s) {clashes}")
    if frame.select(pl.struct(list(spec.primary_key)).is_duplicated().any()).item():
        raise PublishSpecError(f"{spec.unique_id}: primary key {spec.primary_key} is not unique")
    # Sorted so that ties between equally small complements break the same way every run.
    key = list(spec.primary_key)
    frame = frame.sort(key, nulls_last=True)
    batches = [_suppress_batch(batch, spec, rules, progress) for batch in _batches(frame, spec)]
    if len(batches) == 1:
        return batches[0]
    # Field by field: counts add up, notes and keys follow each other, rows in key order.
    together: dict[str, Any] = {}
    for name in (f.name for f in fields(SuppressedTable)):
        parts = [getattr(b, name) for b in batches]
        if isinstance(parts[0], pl.DataFrame):
            together[name] = pl.concat(parts)
        elif isinstance(parts[0], list):
            together[name] = [item for part in parts for item in part]
        else:
            together[name] = sum(parts)
    together["frame"] = together["frame"].sort(key, nulls_last=True)
    return SuppressedTable(**together)


def _batches(frame: pl.DataFrame, spec: PublishSpec) -> list[pl.DataFrame]:
    """``frame``'s partitions (spec.partition_columns: no sibling group spans two), packed
    in key order into batches of about BATCH_ROWS rows, each sorted by the primary key.
    Each round of the complementary search costs time in proportion to the rows it holds,
    and a partition's long tail of rounds (a few cells, hundreds of rounds) should not make
    every round of its chunk's other partitions pay for them (decision 0045). A table
    without sibling sets has no rounds to share: one batch."""
    columns = list(spec.partition_columns)
    if not spec.sibling_sets or not columns or frame.height <= BATCH_ROWS:
        return [frame]
    sizes = frame.group_by(columns, maintain_order=True).len()
    # Greedy packing in key order: a batch closes once it reaches BATCH_ROWS.
    batch, filled, of_partition = 0, 0, []
    for rows in sizes["len"].to_list():
        if filled >= BATCH_ROWS:
            batch, filled = batch + 1, 0
        of_partition.append(batch)
        filled += rows
    numbered = frame.join(
        sizes.select(*columns, pl.Series("__batch", of_partition)),
        on=columns,
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    return numbered.partition_by("__batch", maintain_order=True, include_key=False)


def _suppress_batch(
    frame: pl.DataFrame,
    spec: PublishSpec,
    rules: SuppressionRules,
    progress: Callable[[str], None] | None,
) -> SuppressedTable:
    """suppress() on whole partitions, sorted by the primary key."""
    table = TableState(frame, spec, rules)
    table.code_rates()
    search = ComplementSearch(table)
    search.run(progress)
    table.hide_dependent_rates()
    # Rates as a reader sees them: on rows shown (a withheld row's rates go with it).
    shown = table.row == RowSuppression.SHOWN
    coded = sum(
        int((shown & np.isin(s, [RateStatus.TOP_CODED, RateStatus.BOTTOM_CODED])).sum())
        for s in table.status.values()
    )
    hidden = sum(int((shown & (s != RateStatus.SHOWN)).sum()) for s in table.status.values())
    return SuppressedTable(
        frame=table.apply(frame),
        rows=frame.height,
        small_n_rows=int((table.row == RowSuppression.SMALL_N).sum()),
        complementary_rows=int((table.row == RowSuppression.COMPLEMENTARY).sum()),
        coded_rates=coded,
        hidden_rates=hidden,
        propagation_only_cells=len(search.unchecked),
        notes=search.notes(),
        notes_at=table.keys[[row for _, row, _ in search.unprotected]],
        unchecked_at=table.keys[sorted(search.unchecked)],
        omitted_rows=int((table.row == RowSuppression.OMITTED).sum()),
        ranged_counts=int(sum((m & shown).sum() for m in table.ranged.values())),
    )
