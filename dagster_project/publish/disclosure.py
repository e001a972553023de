"""Which suppressed cells a reader could pin to one value from totals and siblings.

The reader is assumed strong: they know every published cell; for a sibling group whose
total row is declared they know that row if it is published (and treat it as one more
unknown if not); for a group without a declared total they know the total whatever it is;
and they know the bounds each reason code reveals (a cell suppressed for small n holds 1 to
min n - 1 students, a complementary one at least min n, a rate shown as ">=95%" a numerator
of at least 95% of its published denominator). The hidden values of one column then
satisfy ``A x = b, lo <= x <= hi`` with ``A`` made of +1 (parts) and -1 (totals). A cell is
disclosed when that system admits fewer than two integer values for it.

Two checks, both over all groups at once:

1. Propagation: each equation's bounds tighten its cells' bounds (whole numbers, rounded
   inwards), repeated until nothing changes. One equation alone is solved exactly this
   way; across equations every bound found is one a reader could find too, so a cell
   pinned here is disclosed.
2. Linear programs, for components (cells linked through shared equations) of several
   equations where propagation pins nothing: the minimum and maximum of each cell over
   the relaxation. Exact when at most two sibling sets overlap in a hierarchy (a table with
   row and column totals is a network matrix, so every vertex is integral). Components
   with more than ``MAX_EXACT_CELLS`` hidden cells get check 1 only: programs per cell
   grow too slow there, and the caller reports how many cells that concerns.

Check 1 alone (``exact=False``) finds a subset of the disclosed cells at a fraction of the
cost: the complementary search (complements.py) runs it while it keeps finding cells, and
both checks once it finds none, so what is published has passed check 2.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy.sparse import coo_matrix, csc_matrix
from scipy.sparse.csgraph import connected_components

# Below this width a range holds one integer at most: values are whole counts.
_ONE = 1.0 - 1e-9
_NO_LIMIT = 1e9
_MAX_PROBES = 200
_PROPAGATION_ROUNDS = 50
# Linear programs over every component a statewide partition makes (one partition of
# perkins_indicators: ~8,000 rows, 15 s): propagation alone does not protect cells next to
# ranges (two-sided bounds), see decision 0012.
MAX_EXACT_CELLS = 1_000_000
# Cells per program (components side by side): a state-scale perkins_indicators chunk takes
# 10% less CPU at 1,500 than at 5,000, and the same from 500 to 1,500 (decision 0026).
LP_BATCH_CELLS = 1500
# HiGHS's simplex_strategy values: the primal simplex for the re-solves, the dual simplex
# when the primal one stops short.
_PRIMAL_SIMPLEX = 4
_DUAL_SIMPLEX = 1

# A sibling group: the rows of its parts, and the row holding their total if it is published
# in the same table (None: the total is taken as known).
Group = tuple[np.ndarray, int | None]
# An equation over unknown cells: sum(coef * x) = sum(coef * true value).
Equation = tuple[np.ndarray, np.ndarray]


def spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the slices ``starts[i]:ends[i]`` laid end to end, and for each the
    ``i`` of its slice: many small slices of one array read at once."""
    if len(starts) == 1:  # most calls (a ring search starts at one row)
        length = max(int(ends[0] - starts[0]), 0)
        return np.arange(starts[0], starts[0] + length), np.zeros(length, dtype=np.int64)
    lengths = ends - starts
    which = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum())), which


