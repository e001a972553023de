"""Small-cell, complementary suppression and top/bottom coding (dagster_project/publish).

The adversarial tests attack the published tables the way a reader could: with every
group total known (even totals that are themselves suppressed), every published sibling,
and the bounds each reason code and coded rate reveals. Two attacks, independent of the
code under test: linear algebra (is the cell in the row space of the sum equations?) and an
exact integer program (min and max of the cell over every integer table consistent with
what is published).
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
from manifest_nodes import published_model
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csc_matrix

from dagster_project.publish import complements, disclosure
from dagster_project.publish.siblings import Links
from dagster_project.publish.spec import PublishSpec, PublishSpecError, SiblingSet, spec_from_node
from dagster_project.publish.suppression import (
    CodingBand,
    RateStatus,
    SuppressionRules,
    TableState,
    suppress,
)

MIN_N = 10
RULES = SuppressionRules(min_n=MIN_N)


def make_spec(sibling_sets: list, **extra: object) -> PublishSpec:
    block = {
        "grain": "one row per level, school and student group",
        "primary_key": ["level", "school", "group_type", "group_value"],
        "cell_size": "denominator",
        "counts": ["numerator", "denominator"],
        "rates": [{"column": "rate", "numerator": "numerator", "denominator": "denominator"}],
        "sibling_sets": sibling_sets,
        **extra,
    }
    node = published_model("model.test.indicators", block)
    spec = spec_from_node(node)
    assert spec is not None
    return spec


GROUPS = {"sex": ["F", "M"], "econ": ["Y", "N"], "race": ["A", "B", "C"]}
# Groups of one type within a school sum to its ALL row; one group across the schools sums
# to the district's row.
WITHIN_SCHOOL = {
    "columns": ["level", "school", "group_type"],
    "total": {"group_type": "ALL", "group_value": "ALL"},
}
ACROSS_SCHOOLS = {
    "columns": ["level", "group_type", "group_value"],
    "total": {"level": "district", "school": "D"},
}
BOTH_WAYS = [WITHIN_SCHOOL, ACROSS_SCHOOLS]
# The same hierarchy declared the way the marts do (a parent column and a level map).
UP_THE_HIERARCHY = {
    "columns": ["level", "parent", "group_type", "group_value"],
    "total": {"level": {"map": {"school": "district"}}, "school": {"from": "parent"}},
}


def student_table(rng: np.random.Generator, schools: int, sizes: tuple[int, int]) -> pl.DataFrame:
    """Aggregates of simulated students, so every total is the true sum of its parts.

    Rows: each school's groups and its ALL row, and a district row per group (the sum over
    schools). Sibling sets: groups of one type within a school sum to its ALL row; one group
    across schools sums to the district row.
    """
    records = []
    for s in range(schools):
        n = int(rng.integers(*sizes))
        p = rng.uniform(0.02, 0.98)
        records += [
            {
                "school": f"S{s}",
                "sex": rng.choice(GROUPS["sex"], p=[0.5, 0.5]),
                "econ": rng.choice(GROUPS["econ"], p=[0.3, 0.7]),
                "race": rng.choice(GROUPS["race"], p=[0.6, 0.3, 0.1]),
                "outcome": int(rng.random() < p),
            }
            for _ in range(n)
        ]
    return aggregate(pl.DataFrame(records))


def aggregate(students: pl.DataFrame) -> pl.DataFrame:
    """The indicator table of a frame of students (school, sex, econ, race, outcome)."""
    parts = [
        students.group_by("school")
        .agg(numerator=pl.col("outcome").sum(), denominator=pl.len())
        .with_columns(group_type=pl.lit("ALL"), group_value=pl.lit("ALL"))
    ]
    for group_type in GROUPS:
        parts.append(
            students.group_by("school", group_type)
            .agg(numerator=pl.col("outcome").sum(), denominator=pl.len())
            .rename({group_type: "group_value"})
            .with_columns(group_type=pl.lit(group_type))
        )
    schools_frame = pl.concat(parts, how="diagonal").with_columns(
        level=pl.lit("school"), parent=pl.lit("D")
    )
    district = (
        schools_frame.group_by("group_type", "group_value")
        .agg(pl.col("numerator").sum(), pl.col("denominator").sum())
        .with_columns(level=pl.lit("district"), school=pl.lit("D"), parent=pl.lit("NM"))
    )
    table = pl.concat([schools_frame, district], how="diagonal")
    return table.with_columns(
        numerator=pl.col("numerator").cast(pl.Int64),
        denominator=pl.col("denominator").cast(pl.Int64),
        rate=pl.col("numerator") / pl.col("denominator"),
    ).select(
        "level",
        "school",
        "parent",
        "group_type",
        "group_value",
        "numerator",
        "denominator",
        "rate",
    )


def published(truth: pl.DataFrame, spec: PublishSpec) -> pl.DataFrame:
    return suppress(truth, spec, RULES).frame


# --- the attacker ---------------------------------------------------------------------


@dataclass
class Attack:
    cells: int = 0  # suppressed values attacked
    linear: int = 0  # determined by linear algebra
    exact: int = 0  # pinned to one value by the integer program


def _reader_bounds(row: dict, column: str) -> tuple[float, float]:
    """What the published row itself says about a hidden value."""
    reason = row["suppression_reason"]
    if reason == _NOT_PUBLISHED:
        # No such group, or a part left out under a total below min n (rule 0).
        return 0.0, MIN_N - 1
    if reason == "SMALL_N":
        return (1.0 if column == "denominator" else 0.0), MIN_N - 1
    if reason == "COMPLEMENTARY":
        return (MIN_N if column == "denominator" else 0.0), math.inf
    shown_as = row[f"{column}_display"]
    if " to " in shown_as:  # a complement published as a range
        low, high = shown_as.split(" to ")
        return float(low.replace(",", "")), float(high.replace(",", ""))
    den, display = row["denominator"], row["rate_display"]
    if den is None:  # the denominator is a range: the numerator is at most its top
        return 0.0, float(row["denominator_display"].split(" to ")[1].replace(",", ""))
    band = RULES.band_for(den)
    if display.startswith(">="):
        return math.ceil(band.top * den - 1e-9), den
    if display.startswith("<="):
        return 0.0, math.floor(band.bottom * den + 1e-9)
    return 0.0, den


def _sibling_groups(rows: list[dict], sibling: dict) -> list[tuple[list[int], int | None]]:
    """(parts, total row) of every group of one sibling set, found from the rows alone."""
    key = ("level", "school", "group_type", "group_value")
    row_of_key = {tuple(r[c] for c in key): i for i, r in enumerate(rows)}
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(r[c] for c in sibling["columns"]), []).append(i)
    out = []
    for members in groups.values():
        first = rows[members[0]]
        total = row_of_key.get(tuple(sibling["total"].get(c, first[c]) for c in key))
        out.append(([m for m in members if m != total], total))
    return out


_NOT_PUBLISHED = "not published"


KEY = ["level", "school", "group_type", "group_value"]


def _every_key(table: pl.DataFrame, schools: list[str]) -> pl.DataFrame:
    """The table with a row for every key a reader can name (the directory's schools, every
    group), values unknown where none is published: a row left out may be a small part."""
    values = [("ALL", "ALL")] + [(t, v) for t, vs in GROUPS.items() for v in vs]
    entities = [("school", s, "D") for s in schools] + [("district", "D", "NM")]
    keys = pl.DataFrame(
        [
            {"level": lv, "school": sc, "parent": pa, "group_type": t, "group_value": v}
            for lv, sc, pa in entities
            for t, v in values
        ]
    )
    missing = keys.join(table, on=KEY, how="anti")
    return pl.concat(
        [table, missing.with_columns(suppression_reason=pl.lit(_NOT_PUBLISHED))],
        how="diagonal_relaxed",
    )


def attack(
    table: pl.DataFrame, sibling_sets: list[dict], result: Attack, truth: pl.DataFrame
) -> None:
    """Attack every hidden value of ``table``; ``truth`` gives the directory's schools and
    which keys are real cells (a key with no students recovered as 0 was never hidden)."""
    schools = truth.filter(pl.col("level") == "school")["school"].unique().to_list()
    rows = _every_key(table, schools).to_dicts()
    real = set(truth.select(KEY).iter_rows())
    for column in ("numerator", "denominator"):
        unknown = [i for i, r in enumerate(rows) if r[column] is None]
        if not unknown:
            continue
        pos = {u: k for k, u in enumerate(unknown)}
        equations, rhs = [], []
        for sibling in sibling_sets:
            for parts, total in _sibling_groups(rows, sibling):
                if not parts or total is None:
                    continue
                # sum(parts) - total = 0, with what is published moved to the right.
                vector, known = np.zeros(len(unknown)), 0.0
                for i, coef in [(p, 1.0) for p in parts] + [(total, -1.0)]:
                    if rows[i][column] is None:
                        vector[pos[i]] += coef
                    else:
                        known += coef * rows[i][column]
                if vector.any():
                    equations.append(vector)
                    rhs.append(-known)
        a = np.array(equations) if equations else np.zeros((0, len(unknown)))
        b = np.array(rhs, dtype=float)
        bounds = [_reader_bounds(rows[u], column) for u in unknown]
        lo = np.array([x for x, _ in bounds], dtype=float)
        hi = np.array([y for _, y in bounds], dtype=float)
        rank = np.linalg.matrix_rank(a) if len(a) else 0
        for k, u in enumerate(unknown):
            if hi[k] - lo[k] < 1 or tuple(rows[u][c] for c in KEY) not in real:
                continue  # fixed by its own published row (e.g. a numerator of 0 of 0)
            if " to " in (rows[u].get(f"{column}_display") or ""):
                continue  # a range is published, not withheld: its count is not sensitive
            result.cells += 1
            unit = np.zeros(len(unknown))
            unit[k] = 1
            if len(a) and np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
                result.linear += 1
            if len(a) and _integer_range(a, b, lo, hi, k) < 1:
                result.exact += 1


def _integer_range(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int) -> float:
    constraints = LinearConstraint(a, b, b)
    # A large finite cap keeps the solver's answer unambiguous (not "unbounded or infeasible").
    bounds = Bounds(lo, np.minimum(hi, 1e6))
    integrality = np.ones(len(lo))
    c = np.zeros(len(lo))
    c[k] = 1
    low = milp(c, constraints=constraints, bounds=bounds, integrality=integrality)
    high = milp(-c, constraints=constraints, bounds=bounds, integrality=integrality)
    assert low.success and high.success, "the true table must be a feasible solution"
    return high.x[k] - low.x[k]


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "sets"),
    [
        (BOTH_WAYS, BOTH_WAYS),
        ([WITHIN_SCHOOL, UP_THE_HIERARCHY], BOTH_WAYS),
        ([WITHIN_SCHOOL], [WITHIN_SCHOOL]),
    ],
    ids=["two-way", "two-way-declared-by-parent", "one-way"],
)
def test_no_suppressed_cell_can_be_recovered(declared: list[dict], sets: list[dict]) -> None:
    """`declared` drives the suppression; the attacker reads the structure on its own."""
    spec = make_spec(declared)
    result = Attack()
    tables = 30
    for seed in range(tables):
        rng = np.random.default_rng(seed)
        truth = student_table(rng, schools=int(rng.integers(2, 6)), sizes=(4, 70))
        attack(published(truth, spec), sets, result, truth)
    print(
        f"\nadversarial ({len(sets)} sibling set(s)): {tables} tables, {result.cells} "
        f"suppressed values attacked, {result.linear} recovered by linear algebra, "
        f"{result.exact} by integer programming"
    )
    assert result.cells > 200, "the synthetic tables must exercise suppression"
    assert result.linear == 0
    assert result.exact == 0


def test_propagation_alone_misses_what_ranges_let_a_reader_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why every component gets the linear programs (decision 0012): with complements
    published as ranges, bounds are two-sided and propagation alone lets the integer
    program pin cells. With the default limit no cell is left to propagation."""
    spec = make_spec(BOTH_WAYS)
    tables = [
        student_table(np.random.default_rng(seed), schools=5, sizes=(4, 70))
        for seed in range(100, 115)
    ]
    exact = Attack()
    for truth in tables:
        table = suppress(truth, spec, RULES)
        assert table.propagation_only_cells == 0
        attack(table.frame, BOTH_WAYS, exact, truth)
    assert exact.cells > 100 and exact.exact == 0 and exact.linear == 0
    monkeypatch.setattr(disclosure, "MAX_EXACT_CELLS", 0)
    weak = Attack()
    for truth in tables:
        table = suppress(truth, spec, RULES)
        assert table.propagation_only_cells > 0
        attack(table.frame, BOTH_WAYS, weak, truth)
    print(f"\npropagation only: {weak.exact} of {weak.cells} cells pinned by the reader")


