"""Which suppressed cells a reader could pin to one value from totals and siblings.

The reader is assumed strong: they know every published cell; for a sibling group whose
total row is declared they know that row if it is published (and treat it as one more
unknown if not); for a group without a declared total they know the total whatever it is;
and they know the bounds each reason code reveals (a cell suppressed for small n holds 1 to
min n - 1 students, a complementary one at least min n, a rate shown as ">=95%" a numerator
of at least 95% of its published denominator). The hidden values of one column then
satisfy ``A x = b, lo <= x <= hi`` with ``A`` made of +1 (parts) and -1 (totals). A cell is
disclosed when that system admits fewer than two integer values for it.

One equation alone is solved in closed form. A component linked by several equations
(overlapping sibling sets) is solved with linear programs over its relaxation. That is exact
when at most two sibling sets overlap in a hierarchy (a table with row and column totals is
a network matrix, so every vertex is integral). With three or more overlapping sets it is
the relaxation: a reader solving the integer problem could, in rare cases, narrow further.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linprog

# Below this width a range holds one integer at most: values are whole counts.
_ONE = 1.0 - 1e-9


# A sibling group: the rows of its parts, and the row holding their total if it is published
# in the same table (None: the total is taken as known).
Group = tuple[np.ndarray, int | None]
# An equation over unknown cells: sum(coef * x) = sum(coef * true value).
Equation = tuple[np.ndarray, np.ndarray]


def disclosed_cells(
    groups: Sequence[Group],
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    unknown: np.ndarray,
) -> np.ndarray:
    """Boolean mask over rows: unknown cells the attacker can determine exactly.

    values: the true counts (the attacker knows the sums they make); lo/hi: bounds the
    attacker knows for unknown cells. Unknowns whose bounds already fix them (e.g. a
    numerator when the published denominator is 0) reveal nothing the published row does
    not, and count as known.
    """
    open_ = unknown & (hi - lo >= _ONE)
    equations = _equations(groups, open_)
    disclosed = np.zeros(len(values), dtype=bool)
    for component in _components(equations):
        if len(component) == 1:
            disclosed[_single_equation(component[0], values, lo, hi)] = True
        else:
            disclosed[_linear_programs(component, values, lo, hi)] = True
    return disclosed


def _equations(groups: Sequence[Group], open_: np.ndarray) -> list[Equation]:
    """One equation per group with open cells; identical equations from two sets kept once."""
    seen: set[bytes] = set()
    equations = []
    for parts, total in groups:
        if total is None and len(parts) < 2:
            continue  # a lone part with no published total is its own total
        cells = parts[open_[parts]]
        coefs = np.ones(len(cells))
        if total is not None and open_[total]:
            cells = np.append(cells, total)
            coefs = np.append(coefs, -1.0)
        if not len(cells):
            continue
        order = np.argsort(cells)
        cells, coefs = cells[order], coefs[order]
        key = cells.tobytes() + coefs.tobytes()
        if key not in seen:
            seen.add(key)
            equations.append((cells, coefs))
    return equations


def _components(equations: list[Equation]) -> list[list[Equation]]:
    """Equations grouped so that no two groups share a cell (union-find over cells)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for cells, _ in equations:
        first = find(int(cells[0]))
        for c in cells[1:]:
            parent[find(int(c))] = first
    by_root: dict[int, list[Equation]] = {}
    for equation in equations:
        by_root.setdefault(find(int(equation[0][0])), []).append(equation)
    return list(by_root.values())


def _sum_of_others(terms: np.ndarray) -> np.ndarray:
    """For each k, the sum of the other terms (infinite if any other term is)."""
    infinite = np.isinf(terms)
    finite = np.where(infinite, 0.0, terms)
    others = finite.sum() - finite
    sign = np.sign(terms[infinite][0]) if infinite.any() else 0.0
    return np.where(infinite.sum() - infinite > 0, sign * np.inf, others)


def _single_equation(
    equation: Equation, values: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Cells of one equation whose range, given the others' bounds, holds one integer."""
    cells, coefs = equation
    target = float(coefs @ values[cells])
    # Each term coef * x lies in [t_low, t_high]; the bounds are finite below, maybe not above.
    t_low = np.where(coefs > 0, lo[cells], -hi[cells])
    t_high = np.where(coefs > 0, hi[cells], -lo[cells])
    term_low = np.maximum(t_low, target - _sum_of_others(t_high))
    term_high = np.minimum(t_high, target - _sum_of_others(t_low))
    least = np.where(coefs > 0, term_low, -term_high)
    most = np.where(coefs > 0, term_high, -term_low)
    return cells[(np.floor(most + 1e-9) - np.ceil(least - 1e-9)) < _ONE]


def _linear_programs(
    component: list[Equation],
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    cells = np.unique(np.concatenate([c for c, _ in component]))
    position = {int(c): i for i, c in enumerate(cells)}
    a = np.zeros((len(component), len(cells)))
    for row, (eq_cells, coefs) in enumerate(component):
        a[row, [position[int(c)] for c in eq_cells]] = coefs
    x0 = values[cells].astype(float)
    b = a @ x0
    bounds = [(float(lo[c]), None if np.isinf(hi[c]) else float(hi[c])) for c in cells]

    def solve(objective: np.ndarray) -> np.ndarray | None:
        res = linprog(objective, A_eq=a, b_eq=b, bounds=bounds, method="highs")
        return res.x if res.status == 0 else None

    undecided = np.ones(len(cells), dtype=bool)
    # Two cheap probes (push all undecided cells up, then down) settle most cells: any cell
    # that moves by a whole unit at a vertex can take at least two integer values.
    for sign in (1.0, -1.0):
        x = solve(-sign * undecided.astype(float))
        if x is not None:
            undecided &= np.abs(x - x0) < _ONE
    for i in np.flatnonzero(undecided):
        if not undecided[i]:
            continue
        objective = np.zeros(len(cells))
        objective[i] = 1.0
        low, high = solve(objective), solve(-objective)
        if low is None or high is None:
            continue
        undecided &= (np.abs(low - x0) < _ONE) & (np.abs(high - x0) < _ONE)
        if np.floor(high[i] + 1e-9) - np.ceil(low[i] - 1e-9) >= _ONE:
            undecided[i] = False
    return cells[undecided]