@dataclass(frozen=True)
class Equations:
    """Every group as flat arrays (one entry per cell of a group), built once per table."""

    cell: np.ndarray
    coef: np.ndarray  # +1 for a part, -1 for the total
    group: np.ndarray
    groups: int
    # A group without a declared total needs two parts to say anything (one part is its
    # own total); with a total row, one part and its total already form an equation.
    usable: np.ndarray
    total: np.ndarray  # each group's total row, -1 where the total is taken as known
    # Look-ups built on first use (entries by row, by group): the checks of a round read
    # the entries of the rows that changed, not all of them.
    _index: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def entries_of_rows(self, rows: np.ndarray, n: int) -> np.ndarray:
        """The entries whose cell is one of ``rows`` (distinct rows below ``n``), in
        ascending order: what a mask over the rows would pick from ``cell``."""
        if len(rows) * 16 > n:
            picked = np.zeros(n, dtype=bool)
            picked[rows] = True
            return np.flatnonzero(picked[self.cell])
        if len(self._index.get("row_start", ())) != n + 1:
            self._index["by_row"] = np.argsort(self.cell, kind="stable")
            counts = np.bincount(self.cell, minlength=n)
            self._index["row_start"] = np.concatenate(([0], np.cumsum(counts)))
        start = self._index["row_start"]
        entries, _ = spans(start[rows], start[rows + 1])
        return np.sort(self._index["by_row"][entries])

    def groups_holding(self, rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """For each of ``groups`` (distinct), whether one of its cells is marked in the
        mask ``rows``."""
        if "group_start" not in self._index:
            sorted_ = bool((np.diff(self.group) >= 0).all())
            sizes = np.bincount(self.group, minlength=self.groups)
            start = np.concatenate(([0], np.cumsum(sizes))) if sorted_ else np.zeros(0)
            self._index["group_start"] = start
        start = self._index["group_start"]
        if not len(start):  # entries not in group order: count over all of them
            return (np.bincount(self.group, rows[self.cell], self.groups) > 0)[groups]
        entries, which = spans(start[groups], start[groups + 1])
        return np.bincount(which, rows[self.cell[entries]], len(groups)) > 0

    @classmethod
    def from_groups(cls, groups: Sequence[Group]) -> Equations:
        """Entries in group order, each group's parts then its total (hundreds of thousands
        of groups per chunk: built with whole-array operations, not per group)."""
        n = len(groups)
        sizes = np.fromiter((len(parts) for parts, _ in groups), dtype=np.int64, count=n)
        totals = np.fromiter((-1 if t is None else t for _, t in groups), dtype=np.int64, count=n)
        has_total = totals >= 0
        parts = [parts for parts, _ in groups]
        cell = np.concatenate([*parts, totals[has_total]]).astype(np.int64) if n else totals
        coef = np.concatenate([np.ones(int(sizes.sum())), -np.ones(int(has_total.sum()))])
        group = np.concatenate([np.repeat(np.arange(n), sizes), np.flatnonzero(has_total)])
        order = np.argsort(group, kind="stable")
        return cls(
            cell=cell[order],
            coef=coef[order],
            group=group[order],
            groups=n,
            usable=has_total | (sizes >= 2),
            total=totals,
        )


class LastBasis:
    """Each cell's and each equation's status (HiGHS's ``HighsBasisStatus``; -1 where no
    program held it yet) in the last optimal basis of a search's linear programs.

    Decision 0051: an exact round builds its programs anew, and their first solve from
    scratch was half of the programs' time. It now starts from the statuses the cells and
    equations had at the end of the last exact round: the system differs by the
    complements added since, a few pivots away. Which vertex a solve starts from does not
    change what the check finds (a cell is disclosed when its own minimum and maximum
    stay within a unit), only which cells settle early and which equations prove a cell
    pinned (binding), so the complements chosen may differ.
    """

    def __init__(self, cells: int, groups: int) -> None:
        self.columns = np.full(cells, -1, dtype=np.int8)
        self.rows = np.full(groups, -1, dtype=np.int8)


@dataclass
class RoundMemo:
    """What the checks found in the previous round for one count, kept by the caller.

    Rows linked through any group, hidden or not, form a partition that no equation
    crosses (in perkins_indicators: one school year, indicator and program scope). The
    answer for a partition depends only on its own rows, so a partition in which no row's
    unknown flag or bounds changed since the last round keeps its answer, and a round costs
    what the partitions the last round's complements touched cost, not the whole table.

    Within a partition that changed, a component (unknown cells linked through their
    groups) keeps its answer too when none of its cells and none of the rows of its groups
    changed, its cells' sensitivity included: it is then the same system of equations and
    bounds as when its answer was found (``current``: rows whose answer was found for the
    state they are in).

    The answers are those of one kind of check (propagation alone, or both checks): a
    caller that runs both kinds keeps a memo for each, so that an answer of propagation
    alone is never taken for an exact one.
    """

    partition: np.ndarray | None = None
    unknown: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    sensitive: np.ndarray | None = None
    disclosed: np.ndarray | None = None
    unchecked: np.ndarray | None = None
    current: np.ndarray | None = None
    # Exact rounds: where the next round's programs start (decision 0051).
    basis: LastBasis | None = None

    def dirty_rows(
        self, equations: Equations, unknown: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        n = len(unknown)
        if self.partition is None:
            graph = coo_matrix(
                (np.ones(len(equations.cell)), (equations.cell, n + equations.group)),
                shape=(n + equations.groups,) * 2,
            )
            self.partition = connected_components(graph, directed=False)[1][:n]
        if self.unknown is None:
            return np.ones(n, dtype=bool)
        changed = (unknown != self.unknown) | (lo != self.lo) | (hi != self.hi)
        return self._of_partitions(changed)

    def _of_partitions(self, rows: np.ndarray) -> np.ndarray:
        """The rows of every partition holding one of ``rows``."""
        assert self.partition is not None
        hit = np.bincount(self.partition, rows, minlength=self.partition.max() + 1) > 0
        return hit[self.partition]

    def reusable(
        self, unknown: np.ndarray, lo: np.ndarray, hi: np.ndarray, sensitive: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows whose answer still holds if their groups did not change, rows that
        changed), or None in the first round."""
        if self.current is None:
            return None
        changed = (unknown != self.unknown) | (lo != self.lo) | (hi != self.hi)
        changed |= sensitive != self.sensitive
        return self.current & ~changed, changed

    def remember(
        self,
        unknown: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        sensitive: np.ndarray,
        dirty: np.ndarray,
        disclosed: np.ndarray,
        unchecked: np.ndarray,
    ) -> None:
        if self.current is None:
            current = dirty.copy()
        else:
            # A partition kept whole keeps its old answer even where a cell's sensitivity
            # changed (its bounds did not): that answer no longer serves a component.
            changed = self.sensitive != sensitive
            current = dirty | self.current
            if changed.any():
                current &= dirty | ~self._of_partitions(changed)
        self.unknown, self.lo, self.hi = unknown.copy(), lo.copy(), hi.copy()
        self.sensitive, self.current = sensitive.copy(), current
        self.disclosed, self.unchecked = disclosed, unchecked


def disclosed_cells(
    equations: Equations,
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    unknown: np.ndarray,
    unchecked: set[int] | None = None,
    max_exact: int | None = None,
    memo: RoundMemo | None = None,
    sensitive: np.ndarray | None = None,
    exact: bool = True,
    binding: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Boolean mask over rows: ``sensitive`` unknown cells (default: every unknown) a
    reader can determine exactly (with ``exact=False``, those check 1 alone pins: the
    programs may find more); the other unknowns (values published as ranges) enter the
    equations with their bounds, and working them out discloses nothing.

    values: the true counts (the reader knows the sums they make); lo/hi: bounds the reader
    knows for unknown cells. Unknowns whose bounds already fix them (e.g. a numerator when
    the published denominator is 0) reveal nothing the published row does not, and count
    as known. ``unchecked`` receives the cells of components too large for check 2;
    ``memo`` carries the answers of partitions and components that did not change from one
    round to the next (rounds of the same ``exact``). ``binding`` receives, for each cell
    the linear programs find pinned, the groups whose equations prove it (the rows of its
    programs' optimal duals): where propagation does not pin a cell, those are the
    equations a complement must open.
    """
    limit = MAX_EXACT_CELLS if max_exact is None else max_exact
    memo = memo if memo is not None else RoundMemo()
    dirty = memo.dirty_rows(equations, unknown, lo, hi)
    if exact and memo.basis is None:
        memo.basis = LastBasis(len(values), equations.groups)
    sensitive = unknown if sensitive is None else unknown & sensitive
    disclosed, too_large, reused = _disclosed_in(
        equations,
        values,
        lo,
        hi,
        unknown & dirty,
        limit,
        sensitive,
        memo.reusable(unknown, lo, hi, sensitive),
        exact,
        binding,
        memo.basis,
    )
    if memo.disclosed is not None:
        kept = ~dirty | reused
        disclosed |= memo.disclosed & kept
        too_large |= memo.unchecked & kept
    memo.remember(unknown, lo, hi, sensitive, dirty, disclosed, too_large)
    if unchecked is not None:
        unchecked.update(np.flatnonzero(too_large).tolist())
    return disclosed


def _disclosed_in(
    equations: Equations,
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    unknown: np.ndarray,
    limit: int,
    sensitive: np.ndarray,
    reusable: tuple[np.ndarray, np.ndarray] | None = None,
    exact: bool = True,
    binding: dict[int, np.ndarray] | None = None,
    basis: LastBasis | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checks 1 and 2 (1 alone unless ``exact``) over the given unknowns: (sensitive cells
    disclosed, cells in a component too large for 2, cells of components left to their
    earlier answer).
    ``reusable``: RoundMemo.reusable's rows; a component all of whose cells are reusable
    and whose groups hold no changed row is not checked again.

    Works on the entries of the open cells only, with the cells and groups they hold
    numbered compactly in row and group order (a round changes a few partitions of a
    table, and whole-table arrays cost more than the checks): components keep the order
    of their lowest row, which is all their numbering decides (the batches)."""
    n = len(values)
    disclosed = np.zeros(n, dtype=bool)
    unchecked = np.zeros(n, dtype=bool)
    reused = np.zeros(n, dtype=bool)
    cell, coef, group = _open_entries(equations, lo, hi, unknown)
    if not len(cell):
        return disclosed, unchecked, reused
    # Components: cells and groups linked by membership (a bipartite graph). Propagation
    # and programs stay within one, so a component is checked alone or not at all.
    cells, cell_at = _numbered(cell, n)
    groups, group_at = _numbered(group, equations.groups)
    vertices = len(cells) + len(groups)
    graph = coo_matrix(
        (np.ones(len(cell)), (cell_at, len(cells) + group_at)), shape=(vertices, vertices)
    )
    components, vertex_label = connected_components(graph, directed=False)
    label = vertex_label[cell_at]  # each entry's component
    if reusable is not None:
        answered, changed = reusable
        stale = equations.groups_holding(changed, groups)
        again = ~answered[cell] | stale[group_at]
        again = (np.bincount(label, again, minlength=components) > 0)[label]
        reused[cell[~again]] = True
        cell, coef, group, label = cell[again], coef[again], group[again], label[again]
        if not len(cell):
            return disclosed, unchecked, reused
        cells, cell_at = _numbered(cell, n)
        groups, group_at = _numbered(group, equations.groups)
    low, high = _propagate(
        cell_at, coef, group_at, len(cells), len(groups), values[cell], lo[cells], hi[cells]
    )
    pinned_cell = (high - low < _ONE) & sensitive[cells]
    disclosed[cells[pinned_cell]] = True
    if not exact:
        return disclosed & sensitive, unchecked, reused
    pinned = pinned_cell[cell_at]

    cell_label = np.zeros(len(cells), dtype=label.dtype)
    cell_label[cell_at] = label
    group_label = np.zeros(len(groups), dtype=label.dtype)
    group_label[group_at] = label
    size = np.bincount(cell_label, minlength=components)
    equations_in = np.bincount(group_label, minlength=components)
    settled = np.bincount(label, pinned, minlength=components) > 0
    # One equation is exact already; a pinned cell settles this round.
    candidate = (equations_in >= 2) & ~settled
    too_large = candidate & (size > limit)
    unchecked[cell[too_large[label]]] = True
    checked = candidate & ~too_large
    # Components side by side in programs of about LP_BATCH_CELLS cells (see
    # _linear_programs): one program per component spends its time in set-up, one program
    # for all of them in a solver slower than linear in size.
    batch = np.cumsum(np.where(checked, size, 0)) // LP_BATCH_CELLS
    entry_batch = np.where(checked[label], batch[label], -1)
    for b in np.unique(entry_batch[entry_batch >= 0]):
        mine = entry_batch == b
        found = _linear_programs(
            cell[mine],
            coef[mine],
            group[mine],
            label[mine],
            values,
            lo,
            hi,
            sensitive,
            binding,
            basis,
        )
        disclosed[found] = True
    return disclosed & sensitive, unchecked, reused


def _open_entries(
    equations: Equations, lo: np.ndarray, hi: np.ndarray, unknown: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell, coef, group) of the entries the checks work on: those of unknown cells its
    bounds leave open, in usable groups."""
    open_rows = np.flatnonzero(unknown & (hi - lo >= _ONE))
    entries = equations.entries_of_rows(open_rows, len(unknown))
    entries = entries[equations.usable[equations.group[entries]]]
    return equations.cell[entries], equations.coef[entries], equations.group[entries]


def _numbered(ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(ids, return_inverse=True) for ids below ``size``, without sorting them."""
    mark = np.zeros(size, dtype=bool)
    mark[ids] = True
    distinct = np.flatnonzero(mark)
    number = np.zeros(size, dtype=np.intp)
    number[distinct] = np.arange(len(distinct))
    return distinct, number[ids]


class PinningPaths:
    """Which equations pin a cell under propagation (check 1), nearest first.

    A cell is pinned when its low and high bounds meet. Each bound was last tightened by one
    equation, from the other cells' bounds in it, each tightened in turn by another equation
    or given by what is published (a range, a reason code). Those equations are the ones a
    complement must open: a shown cell of one of them published as a range loosens the bound
    it gave. A cell linked to the pinned one through equations off these paths loosens
    nothing, however near (decision 0047). Built once per round and count, for the state
    the round checked.
    """

    def __init__(
        self,
        equations: Equations,
        values: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        unknown: np.ndarray,
    ) -> None:
        n = len(values)
        cell, self._coef, group = _open_entries(equations, lo, hi, unknown)
        cells, self._cell_at = _numbered(cell, n)
        self._groups, self._group_at = _numbered(group, equations.groups)
        # Entries are in group order: each compact group's entries as one slice.
        sizes = np.bincount(self._group_at, minlength=len(self._groups))
        self._group_start = np.concatenate(([0], np.cumsum(sizes)))
        sources = (np.full(len(cells), -1), np.full(len(cells), -1))
        low, high = _propagate(
            self._cell_at,
            self._coef,
            self._group_at,
            len(cells),
            len(self._groups),
            values[cell],
            lo[cells],
            hi[cells],
            sources,
        )
        self._sources = np.stack(sources)  # [side, cell]: 0 the low bound, 1 the high
        self._number = np.full(n, -1)
        self._number[cells] = np.arange(len(cells))
        self._pinned = high - low < _ONE
        self._rings: dict[int, list[np.ndarray]] = {}

    def groups(self, row: int) -> list[np.ndarray]:
        """The equations on the paths that pin ``row``, ring by ring from it (empty when
        propagation does not pin it: only the linear programs do)."""
        if row not in self._rings:
            self._rings[row] = self._walk(row)
        return self._rings[row]

    def _walk(self, row: int) -> list[np.ndarray]:
        start = self._number[row]
        if start < 0 or not self._pinned[start]:
            return []
        seen_state = np.zeros((2, len(self._pinned)), dtype=bool)
        seen_group = np.zeros(len(self._groups), dtype=bool)
        cells, sides = np.array([start, start]), np.array([0, 1])
        seen_state[sides, cells] = True
        rings: list[np.ndarray] = []
        while len(cells):
            entry = self._sources[sides, cells]
            cells, sides, entry = cells[entry >= 0], sides[entry >= 0], entry[entry >= 0]
            group = self._group_at[entry]
            new = np.unique(group[~seen_group[group]])
            seen_group[new] = True
            if len(new):
                rings.append(self._groups[new])
            cells, sides = self._bounds_used(entry, sides)
            fresh = ~seen_state[sides, cells]
            cells, sides = cells[fresh], sides[fresh]
            seen_state[sides, cells] = True
        return rings

    def _bounds_used(self, entry: np.ndarray, sides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The other cells' bounds (cell, side: 0 low, 1 high) from which each ``entry``
        gave its cell's bound ``sides``. A part's low bound is the equation's sum less the
        others' highest terms; a term's highest is a part's high bound or a total's low."""
        group = self._group_at[entry]
        others, which = spans(self._group_start[group], self._group_start[group + 1])
        keep = others != entry[which]
        others, which = others[keep], which[keep]
        wants_high_term = (self._coef[entry] > 0) == (sides == 0)
        side = np.where(wants_high_term[which] == (self._coef[others] > 0), 1, 0)
        return self._cell_at[others], side


def _propagate(
    cell: np.ndarray,
    coef: np.ndarray,
    group: np.ndarray,
    cells: int,
    groups: int,
    target_values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sources: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of every cell once each equation's bounds have fed the others'. Cells and
    groups are numbered 0..cells-1 and 0..groups-1; ``target_values`` is each entry's
    cell's true value, ``lo``/``hi`` each cell's bounds. ``sources`` (two arrays over the
    cells, -1 for a bound no equation tightened) receives the entry that last tightened
    each cell's low and high bound."""
    low, high = lo.astype(float).copy(), hi.astype(float).copy()
    target = np.bincount(group, coef * target_values, minlength=groups)[group]
    positive = coef > 0
    entry = np.arange(len(cell))
    for _ in range(_PROPAGATION_ROUNDS):
        # Each term coef * x lies in [t_low, t_high]; only t_high can be +inf, t_low -inf.
        cell_low, cell_high = low[cell], high[cell]
        t_low = np.where(positive, cell_low, -cell_high)
        t_high = np.where(positive, cell_high, -cell_low)
        term_low = np.maximum(t_low, target - _others(t_high, group, groups, np.inf))
        term_high = np.minimum(t_high, target - _others(t_low, group, groups, -np.inf))
        new_low = np.ceil(np.where(positive, term_low, -term_high) - 1e-9)
        new_high = np.floor(np.where(positive, term_high, -term_low) + 1e-9)
        before_low, before_high = low.copy(), high.copy()
        np.maximum.at(low, cell, new_low)
        np.minimum.at(high, cell, new_high)
        if sources is not None:
            # The entry that gave each bound it tightened (any of several that tie).
            raised = (new_low > before_low[cell]) & (new_low == low[cell])
            lowered = (new_high < before_high[cell]) & (new_high == high[cell])
            sources[0][cell[raised]] = entry[raised]
            sources[1][cell[lowered]] = entry[lowered]
        if (low == before_low).all() and (high == before_high).all():
            break
    return low, high


def _others(terms: np.ndarray, group: np.ndarray, groups: int, infinity: float) -> np.ndarray:
    """For each entry, the sum of the other terms of its group (infinite if any is)."""
    infinite = np.isinf(terms)
    finite = np.where(infinite, 0.0, terms)
    sums = np.bincount(group, finite, minlength=groups)[group] - finite
    n_inf = np.bincount(group[infinite], minlength=groups)[group] - infinite
    return np.where(n_inf > 0, infinity, sums)


def _linear_programs(
    cell: np.ndarray,
    coef: np.ndarray,
    group: np.ndarray,
    label: np.ndarray,  # each entry's component
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sensitive: np.ndarray,
    binding: dict[int, np.ndarray] | None = None,
    basis: LastBasis | None = None,
) -> np.ndarray:
    """The sensitive cells no vertex of their component's relaxation moves by a whole unit
    (the others are in the programs with their bounds, and not asked about). ``binding``
    receives each such cell's groups of nonzero dual in its minimum's and maximum's
    programs (see disclosed_cells).

    Components share no cell and no equation, so one program over all of them at once is
    the components' programs side by side: its optimum for an objective is each component's
    optimum for its part of it. The program is built once and solved again for each
    objective from the previous optimal basis (only the costs change, so that basis stays
    feasible): a handful of pivots per objective instead of a program set up from scratch.
    """
    cells, first, column = np.unique(cell, return_index=True, return_inverse=True)
    groups, row = np.unique(group, return_inverse=True)
    a = csc_matrix((coef, (row, column)), shape=(len(groups), len(cells)))
    x0 = values[cells].astype(float)
    # No upper bound is a very large one: the solver then always has an optimum, and a cell
    # that reaches it can obviously take many values.
    ceiling = float(np.abs(x0).max(initial=0.0) + _NO_LIMIT)
    program = _Program(a, a @ x0, lo[cells].astype(float), np.minimum(hi[cells], ceiling))
    if basis is not None:
        program.start_from(basis.columns[cells], basis.rows[groups])
    component = label[first]
    _, group_entry = np.unique(group, return_index=True)
    row_component = label[group_entry]

    def moved(objective: np.ndarray) -> np.ndarray:
        """Cells a whole unit away from the truth at the optimum (components the objective
        touches only: the others stay wherever an earlier objective left them)."""
        active = np.isin(component, component[objective != 0])
        return active & (np.abs(program.minimize(objective) - x0) >= _ONE)

    undecided = sensitive[cells].copy()
    # Cheap probes first: a vertex that moves a cell by a whole unit shows it can take at
    # least two integer values. An objective of random real weights over the undecided cells
    # has one optimal vertex, mostly far from the truth (weights of +-1 tie: along a chain
    # of parts and totals a step changes their sum by 0, and the solver stays put). Probe
    # while probes settle cells; only the rest need a program of their own.
    rng = np.random.default_rng(0)
    for _ in range(_MAX_PROBES):
        if not undecided.any():
            break
        settled = moved(rng.standard_normal(len(cells)) * undecided)
        if not (settled & undecided).any():
            break
        undecided &= ~settled
    # Then the minimum and maximum of one undecided cell per component, all components in
    # the same pair of programs, until every undecided cell has had its own.
    asked = np.zeros(len(cells), dtype=bool)
    while (undecided & ~asked).any():
        open_ = np.flatnonzero(undecided & ~asked)
        _, first = np.unique(component[open_], return_index=True)
        objective = np.zeros(len(cells))
        objective[open_[first]] = 1.0
        asked[open_[first]] = True
        # A cell that moves in either program takes two values: the asked ones included.
        down = moved(objective)
        proof = program.rows_with_duals()
        up = moved(-objective)
        proof |= program.rows_with_duals()
        undecided &= ~(down | up)
        if binding is not None:
            for c in open_[first][undecided[open_[first]]].tolist():
                binding[int(cells[c])] = groups[proof & (row_component == component[c])]
    if basis is not None:
        basis.columns[cells], basis.rows[groups] = program.basis()
    return cells[undecided]


def _quiet_highs() -> highspy.Highs:
    """A HiGHS model that prints nothing. Its C++ constructor writes a banner to the process's
    stdout (file descriptor 1) the first time, before any option can silence it: into a
    Dagster run's log, or a CLI's output that a caller reads."""
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            highs = highspy.Highs()
            libc.fflush(None)  # what C's stdio buffered goes to /dev/null, not later to 1
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    highs.setOptionValue("output_flag", False)
    return highs


class _Program:
    """``A x = b, lo <= x <= hi`` in one HiGHS model whose objective changes between solves."""

    def __init__(self, a: csc_matrix, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
        lp.col_cost_ = np.zeros(a.shape[1])
        lp.col_lower_, lp.col_upper_ = lo, hi
        lp.row_lower_ = lp.row_upper_ = b
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
        self._highs = _quiet_highs()
        # Presolve would rebuild the program for every objective and drop the basis.
        self._highs.setOptionValue("presolve", "off")
        # Only the costs change between solves, so the last optimal basis stays feasible
        # and the primal simplex goes on from it: a third less solver time on a state-scale
        # program_continuum chunk than the dual simplex, the same on perkins_indicators.
        self._highs.setOptionValue("simplex_strategy", _PRIMAL_SIMPLEX)
        self._highs.passModel(lp)
        self._columns = np.arange(a.shape[1], dtype=np.int32)

    def minimize(self, objective: np.ndarray) -> np.ndarray:
        """A vertex minimizing ``objective``: which one, among several optimal, does not
        matter to the check (a cell's minimum and maximum decide it)."""
        self._highs.changeColsCost(len(self._columns), self._columns, objective)
        self._highs.run()
        if self._highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            # The primal simplex has stopped short on these programs (status "unknown",
            # decision 0026): the dual simplex, from scratch, solves it.
            self._highs.setOptionValue("simplex_strategy", _DUAL_SIMPLEX)
            self._highs.clearSolver()
            self._highs.run()
            self._highs.setOptionValue("simplex_strategy", _PRIMAL_SIMPLEX)
        status = self._highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:  # the true table is feasible, bounded
            raise RuntimeError(f"disclosure check: linear program failed: {status}")
        return np.asarray(self._highs.getSolution().col_value)

    def start_from(self, columns: np.ndarray, rows: np.ndarray) -> None:
        """Start the first solve from a basis of earlier programs (statuses, -1 unknown)."""
        if (columns < 0).all():
            return
        basic = int(highspy.HighsBasisStatus.kBasic)
        lower = int(highspy.HighsBasisStatus.kLower)
        cols = np.where(columns < 0, lower, columns).astype(np.int64)
        rws = np.where(rows < 0, basic, rows).astype(np.int64)
        m = len(rws)
        excess = int((cols == basic).sum() + (rws == basic).sum()) - m
        if excess > 0:
            at = np.flatnonzero(rws == basic)[:excess]
            rws[at] = lower
            excess -= len(at)
            if excess > 0:
                cols[np.flatnonzero(cols == basic)[:excess]] = lower
        elif excess < 0:
            rws[np.flatnonzero(rws != basic)[:-excess]] = basic
        b = highspy.HighsBasis()
        b.col_status = [highspy.HighsBasisStatus(int(x)) for x in cols]
        b.row_status = [highspy.HighsBasisStatus(int(x)) for x in rws]
        b.valid = True
        self._highs.setBasis(b)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        b = self._highs.getBasis()
        return (
            np.array([int(x) for x in b.col_status], dtype=np.int8),
            np.array([int(x) for x in b.row_status], dtype=np.int8),
        )

    def rows_with_duals(self) -> np.ndarray:
        """The equations of nonzero dual value at the last optimum: those that prove it."""
        return np.abs(np.asarray(self._highs.getSolution().row_dual)) > 1e-9