def test_the_search_ends_with_an_exact_round_not_with_propagation_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rounds run propagation alone while it finds cells, and the linear programs only once
    it finds none (decision 0041). Here (3 schools, 30 rows) propagation settles with cells
    a reader's integer program still pins: the search goes on with an exact round, which
    must not take propagation's answers for its own (a memo per kind of round), and ends
    only when an exact round adds nothing."""
    spec = make_spec(BOTH_WAYS)
    truth = student_table(np.random.default_rng(142), schools=3, sizes=(4, 70))
    rounds: list[bool] = []
    disclosed_cells = complements.disclosed_cells

    def spy(*args: object, **kwargs: object) -> np.ndarray:
        rounds.append(bool(kwargs["exact"]))
        return disclosed_cells(*args, **kwargs)

    monkeypatch.setattr(complements, "disclosed_cells", spy)
    result = Attack()
    attack(published(truth, spec), BOTH_WAYS, result, truth)
    assert result.cells > 20 and result.exact == 0 and result.linear == 0
    assert not rounds[0] and rounds[-1], "propagation alone first, an exact round last"

    # Without the programs the same search publishes cells a reader pins: the table needs them.
    monkeypatch.setattr(disclosure, "_linear_programs", lambda *args: np.zeros(0, dtype=int))
    weak = Attack()
    attack(published(truth, spec), BOTH_WAYS, weak, truth)
    assert weak.exact > 0


def test_rounds_recheck_only_changed_slices_and_agree_with_a_full_recheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """School years share no group: a round keeps a year's answer unless a complement
    changed it, and the years' programs are solved side by side. Neither may change what is
    published: the same as every year alone, and as re-checking everything every round."""
    by_year = [{**s, "columns": ["year", *s["columns"]]} for s in BOTH_WAYS]
    spec = make_spec(by_year, primary_key=["year", "level", "school", "group_type", "group_value"])
    truth = pl.concat(
        student_table(np.random.default_rng(seed), schools=4, sizes=(4, 70)).with_columns(
            year=pl.lit(2000 + seed)
        )
        for seed in range(12)
    )
    together = suppress(truth, spec, RULES)
    alone = pl.concat(
        suppress(truth.filter(pl.col("year") == year), spec, RULES).frame
        for year in range(2000, 2012)
    )
    dirty_rows = disclosure.RoundMemo.dirty_rows
    monkeypatch.setattr(
        disclosure.RoundMemo,
        "dirty_rows",
        lambda self, eq, unknown, lo, hi: dirty_rows(self, eq, unknown, lo, hi) | True,
    )
    monkeypatch.setattr(disclosure.RoundMemo, "reusable", lambda self, *args: None)
    rechecked = suppress(truth, spec, RULES)
    assert together.ranged_counts + together.complementary_rows > 20, "several rounds needed"
    assert together.frame.equals(alone)
    assert together.frame.equals(rechecked.frame)


def test_attacker_recovers_cells_when_complementary_suppression_is_off() -> None:
    """The attack is strong enough to matter: without complements it finds cells."""
    no_sets = make_spec([])
    result = Attack()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        truth = student_table(rng, schools=4, sizes=(4, 70))
        attack(published(truth, no_sets), BOTH_WAYS, result, truth)
    assert result.linear > 0 and result.exact >= result.linear


def test_parts_of_a_total_below_min_n_are_left_out_else_their_existence_pins_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nine schools with one race-C student each: the district's race-C row (9) is withheld
    for small n, and so is each school's. If the school rows were published, a reader
    knows each holds at least 1 (rows exist because someone is in the group) and the
    total at most 9: every one is 1. No complement can help (all are withheld already);
    rule 0 leaves them out instead, and then nothing is recoverable."""
    students = pl.DataFrame(
        [
            {"school": f"S{s}", "sex": sex, "econ": "N", "race": race, "outcome": i % 2}
            for s in range(9)
            for i, (sex, race) in enumerate(
                [("F", "C")] + [("F", "A")] * 15 + [("M", "A")] * 10 + [("M", "B")] * 10
            )
        ]
    )
    truth = aggregate(students)
    spec = make_spec(BOTH_WAYS)
    table = suppress(truth, spec, RULES)
    left_out = truth.join(table.frame, on=KEY, how="anti")
    assert table.omitted_rows == 9
    assert set(left_out["group_value"]) == {"C"}
    result = Attack()
    attack(table.frame, BOTH_WAYS, result, truth)
    assert result.cells > 0 and result.exact == 0

    monkeypatch.setattr(
        "dagster_project.publish.suppression.TableState.omit_small_parts_of_withheld_totals",
        lambda self: False,
    )
    without_rule_0 = suppress(truth, spec, RULES)
    pinned = Attack()
    attack(without_rule_0.frame, BOTH_WAYS, pinned, truth)
    assert pinned.exact >= 9
    assert without_rule_0.notes, "the check itself must say it could not protect them"


