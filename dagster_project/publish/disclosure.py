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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

# Below this width a range holds one integer at most: values are whole counts.
_ONE = 1.0 - 1e-9
_NO_LIMIT = 1e9
_RANDOM_PROBES = 4
_PROPAGATION_ROUNDS = 50
MAX_EXACT_CELLS = 400

# A sibling group: the rows of its parts, and the row holding their total if it is published
# in the same table (None: the total is taken as known).
Group = tuple[np.ndarray, int | None]
# An equation over unknown cells: sum(coef * x) = sum(coef * true value).
Equation = tuple[np.ndarray, np.ndarray]


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

    @classmethod
    def from_groups(cls, groups: Sequence[Group]) -> Equations:
        cells, coefs, ids, usable = [], [], [], []
        for gid, (parts, total) in enumerate(groups):
            cells.append(parts)
            coefs.append(np.ones(len(parts)))
            ids.append(np.full(len(parts), gid))
            if total is not None:
                cells.append(np.array([total]))
                coefs.append(np.array([-1.0]))
                ids.append(np.array([gid]))
            usable.append(total is not None or len(parts) >= 2)
        empty = np.array([], dtype=np.int64)
        return cls(
            cell=np.concatenate(cells).astype(np.int64) if cells else empty,
            coef=np.concatenate(coefs) if coefs else np.array([]),
            group=np.concatenate(ids).astype(np.int64) if ids else empty,
            groups=len(groups),
            usable=np.array(usable, dtype=bool),
        )


def disclosed_cells(
    equations: Equations,
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    unknown: np.ndarray,
    solved: dict[bytes, np.ndarray] | None = None,
    unchecked: set[int] | None = None,
    max_exact: int | None = None,
) -> np.ndarray:
    """Boolean mask over rows: unknown cells a reader can determine exactly.

    values: the true counts (the reader knows the sums they make); lo/hi: bounds the reader
    knows for unknown cells. Unknowns whose bounds already fix them (e.g. a numerator when
    the published denominator is 0) reveal nothing the published row does not, and count
    as known. ``solved``: linear-program answers by component, kept by the caller between
    rounds; ``unchecked`` receives the cells of components too large for them.
    """
    limit = MAX_EXACT_CELLS if max_exact is None else max_exact
    n = len(values)
    disclosed = np.zeros(n, dtype=bool)
    open_ = unknown & (hi - lo >= _ONE)
    keep = open_[equations.cell] & equations.usable[equations.group]
    cell, coef, group = equations.cell[keep], equations.coef[keep], equations.group[keep]
    if not len(cell):
        return disclosed
    low, high = _propagate(cell, coef, group, equations.groups, values, lo, hi)
    pinned = np.zeros(n, dtype=bool)
    pinned[cell] = high[cell] - low[cell] < _ONE
    disclosed |= pinned

    # Components: cells and groups linked by membership (a bipartite graph).
    graph = coo_matrix((np.ones(len(cell)), (cell, n + group)), shape=(n + equations.groups,) * 2)
    _, label = connected_components(graph, directed=False)
    entry_label = label[cell]
    order = np.argsort(entry_label, kind="stable")
    bounds = np.flatnonzero(np.diff(entry_label[order])) + 1
    for entries in np.split(order, bounds):
        comp_cells = np.unique(cell[entries])
        comp_groups = np.unique(group[entries])
        if len(comp_groups) < 2 or pinned[comp_cells].any():
            continue  # one equation is exact already; a pinned cell settles this round
        if len(comp_cells) > limit:
            if unchecked is not None:
                unchecked.update(comp_cells.tolist())
            continue
        component = [
            (cell[entries][group[entries] == g], coef[entries][group[entries] == g])
            for g in comp_groups
        ]
        key = _component_key(component, values, lo, hi)
        found = solved.get(key) if solved is not None else None
        if found is None:
            found = _linear_programs(component, values, lo, hi)
            if solved is not None:
                solved[key] = found
        disclosed[found] = True
    return disclosed


