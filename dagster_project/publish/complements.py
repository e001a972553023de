"""Rule 4 of suppression.py: the complementary search.

Round after round, the disclosure check (disclosure.py) finds the withheld cells a reader
could still work out from everything published, and this search gives each a complement:
a shown cell published as a range, on the equations that pin the cell where it finds one
there (decision 0047), else the nearest linked one, or, where ranges around it still pin it,
the nearest range made ten times wider (decision 0037), and only where that is not allowed
any more, the nearest ranged cell withheld outright (decision 0012), in a round that found
nothing else to add. Where a cell's own group pins it whatever is ranged, its coded rate is
withheld instead, and a state total keeps where its small parts can be left out (decision
0043). The masks it changes belong to the table (suppression.TableState); what it remembers
between rounds is its own.

Rounds run propagation alone (check 1) while they find cells, and both checks, the linear
programs too, only once propagation finds none; a search ends after an exact round that
adds nothing (decision 0041): most rounds of a large table add a few complements that
propagation finds, and the programs were half of its time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np

from dagster_project.publish.disclosure import PinningPaths, RoundMemo, disclosed_cells, spans

if TYPE_CHECKING:
    from dagster_project.publish.suppression import TableState

# Tables from this size report each round of complementary suppression: at state scale one
# takes minutes, and a silent publish looks hung.
PROGRESS_ROWS = 100_000

# Why a withheld cell stays derivable (publish notes).
_ALONE = "follows from its groups' totals and bounds while every cell linked to it is withheld"
_REPEATED = "follows from its coded range and a later step's reason code"


class ComplementSearch:
    """Complements for one table's withheld cells until none can be worked out."""

    def __init__(self, table: TableState) -> None:
        self.table = table
        # Per kind of round (exact or propagation alone), per count: an answer found
        # without the programs must never stand for an exact one.
        self.memo = {exact: {c: RoundMemo() for c in table.spec.counts} for exact in (True, False)}
        # Cells of components too large for the exact check (the last round's).
        self.unchecked: set[int] = set()
        # (count, row) of withheld cells no complement can protect, named in notes() once
        # the rounds are over (a large table repeats thousands of them every round).
        self.unprotected: list[tuple[str, int, str]] = []
        # Cells whose every group is withheld already: hidden cells are never shown again,
        # so they stay without a complement; not searched again each round.
        self.alone: set[tuple[str, int]] = set()
        # Unknown cells per group while _protect adds complements.
        self._unknown_in_group = np.zeros(0, dtype=np.int64)
        # Per count: the groups that can spread a published zero (_zero_reach).
        self._zero_groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # The paths that pin this round's disclosed cells (built by _protect).
        self._pinning: PinningPaths | None = None
        # Per count, the equations that prove a cell only the linear programs pin (their
        # optimal duals), from the last exact round that found it.
        self._proofs: dict[str, dict[int, np.ndarray]] = {c: {} for c in table.spec.counts}

    def run(self, progress: Callable[[str], None] | None = None) -> None:
        """Rounds until an exact one adds nothing. Propagation alone while it finds cells;
        the programs once it finds none, and propagation alone again after an exact round
        that added complements."""
        exact = False
        for round_ in itertools.count(1):
            added, disclosed = self._round(exact)
            if progress is not None and self.table.n >= PROGRESS_ROWS:
                progress(
                    f"{self.table.spec.table}: complementary round {round_} "
                    f"({'exact' if exact else 'propagation'}): {disclosed:,} derivable cells, "
                    f"{self.table.complementary_rows():,} rows withheld as complements so far"
                )
            # A complement may withhold a total: its small parts go (rule 0), which only
            # takes knowledge away, and the rounds check again.
            if added or self.table.omit_small_parts_of_withheld_totals():
                exact = False
            elif exact:
                return
            else:
                exact = True  # propagation settled: what only the programs find is left

    def _round(self, exact: bool) -> tuple[bool, int]:
        """One round over every count, with both checks or propagation alone: (whether a
        complement was added, how many derivable cells were found)."""
        table = self.table
        added = False
        disclosed = 0
        # Both describe the last round: the state that is published (an exact round's).
        self.unchecked = set()
        self.unprotected = []
        for count in table.spec.counts:
            unknown = table.unknown(count)
            if not unknown.any():
                continue
            lo, hi = table.bounds(count)
            added |= self._uncode_pinned_by_repeats(count, unknown, lo, hi)
            # A range is a published value, not a withheld one: that a reader can narrow
            # it to the count (not sensitive: it reaches min n, or would be shown but for
            # its neighbour) harms no one, while every withheld cell it was chosen to
            # protect is checked with the range among the unknowns.
            sensitive = ~table.ranged[count] & ~self._zero_by_published_totals(count, hi)
            found = disclosed_cells(
                table.links[count].equations,
                table.values[count],
                lo,
                hi,
                unknown,
                unchecked=self.unchecked,
                memo=self.memo[exact][count],
                sensitive=sensitive,
                exact=exact,
                binding=self._proofs[count],
            )
            disclosed += int(found.sum())
            added |= self._protect(count, np.flatnonzero(found), lo, hi)
        return added, disclosed

    def _zero_by_published_totals(self, count: str, hi: np.ndarray) -> np.ndarray:
        """Cells a published total of 0 makes 0, with their own parts: counts are never
        negative, so every part of a zero total is 0, and such a cell tells a reader
        nothing the total does not tell of everyone in it (the fourth quarter after exit of
        the latest leavers, not yet in the wage data, is 0 at every level: 364 such cells
        at sample scale were reported as cells no complement could protect). A total is
        published as 0 when it is shown, or when its bounds ``hi`` say so (employed of 0
        observed)."""
        zero = (~self.table.unknown(count) | (hi < 0.5)) & (self.table.values[count] == 0)
        totals, parts, group = self._zero_reach(count)
        while True:
            grown = parts[zero[totals][group]]
            if zero[grown].all():
                return zero
            zero[grown] = True

    def _zero_reach(self, count: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The groups whose total can ever be made 0 above, as (their total rows, their
        parts' rows, each part's index in the first): a zero starts at a value of 0 and
        spreads from a total to its parts, so it reaches at most the rows that all values
        of 0 would reach. The rest of the table's groups can never spread a zero; computed
        once per count (the values and groups never change)."""
        if count not in self._zero_groups:
            eq = self.table.links[count].equations
            has_total = eq.total >= 0
            part = eq.coef > 0
            reach = self.table.values[count] == 0
            while True:
                total_is_zero = np.zeros(eq.groups, dtype=bool)
                total_is_zero[has_total] = reach[eq.total[has_total]]
                grown = reach.copy()
                grown[eq.cell[part & total_is_zero[eq.group]]] = True
                if (grown == reach).all():
                    break
                reach = grown
            groups = np.flatnonzero(has_total & reach[np.maximum(eq.total, 0)])
            entries = part & np.isin(eq.group, groups)
            self._zero_groups[count] = (
                eq.total[groups],
                eq.cell[entries],
                np.searchsorted(groups, eq.group[entries]),
            )
        return self._zero_groups[count]

    def _protect(self, count: str, disclosed: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> bool:
        """A complement for each disclosed cell (_choose_complement): a shown cell published
        as a range, on the equations that pin it first;
        where ranges around it still pin it (no shown cell is left), the nearest range that
        may grow made ten times wider; else the nearest ranged cell withheld outright, in a
        round that added no range, and at the state only where its small parts cannot be
        left out instead (decision 0043). A cell its own group pins whatever is ranged loses
        its coded rate first (``lo``, ``hi``: the round's bounds, table.bounds)."""
        if not len(disclosed):
            return False
        links = self.table.links[count]
        touched: set[int] = set()
        added = False
        hidden = self.table.unknown(count)
        withheld = hidden & ~self.table.ranged[count]
        deferred: list[tuple[int, int]] = []
        eq = links.equations
        # Unknown cells per group, kept up to date as complements are added: a candidate
        # that would be the only unknown of one of its other groups is pinned there at once.
        self._unknown_in_group = np.bincount(eq.group, hidden[eq.cell], eq.groups).astype(np.int64)
        # For _pinned_by_bounds, each range that may still grow at its widest (a superset of
        # what it can say); read only in groups this round has not touched, so computed once.
        grows = self.table.coarsenable(count)
        widest_low, widest_high = self.table.grid_range(count, self.table.rules.coarser_ranges)
        wide_lo = np.where(grows, np.minimum(lo, widest_low), lo)
        wide_hi = np.where(grows, np.maximum(hi, widest_high), hi)
        self._pinning = PinningPaths(eq, self.table.values[count], lo, hi, hidden)
        fixed = hidden & ~grows  # ranges that may grow count as cells to open
        for u in sorted(disclosed, key=lambda i: (self.table.size[i], i)):
            if (count, u) in self.alone:
                self.unprotected.append((count, int(u), _ALONE))
                continue
            of_u = links.groups_of(u)
            if (
                not touched.intersection(of_u.tolist())
                and self._pinned_by_bounds(count, u, of_u, hidden, wide_lo, wide_hi)
                and self.table.uncode(count, u)
            ):
                added = True
                continue
            how, choice = self._choose_complement(count, u, hidden, fixed, withheld)
            if choice is None and self.table.uncode(count, u):
                added = True  # its coded range was what pinned it
                continue
            if choice is None:
                self.alone.add((count, u))
                self.unprotected.append((count, int(u), _ALONE))
                continue
            if how == "withhold":
                # Withheld only in a round that found no range to add or widen: a range
                # added this round elsewhere in the chain may free u too (a thin state
                # cluster's six copies of its total of 11, each needing a range of a hundred).
                deferred.append(choice)
                continue
            added |= self._add(count, choice, how, touched, hidden)
        if added or not deferred:
            return added
        # A state total stays where its small parts can go instead; the next round checks.
        omitted = False
        for _, v in deferred:
            if self.table.roots[v]:
                omitted |= self.table.omit_small_parts_of(v)
        if omitted:
            return True
        for choice in deferred:
            added |= self._add(count, choice, "withhold", touched, hidden)
        return added

    def _choose_complement(
        self, count: str, u: int, hidden: np.ndarray, fixed: np.ndarray, withheld: np.ndarray
    ) -> tuple[Literal["range", "coarsen", "withhold"], tuple[int, int] | None]:
        """How to protect ``u`` and with which (group, row), in this order: a shown cell on
        the paths that pin it as a range, a range there made wider; then the same anywhere
        linked to it, nearest first; then the nearest range withheld. ``fixed``: hidden
        cells but the ranges that may grow; ``withheld``: hidden cells but the ranges."""
        for how, on_path, mask in (
            ("range", True, hidden),
            ("coarsen", True, fixed),
            ("range", False, hidden),
            ("coarsen", False, fixed),
            ("withhold", False, withheld),
        ):
            choice = (
                self._complement_on_path(count, u, mask)
                if on_path
                else self._nearest_complement(count, u, mask)
            )
            if choice is not None:
                return how, choice
        return "withhold", None

    def _complement_on_path(self, count: str, u: int, hidden: np.ndarray) -> tuple[int, int] | None:
        """(group, row) of a cell not ``hidden`` in the equations that pin ``u`` under
        propagation (disclosure.PinningPaths), or, where only the linear programs pin it,
        in the equations of their proof: opening one loosens a bound that pinned ``u``,
        where a cell merely linked to it may loosen nothing. Every equation on the
        paths serves, so a part far along them is chosen before a total near ``u``."""
        assert self._pinning is not None
        rings = self._pinning.groups(u)
        if not rings and len(self._proofs[count].get(u, ())):
            rings = [self._proofs[count][u]]  # pinned by the programs alone: their proof
        if not rings:
            return None
        links = self.table.links[count]
        groups = np.concatenate(rings)
        members, of = links.rows_of_groups(groups)
        # Members come group by group, in the order of ``groups``: each one's ring repeated.
        ring = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
        sizes = links.group_start[groups + 1] - links.group_start[groups]
        return self._complement_for(count, members, of, hidden, np.repeat(ring, sizes))

    def _add(
        self,
        count: str,
        choice: tuple[int, int],
        how: Literal["range", "coarsen", "withhold"],
        touched: set[int],
        hidden: np.ndarray,
    ) -> bool:
        """Make ``choice`` (group, row) a complement ``how`` (range, coarsen or withhold),
        unless this round already added one in its group: whether it was added."""
        group, v = choice
        if group in touched:
            return False  # this round already added a cell there; check again first
        if how == "withhold":
            self.table.withhold(count, v)
        elif how == "coarsen":
            self.table.coarsen(count, v)
        else:
            self.table.publish_as_range(count, v)
        of_v = self.table.links[count].groups_of(v)
        if not hidden[v]:
            self._unknown_in_group[of_v] += 1
        hidden[v] = True
        touched.add(group)
        touched.update(of_v.tolist())
        return True

    def _pinned_by_bounds(
        self,
        count: str,
        u: int,
        groups: np.ndarray,
        hidden: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> bool:
        """Whether one of ``u``'s groups pins it whatever is ranged: every other cell of the
        group hidden, each range taken at its widest. A school's 1 of 17 concentrators coded
        "<=10%" beside its district's 10 (at least 10, by a later step's reason code) and its
        sibling's 9 (at most 9, by theirs); a state's 1 of 13 coded "<=10%" between 99 and a
        total of 100, which no grid range separates. No range further out frees such a cell,
        and the search would range one district after another before withholding one; only
        a withheld cell of the group can, and ``u``'s own coded rate is the cheapest.
        ``hidden``, ``lo`` and ``hi`` are this round's, ranges that may grow at their widest;
        the caller skips groups a complement of this round has touched."""
        links = self.table.links[count]
        eq = links.equations
        groups = groups[eq.usable[groups]]
        if not len(groups):
            return False
        values = self.table.values[count]
        # The groups' entries of equations, group by group (as rows_of_groups lists them).
        entries, of = spans(links.group_start[groups], links.group_start[groups + 1])
        rows, coef = eq.cell[entries], eq.coef[entries]
        known = ~hidden[rows]
        low = np.where(known, values[rows], lo[rows])
        high = np.where(known, values[rows], hi[rows])
        # Each equation reads sum(coef * x) = K, K the true sum (0 beside a total row).
        target = np.bincount(of, coef * values[rows], len(groups))
        is_u = rows == u
        term_low = np.where(is_u, 0.0, np.minimum(coef * low, coef * high))
        term_high = np.where(is_u, 0.0, np.maximum(coef * low, coef * high))
        rest_low = np.bincount(of, term_low, len(groups))
        rest_high = np.bincount(of, term_high, len(groups))
        c_u = np.bincount(of, np.where(is_u, coef, 0.0), len(groups))
        with np.errstate(invalid="ignore", divide="ignore"):
            a, b = (target - rest_high) / c_u, (target - rest_low) / c_u
        u_low = np.maximum(np.minimum(a, b), lo[u])
        u_high = np.minimum(np.maximum(a, b), hi[u])
        # A group with a shown cell is left to the search: that cell as a range may free u.
        shown = known & ~self.table.missing[count][rows]
        fixed = np.bincount(of, shown & ~is_u, len(groups)) == 0
        pinned = np.floor(u_high + 1e-9) - np.ceil(u_low - 1e-9) < 1
        return bool((pinned & fixed).any())

    def _nearest_complement(self, count: str, u: int, hidden: np.ndarray) -> tuple[int, int] | None:
        """(group, row) of the cell to hide so that ``u`` is no longer derivable.

        Searched ring by ring: first the groups holding ``u``; where every cell of those is
        already hidden, ``u`` was pinned through a chain of hidden cells (small-n bounds
        plus totals), so the next ring is the groups of those hidden cells, and so on.
        A shown cell in the nearest such group enters the chain's equations as one more
        unknown. None when every cell linked to ``u`` is hidden: totals taken as known, or
        the bounds that rows' existence and reason codes give, pinned it (see rule 0).
        """
        links = self.table.links[count]
        usable = links.equations.usable
        # Masks, not sorted sets: a search that finds nothing walks a whole partition.
        seen_group = np.zeros(links.equations.groups, dtype=bool)
        seen_cell = np.zeros(self.table.n, dtype=bool)
        seen_cell[u] = True
        frontier = np.array([u], dtype=np.int64)
        while len(frontier):
            ring, _ = links.groups_of_rows(frontier)
            ring = np.unique(ring[usable[ring] & ~seen_group[ring]])
            members, of_ring = links.rows_of_groups(ring)
            choice = self._complement_for(count, members, of_ring, hidden)
            if choice is not None:
                return choice
            seen_group[ring] = True
            frontier = np.unique(members[~seen_cell[members]])
            seen_cell[frontier] = True
        return None

    def _complement_for(
        self,
        count: str,
        rows: np.ndarray,
        group: np.ndarray,
        hidden: np.ndarray,
        ring: np.ndarray | None = None,
    ) -> tuple[int, int] | None:
        """The shown cell of some groups (``rows`` and ``group``: their rows and each row's
        group, links.rows_of_groups) that loses the least, in this order of preference:

        - not at the top of a hierarchy (a state cell): the state's figures are what every
          reader looks for, and a cell below can almost always serve instead;
        - a part, not a group's total: the total is the cell most readers look for;
        - a cell that is no group's total at all: a district's all-students cell is a part
          of the state but the total of the district's groups, and a headline number;
        - in the nearest ``ring`` (each row's distance from the cell to protect, where the
          groups are several rings of a path);
        - in the group with the fewest hidden cells: the likeliest source of the disclosure
          (one hidden cell beside a shown total), so a complement there fixes it without
          spilling into other groups;
        - a cell whose other groups already hold an unknown: it closes the cycle instead of
          being pinned somewhere else and starting a chain;
        - the largest: a range of ten moves its rate least;
        - then the lowest row, in the lowest group (the same choice every run).
        """
        links = self.table.links[count]
        shown = ~hidden[rows] & ~self.table.missing[count][rows]
        rows, group = rows[shown], group[shown]
        if not len(rows):
            return None
        ring = np.zeros(len(rows), dtype=np.int64) if ring is None else ring[shown]
        unknown_in = self._unknown_in_group
        others, of = links.groups_of_rows(rows)
        opening = (others != group[of]) & links.equations.usable[others] & (unknown_in[others] == 0)
        opens = np.bincount(of, opening, minlength=len(rows))
        best = np.lexsort(
            (
                group,
                rows,
                -self.table.values[count][rows],
                opens,
                unknown_in[group],
                ring,
                self.table.totals[count][rows],
                rows == links.equations.total[group],
                self.table.roots[rows],
            )
        )[0]
        return int(group[best]), int(rows[best])

    def _uncode_pinned_by_repeats(
        self, count: str, unknown: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> bool:
        """Cells pinned by their own row's range and a repeating row's reason code together
        (neither alone): no sibling is involved, so the disclosure check, which takes a cell
        its bounds fix as published, would not see them."""
        if count not in self.table.repeated_as_size:
            return False
        own_lo, own_hi = self.table.bounds(count, repeats=False)
        pinned = np.flatnonzero(unknown & (hi - lo < 1 - 1e-9) & (own_hi - own_lo >= 1 - 1e-9))
        uncoded = False
        for row in pinned.tolist():
            if self.table.uncode(count, row):
                uncoded = True
            else:
                self.unprotected.append((count, row, _REPEATED))
        return uncoded

    def notes(self) -> list[str]:
        """A line per withheld cell no complement protects, naming the row by its key (a row
        number would depend on how the table was cut)."""
        return [
            f"{self.table.spec.table}: {count} of "
            f"{dict(zip(self.table.spec.primary_key, self.table.keys.row(row), strict=True))} {why}"
            for count, row, why in self.unprotected
        ]