def _one_group(dens: list[int], nums: list[int] | None = None) -> pl.DataFrame:
    nums = nums if nums is not None else [d // 2 for d in dens]
    return pl.DataFrame(
        {
            "level": ["school"] * len(dens),
            "school": ["S"] * len(dens),
            "group_type": ["race"] * len(dens),
            "group_value": [f"R{i}" for i in range(len(dens))],
            "numerator": nums,
            "denominator": dens,
        }
    ).with_columns(rate=pl.col("numerator") / pl.col("denominator"))


def test_small_cells_are_nulled_with_reason_and_large_cells_kept() -> None:
    out = suppress(_one_group([3, 40, 50, 60]), make_spec([]), RULES).frame
    small = out.filter(pl.col("group_value") == "R0").row(0, named=True)
    assert small["suppression_reason"] == "SMALL_N"
    assert small["numerator"] is None and small["denominator"] is None and small["rate"] is None
    assert small["rate_display"] == "suppressed (n<10)"
    big = out.filter(pl.col("group_value") != "R0")
    assert big["suppression_reason"].null_count() == 3
    assert big["denominator"].to_list() == [40, 50, 60]
    assert big["rate_display"].to_list() == ["50.0%", "50.0%", "50.0%"]


def test_lone_suppressed_cell_gets_the_largest_part_as_a_range_not_the_total() -> None:
    """The complement loses the least: the largest sibling, published as its grid range,
    never the group's total while a sibling can serve (decision 0012)."""
    out = suppress(_one_group([3, 40, 12, 60]), make_spec([["school"]]), RULES).frame
    shown = dict(zip(out["group_value"], out["denominator_display"], strict=True))
    assert shown == {"R0": "suppressed (n<10)", "R1": "40", "R2": "12", "R3": "60 to 69"}
    assert out["suppression_reason"].to_list() == ["SMALL_N", None, None, None]
    assert out.filter(pl.col("group_value") == "R3")["denominator"].to_list() == [None]


def test_two_small_cells_that_pin_each_other_get_a_complement() -> None:
    # 9 + 9 = 18 and each is below 10: a reader would know both are 9.
    pinned = suppress(_one_group([9, 9, 40, 60]), make_spec([["school"]]), RULES).frame
    assert pinned["denominator_display"].to_list().count("60 to 69") == 1
    # 3 + 4 = 7 leaves each anywhere from 1 to 6: no complement is needed.
    loose = suppress(_one_group([3, 4, 40, 60]), make_spec([["school"]]), RULES).frame
    assert not any(" to " in d for d in loose["denominator_display"].to_list())


def test_a_range_grows_tenfold_before_a_complement_is_withheld() -> None:
    # 9 + 69 = 78: the range 60 to 69 still pins the 9 (78 - 69 = 9 is the only value below
    # 10 that 78 minus the range allows), 0 to 99 does not.
    frame = _one_group([9, 69])
    coarse = suppress(frame, make_spec([["school"]]), RULES).frame
    assert coarse["denominator_display"].to_list() == ["suppressed (n<10)", "0 to 99"]
    assert coarse["suppression_reason"].to_list() == ["SMALL_N", None]
    fine_only = SuppressionRules(min_n=MIN_N, coarser_ranges=0)
    withheld = suppress(frame, make_spec([["school"]]), fine_only).frame
    assert withheld["suppression_reason"].to_list() == ["SMALL_N", "COMPLEMENTARY"]


def test_rates_are_top_and_bottom_coded_by_denominator_band() -> None:
    out = suppress(
        _one_group([30, 30, 80, 80, 30], nums=[30, 1, 79, 3, 15]), make_spec([]), RULES
    ).frame
    assert out["rate_display"].to_list() == [">=90%", "<=10%", ">=95%", "<=5%", "50.0%"]
    coded = out.head(4)
    assert coded["rate"].null_count() == 4 and coded["numerator"].null_count() == 4
    assert coded["denominator"].to_list() == [30, 30, 80, 80]  # the group size stays
    assert coded["suppression_reason"].null_count() == 4


def test_large_groups_are_coded_only_within_a_tenth_of_a_percent_of_the_ends() -> None:
    """940 program participants of the state's 97,661 students (0.96%) were published as
    "<=1%" (decision 0040); 50 of them (0.05%) still are coded."""
    out = suppress(
        _one_group([97_661, 97_661, 5_000, 600], nums=[940, 50, 4_996, 3]), make_spec([]), RULES
    ).frame
    assert out["rate_display"].to_list() == ["1.0%", "<=0.1%", ">=99.9%", "<=1%"]
    assert out["numerator"].to_list() == [940, None, None, None]


def test_coded_numerator_cannot_be_recovered_from_the_group_total() -> None:
    out = suppress(
        _one_group([30, 40, 50], nums=[30, 20, 25]), make_spec([["school"]]), RULES
    ).frame
    hidden = out.filter(pl.col("numerator").is_null())
    assert hidden.height >= 2, "one hidden numerator in a group would follow from the total"
    # The complement is the largest other numerator, shown as a range with its rate.
    assert hidden["numerator_display"].to_list()[1:] == ["20 to 29"]
    assert hidden["rate_display"].to_list()[1:] == ["40.0% to 58.0%"]


def test_derived_columns_hide_with_their_rates() -> None:
    frame = _one_group([30, 3, 40, 50], nums=[30, 1, 20, 25]).with_columns(gap=pl.col("rate") - 0.5)
    out = suppress(frame, make_spec([], derived=["gap"]), RULES).frame
    assert out["gap"].to_list()[:2] == [None, None]
    assert out["gap"].to_list()[2:] == [0.0, 0.0]


def test_undeclared_numerator_hides_every_other_count() -> None:
    spec = make_spec([], rates=["rate"], counts=["numerator", "denominator", "other"])
    frame = _one_group([30, 40], nums=[30, 20]).with_columns(other=pl.lit(7))
    out = suppress(frame, spec, RULES).frame
    assert out["numerator"].to_list() == [None, 20]
    assert out["other"].to_list() == [None, 7]


def test_continuum_steps_use_their_own_denominators() -> None:
    node = published_model(
        "model.test.continuum",
        {
            "grain": "one row per program",
            "primary_key": ["program"],
            "cell_size": "participants",
            "counts": ["participants", "concentrators", "placed"],
            "rates": [
                {
                    "column": "conc_rate",
                    "numerator": "concentrators",
                    "denominator": "participants",
                },
                {"column": "placed_rate", "numerator": "placed", "denominator": "concentrators"},
            ],
        },
    )
    spec = spec_from_node(node)
    frame = pl.DataFrame(
        {
            "program": ["a", "b", "c"],
            "participants": [50, 60, 70],
            "concentrators": [4, 30, 69],
            "placed": [2, 15, 40],
        }
    ).with_columns(
        conc_rate=pl.col("concentrators") / pl.col("participants"),
        placed_rate=pl.col("placed") / pl.col("concentrators"),
    )
    out = suppress(frame, spec, RULES).frame.to_dicts()
    # a: only 4 concentrators, so the placement rate of 2 out of 4 is suppressed.
    assert out[0]["placed"] is None and out[0]["placed_rate_display"] == "suppressed (n<10)"
    # ... and so is its numerator, for that small n: it is no complement (publication_summary
    # counts a complement as withheld, a small part of a shown row as shown).
    assert out[0]["placed_display"] == "suppressed (n<10)"
    assert out[0]["conc_rate_display"] == "8.0%"
    # c: 69 of 70 concentrate -> coded, its numerator hidden, so the next rate (which
    # would give it back as placed / placed_rate) is hidden too.
    assert out[2]["concentrators"] is None and out[2]["conc_rate_display"] == ">=95%"
    assert out[2]["placed_rate"] is None
    assert out[1]["placed_rate_display"] == "50.0%"


def _coverage_spec(**extra: object) -> PublishSpec:
    """comparison_outcomes' shape: who has data (coverage), who is found in the records,
    and statistics of the matched students."""
    node = published_model(
        "model.test.coverage",
        {
            "grain": "one row per outcome",
            "primary_key": ["outcome"],
            "cell_size": "matched",
            "counts": ["population", "observed", "in_records", "matched", "with_outcome"],
            "rates": [
                {"column": "coverage", "numerator": "observed", "denominator": "population"},
                {"column": "found", "numerator": "in_records", "denominator": "observed"},
                {"column": "share", "numerator": "with_outcome", "denominator": "matched"},
            ],
            "derived": ["difference"],
            **extra,
        },
    )
    spec = spec_from_node(node)
    assert spec is not None
    return spec


def _coverage_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "outcome": ["graduation", "placement", "employment", "rare"],
            "population": [500, 500, 500, 500],
            # 499 of 500 observed: coded ">=99%" (band 300+), so observed is hidden.
            "observed": [499, 499, 499, 499],
            "in_records": [None, 496, 470, 470],
            "matched": [400, 400, 400, 400],
            "with_outcome": [350, 300, 200, 2],
            "difference": [0.05, 0.04, 0.03, 0.001],
        }
    ).with_columns(
        coverage=pl.col("observed") / pl.col("population"),
        found=pl.col("in_records") / pl.col("observed"),
        share=pl.col("with_outcome") / pl.col("matched"),
    )