def _propagate(
    cell: np.ndarray,
    coef: np.ndarray,
    group: np.ndarray,
    groups: int,
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of every cell once each equation's bounds have fed the others'."""
    low, high = lo.astype(float).copy(), hi.astype(float).copy()
    target = np.bincount(group, coef * values[cell], minlength=groups)[group]
    positive = coef > 0
    for _ in range(_PROPAGATION_ROUNDS):
        # Each term coef * x lies in [t_low, t_high]; only t_high can be +inf, t_low -inf.
        t_low = np.where(positive, low[cell], -high[cell])
        t_high = np.where(positive, high[cell], -low[cell])
        term_low = np.maximum(t_low, target - _others(t_high, group, groups, np.inf))
        term_high = np.minimum(t_high, target - _others(t_low, group, groups, -np.inf))
        new_low = np.ceil(np.where(positive, term_low, -term_high) - 1e-9)
        new_high = np.floor(np.where(positive, term_high, -term_low) + 1e-9)
        before_low, before_high = low[cell].copy(), high[cell].copy()
        np.maximum.at(low, cell, new_low)
        np.minimum.at(high, cell, new_high)
        if (low[cell] == before_low).all() and (high[cell] == before_high).all():
            break
    return low, high


def _others(terms: np.ndarray, group: np.ndarray, groups: int, infinity: float) -> np.ndarray:
    """For each entry, the sum of the other terms of its group (infinite if any is)."""
    infinite = np.isinf(terms)
    finite = np.where(infinite, 0.0, terms)
    sums = np.bincount(group, finite, minlength=groups)[group] - finite
    n_inf = np.bincount(group, infinite.astype(float), minlength=groups)[group] - infinite
    return np.where(n_inf > 0, infinity, sums)


def _component_key(
    component: list[Equation], values: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> bytes:
    parts = []
    for cells, coefs in component:
        parts += [cells.tobytes(), coefs.tobytes(), values[cells].tobytes()]
        parts += [lo[cells].tobytes(), hi[cells].tobytes(), b"|"]
    return b"".join(parts)


def _linear_programs(
    component: list[Equation],
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    cells = np.unique(np.concatenate([c for c, _ in component]))
    position = {int(c): i for i, c in enumerate(cells)}
    rows, cols, data = [], [], []
    for row, (eq_cells, coefs) in enumerate(component):
        rows += [row] * len(eq_cells)
        cols += [position[int(c)] for c in eq_cells]
        data += list(coefs)
    a = csr_matrix((data, (rows, cols)), shape=(len(component), len(cells)))
    x0 = values[cells].astype(float)
    b = a @ x0
    # No upper bound is a very large one: the solver then always has an optimum, and a cell
    # that reaches it can obviously take many values.
    ceiling = float(np.abs(x0).sum() + _NO_LIMIT)
    bounds = np.column_stack([lo[cells], np.minimum(hi[cells], ceiling)])

    def solve(objective: np.ndarray) -> np.ndarray:
        res = linprog(objective, A_eq=a, b_eq=b, bounds=bounds, method="highs")
        if res.status != 0:  # the true table is feasible and every bound finite
            raise RuntimeError(f"disclosure check: linear program failed: {res.message}")
        return res.x

    undecided = np.ones(len(cells), dtype=bool)
    # Cheap probes first: a vertex that moves a cell by a whole unit shows it can take at
    # least two integer values. Pushing all undecided cells up, down, then in random
    # directions settles most of them; only the rest need a program of their own.
    rng = np.random.default_rng(0)
    directions = [np.ones(len(cells)), -np.ones(len(cells))]
    directions += [rng.choice([-1.0, 1.0], size=len(cells)) for _ in range(_RANDOM_PROBES)]
    for direction in directions:
        if not undecided.any():
            break
        undecided &= np.abs(solve(-direction * undecided) - x0) < _ONE
    for i in np.flatnonzero(undecided):
        if not undecided[i]:
            continue
        objective = np.zeros(len(cells))
        objective[i] = 1.0
        low, high = solve(objective), solve(-objective)
        undecided &= (np.abs(low - x0) < _ONE) & (np.abs(high - x0) < _ONE)
        if np.floor(high[i] + 1e-9) - np.ceil(low[i] - 1e-9) >= _ONE:
            undecided[i] = False
    return cells[undecided]