def test_a_rate_over_a_coded_count_is_the_range_its_coding_gives() -> None:
    out = {
        r["outcome"]: r
        for r in suppress(_coverage_rows(), _coverage_spec(), RULES).frame.to_dicts()
    }
    employment = out["employment"]
    assert employment["coverage_display"] == ">=99%" and employment["observed"] is None
    # observed is somewhere in 495..500 (>=99% of 500): 470 found is 94.0% to 95.0%.
    assert employment["observed_display"] == ">=495"
    assert employment["found"] is None and employment["found_display"] == "94.0% to 95.0%"
    # 496 of 499 found, coded too: its bound follows from observed's, not from the hidden 499.
    placement = out["placement"]
    assert placement["found_display"] == ">=99%" and placement["in_records_display"] == ">=491"


def test_a_coded_rate_over_a_withheld_count_is_withheld_with_it() -> None:
    """Where the complement search withholds a denominator (not the cell size), a rate over
    it coded ">=99%" would still show ">=" 99% of that denominator through its numerator."""
    spec = _coverage_spec()
    table = TableState(_coverage_rows().sort("outcome"), spec, RULES)
    table.code_rates()
    placement = 2  # rows in key order: employment, graduation, placement, rare
    table.hidden["observed"][placement] = True  # as withhold() would, its coding undone
    table.status["coverage"][placement] = RateStatus.COMPLEMENTARY
    table.hide_dependent_rates()
    assert table.count_display("in_records")[placement] == "suppressed (complementary)"


def test_a_count_null_in_the_mart_is_published_null_not_zero_or_withheld() -> None:
    out = suppress(_coverage_rows(), _coverage_spec(), RULES).frame
    graduation = out.filter(pl.col("outcome") == "graduation").row(0, named=True)
    assert graduation["in_records"] is None and graduation["in_records_display"] is None
    assert graduation["found"] is None and graduation["found_display"] is None


def test_a_rate_over_a_count_that_does_not_apply_stays_null_beside_a_ranged_total() -> None:
    """At state scale every 1S1 row whose denominator was a range said its placement
    coverage (a 3S1-only share, null numerator) was '0.0% to 0.0%'."""
    frame = _one_group([3, 40, 12, 60]).with_columns(
        observed=pl.lit(None, dtype=pl.Int64), share=pl.lit(None, dtype=pl.Float64)
    )
    spec = make_spec(
        [["school"]],
        counts=["numerator", "denominator", "observed"],
        rates=[
            {"column": "rate", "numerator": "numerator", "denominator": "denominator"},
            {"column": "share", "numerator": "observed", "denominator": "denominator"},
        ],
    )
    out = suppress(frame, spec, RULES).frame
    ranged = out.filter(pl.col("denominator_display") == "60 to 69").row(0, named=True)
    assert " to " in ranged["rate_display"]
    assert ranged["share"] is None and ranged["share_display"] is None
    assert out["share_display"].to_list() == ["suppressed (n<10)", None, None, None]


def test_derived_columns_hide_only_with_what_they_are_computed_from() -> None:
    # (rows in key order: employment, graduation, placement, rare)
    every_input = suppress(_coverage_rows(), _coverage_spec(), RULES).frame
    # By default any hidden count (here the coded coverage) hides them.
    assert every_input["difference"].to_list() == [None] * 4
    matched_only = suppress(
        _coverage_rows(), _coverage_spec(derived_from=["matched", "share"]), RULES
    ).frame
    # 2 of 400 with the outcome is coded "<=1%": the difference would give it back.
    assert matched_only["share_display"].to_list()[3] == "<=1%"
    assert matched_only["difference"].to_list() == [0.03, 0.05, 0.04, None]


def test_derived_from_names_counts_or_rates_of_the_table() -> None:
    with pytest.raises(PublishSpecError, match="no counts or rates"):
        _coverage_spec(derived_from=["population", "difference"])


def test_bands_too_narrow_for_their_group_size_are_rejected() -> None:
    with pytest.raises(ValueError, match="too narrow"):
        SuppressionRules(min_n=10, bands=(CodingBand(10, 0.05, 0.95),))


def test_rates_must_be_fractions_and_keys_unique() -> None:
    spec = make_spec([])
    with pytest.raises(PublishSpecError, match="fractions"):
        suppress(_one_group([30]).with_columns(rate=pl.lit(50.0)), spec, RULES)
    with pytest.raises(PublishSpecError, match="not unique"):
        suppress(pl.concat([_one_group([30]), _one_group([30])]), spec, RULES)


def test_a_sibling_set_names_only_counts_of_the_table() -> None:
    with pytest.raises(PublishSpecError, match="not counts of the table"):
        make_spec([{**WITHIN_SCHOOL, "counts": ["students"]}])
    with pytest.raises(PublishSpecError, match="do not know"):
        make_spec([{**WITHIN_SCHOOL, "count": ["numerator"]}])


def test_a_count_left_out_of_a_set_need_not_add_up_there() -> None:
    """The denominators of a set's groups may not add up to its totals when the set lists
    only the numerator."""
    truth = student_table(np.random.default_rng(3), schools=3, sizes=(4, 70))
    broken = truth.with_columns(
        denominator=pl.when(pl.col("group_type") == "ALL")
        .then(pl.col("denominator") + 5)
        .otherwise(pl.col("denominator"))
    )
    with pytest.raises(PublishSpecError, match="does not add up"):
        suppress(broken, make_spec(BOTH_WAYS), RULES)
    numerators_only = [{**s, "counts": ["numerator"]} for s in BOTH_WAYS]
    suppress(broken, make_spec(numerators_only), RULES)


def test_equations_keep_group_order_with_empty_groups_and_totals_last() -> None:
    """Each group's rows are looked up by group id every round: a group without parts, or
    without any entry, must not shift the ids of the groups after it."""
    no_rows = np.array([], dtype=np.int64)
    groups = [(np.array([1, 2]), 0), (no_rows, None), (np.array([3]), None), (no_rows, 4)]
    groups.append((np.array([5, 6]), None))
    links = Links.build(groups, rows=7)
    rows, group = links.rows_of_groups(np.arange(5))
    assert [rows[group == g].tolist() for g in range(5)] == [[1, 2, 0], [], [3], [4], [5, 6]]
    assert links.equations.coef.tolist() == [1, 1, -1, 1, -1, 1, 1]
    assert links.equations.usable.tolist() == [True, False, False, True, True]
    assert links.groups_of(0).tolist() == [0] and links.groups_of(6).tolist() == [4]


def test_pinning_paths_name_the_equations_that_pin_a_cell_not_every_linked_one() -> None:
    """A small cell u pinned through a chain (u + a = 10 shown; a + c = 14 with c = 5
    shown) is freed only by opening one of those two equations; u's third group (u + e + f
    = 71, e published as 40 to 59) pins nothing, although its shown f is nearer than c
    (decision 0047)."""
    u, a, t0, c, t1, e, f, t2 = range(8)
    groups = [(np.array([u, a]), t0), (np.array([a, c]), t1), (np.array([u, e, f]), t2)]
    values = np.array([1, 9, 10, 5, 14, 50, 20, 71], dtype=float)
    unknown = np.isin(np.arange(8), [u, a, e])
    lo = np.where(unknown, [1, 0, 0, 0, 0, 40, 0, 0], values)
    hi = np.where(unknown, [9, 1e9, 0, 0, 0, 59, 0, 0], values)
    equations = Links.build(groups, rows=8).equations
    assert disclosure.disclosed_cells(equations, values, lo, hi, unknown)[u]
    paths = disclosure.PinningPaths(equations, values, lo, hi, unknown)
    assert [ring.tolist() for ring in paths.groups(u)] == [[0], [1]]
    assert paths.groups(f) == []  # shown: nothing pins it
    # c published as 0 to 9 opens a + c = 14, and so u: no path pins it any more.
    unknown[c], lo[c], hi[c] = True, 0, 9
    assert not disclosure.disclosed_cells(equations, values, lo, hi, unknown)[u]
    assert disclosure.PinningPaths(equations, values, lo, hi, unknown).groups(u) == []


def test_a_cell_only_the_programs_pin_comes_with_the_equations_of_their_proof() -> None:
    """a + b, b + c and a + c known (10 each) fix a = b = c = 5, which propagation does not
    see (each equation alone leaves 0 to 10); the programs' duals name those three groups,
    not the fourth (c + d + e) that is linked but proves nothing (decision 0047)."""
    a, b, c, d, e = range(5)
    groups = [
        (np.array([a, b]), None),
        (np.array([b, c]), None),
        (np.array([a, c]), None),
        (np.array([c, d, e]), None),
    ]
    values = np.array([5, 5, 5, 20, 30], dtype=float)
    unknown = np.ones(5, dtype=bool)
    lo, hi = np.zeros(5), np.full(5, 100.0)
    equations = Links.build(groups, rows=5).equations
    propagation = disclosure.disclosed_cells(equations, values, lo, hi, unknown, exact=False)
    assert not propagation.any()
    proofs: dict[int, np.ndarray] = {}
    found = disclosure.disclosed_cells(equations, values, lo, hi, unknown, binding=proofs)
    assert found.tolist() == [True, True, True, False, False]
    assert any(sorted(proofs[cell].tolist()) == [0, 1, 2] for cell in (a, b, c) if cell in proofs)
    assert all(3 not in groups_.tolist() for groups_ in proofs.values())


def test_the_top_of_a_declared_hierarchy_is_its_root() -> None:
    # The state is the last cell a complement may take (decision 0012, point 6).
    geography = SiblingSet(
        columns=("level", "parent"),
        total={
            "level": {"map": {"school": "district", "district": "state"}},
            "entity": {"from": "parent"},
        },
    )
    assert geography.roots() == {"level": {"state"}}
    assert SiblingSet(columns=("group_type",), total={"group_value": "ALL"}).roots() == {}


def test_a_published_total_of_zero_makes_its_parts_no_disclosure() -> None:
    """No leaver of a school is observed in the quarter yet (it is not in the wage data):
    0 observed and 0 employed are published for the school, so every group's 0 follows,
    and says nothing of its leavers the school's 0 does not say of all 40. No cell is
    reported unprotected and nothing is ranged to protect a zero (at sample scale 364 such
    cells, the latest leavers' fourth quarter, were reported unprotected)."""
    frame = pl.DataFrame(
        {
            "level": ["school"] * 4,
            "school": ["S"] * 4,
            "group_type": ["ALL", "race", "race", "race"],
            "group_value": ["ALL", "R0", "R1", "R2"],
            "leavers": [40, 3, 4, 33],
            "observed": [0, 0, 0, 0],
            "employed": [0, 0, 0, 0],
        }
    ).with_columns(rate=pl.col("employed") / pl.col("observed"))
    spec = make_spec(
        [WITHIN_SCHOOL],
        cell_size="leavers",
        counts=["leavers", "observed", "employed"],
        rates=[{"column": "rate", "numerator": "employed", "denominator": "observed"}],
    )
    result = suppress(frame, spec, RULES)
    assert result.notes == []
    assert result.frame["leavers_display"].to_list() == [
        "40",
        "suppressed (n<10)",
        "suppressed (n<10)",
        "33",
    ]
    assert result.frame["observed_display"].to_list()[::3] == ["0", "0"]


def test_a_program_the_primal_simplex_leaves_unsolved_is_solved_by_the_dual_simplex() -> None:
    """The re-solves use the primal simplex (decision 0041), which has stopped short on
    these programs before: a solve that ends without an optimum is done again with the dual
    simplex, and the next solves use the primal simplex again."""
    # x0 + x1 = x2 (a total), x1 = x3 (another group's total): truth 3, 4, 7, 4.
    a = csc_matrix(np.array([[1.0, 1.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]))
    truth = np.array([3.0, 4.0, 7.0, 4.0])
    program = disclosure._Program(a, a @ truth, np.zeros(4), np.full(4, 20.0))
    highs = program._highs

    class StopsShortOnce:
        """The model, whose first run stops at an iteration limit of 0."""

        runs = 0

        def __getattr__(self, name: str) -> object:
            return getattr(highs, name)

        def run(self) -> object:
            StopsShortOnce.runs += 1
            if StopsShortOnce.runs > 1:
                return highs.run()
            highs.setOptionValue("simplex_iteration_limit", 0)
            status = highs.run()
            highs.setOptionValue("simplex_iteration_limit", 2**31 - 1)
            return status

    program._highs = StopsShortOnce()  # type: ignore[assignment]
    assert program.minimize(np.array([-1.0, 0.0, 0.0, 0.0]))[0] == 20.0
    assert StopsShortOnce.runs == 2
    assert highs.getOptionValue("simplex_strategy")[1] == disclosure._PRIMAL_SIMPLEX
    assert program.minimize(np.array([1.0, 0.0, 0.0, 0.0]))[0] == 0.0


def test_the_disclosure_check_prints_nothing_to_stdout() -> None:
    """HiGHS writes a banner to file descriptor 1 when its first model is made; a publish in
    a process whose stdout is read (a Dagster run, the publisher in test_publish) must not."""
    code = "from dagster_project.publish.disclosure import _quiet_highs; _quiet_highs()"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == ""


def _two_way_table(rng: np.random.Generator) -> tuple:
    """A 4 x 5 table with row, column and grand totals, a third of its cells hidden (each
    from 0 up), and a triangle a + b, b + c, a + c beside it that only the programs pin."""
    r, k = 4, 5
    cells = rng.integers(0, 30, size=(r, k)).astype(float)
    values = np.concatenate([cells.ravel(), cells.sum(1), cells.sum(0), [cells.sum()], [5, 5, 5]])
    at = np.arange(r * k).reshape(r, k)
    row_total, col_total, grand = r * k, r * k + r, r * k + r + k
    a, b, c = grand + 1, grand + 2, grand + 3
    groups = [(at[i], row_total + i) for i in range(r)]
    groups += [(at[:, j], col_total + j) for j in range(k)]
    groups += [(row_total + np.arange(r), grand), (col_total + np.arange(k), grand)]
    groups += [(np.array([a, b]), None), (np.array([b, c]), None), (np.array([a, c]), None)]
    unknown = np.zeros(len(values), dtype=bool)
    unknown[: r * k] = rng.random(r * k) < 0.35
    unknown[[a, b, c]] = True
    lo = np.where(unknown, 0.0, values)
    hi = np.where(unknown, 1e9, values)
    return Links.build(groups, rows=len(values)).equations, values, lo, hi, unknown


def test_the_programs_find_the_same_cells_from_any_starting_basis() -> None:
    """An exact round's programs start from the last round's basis (decision 0051). Where a
    solve starts decides which optimal vertex it returns, never a cell's own minimum and
    maximum: from bases of random statuses (singular ones, ones with too many or too few
    basic variables) the check finds the same cells as from scratch."""
    rng = np.random.default_rng(51)
    found_only_by_the_programs = 0
    for _ in range(30):
        equations, values, lo, hi, unknown = _two_way_table(rng)
        fresh = disclosure.disclosed_cells(equations, values, lo, hi, unknown)
        memo = disclosure.RoundMemo()
        memo.basis = disclosure.LastBasis(len(values), equations.groups)
        memo.basis.columns[:] = rng.integers(-1, 3, size=len(values))
        memo.basis.rows[:] = rng.integers(-1, 2, size=equations.groups)
        started = disclosure.disclosed_cells(equations, values, lo, hi, unknown, memo=memo)
        assert started.tolist() == fresh.tolist()
        assert (memo.basis.columns[unknown] >= 0).any()  # the programs ran and left a basis
        propagation = disclosure.disclosed_cells(equations, values, lo, hi, unknown, exact=False)
        found_only_by_the_programs += int((fresh & ~propagation).sum())
    assert found_only_by_the_programs >= 30  # at least the triangle, every time
