"""The complementary search on partitions of the state-scale marts it once got wrong
(tests/fixtures/suppression/README.md): the state and all-students cells shown, the one
cell no range can protect withheld without spending its neighbours, and no withheld cell
derivable by a reader's attack on the published rows alone (an integer
program per cell, as in test_suppression, over the declared sibling groups)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.sparse import bmat, csr_matrix
from scipy.sparse.csgraph import connected_components
from test_suppression import MIN_N, _integer_range

from dagster_project.publish import suppression
from dagster_project.publish.complements import ComplementSearch
from dagster_project.publish.siblings import links_by_count, sibling_groups
from dagster_project.publish.spec import PublishSpec, load_publish_specs
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    SuppressedTable,
    SuppressionRules,
    suppress,
)

CASES = Path(__file__).parent / "fixtures" / "suppression"


@pytest.fixture(scope="module")
def specs(dbt_manifest: Path) -> dict[str, PublishSpec]:
    return {s.table: s for s in load_publish_specs(dbt_manifest)}


def _suppressed(
    specs: dict[str, PublishSpec], table: str, case: str
) -> tuple[PublishSpec, pl.DataFrame, SuppressedTable]:
    """The table's spec, the case's mart rows, and what suppress() makes of them."""
    spec = specs[table]
    mart = pl.read_parquet(CASES / f"{case}.parquet")
    return spec, mart, suppress(mart, spec, SuppressionRules())


def _withheld(frame: pl.DataFrame) -> pl.Expr:
    displays = [c for c in frame.columns if c.endswith("_display")]
    return (pl.col("suppression_reason") == "COMPLEMENTARY") | pl.any_horizontal(
        pl.col(c) == COMPLEMENTARY_DISPLAY for c in displays
    ).fill_null(False)


def test_a_thin_state_cluster_keeps_its_state_cells_and_leaves_out_its_small_districts(
    specs: dict[str, PublishSpec],
) -> None:
    spec, mart, result = _suppressed(specs, "perkins_indicators", "perkins_thin_state_cluster")
    state = result.frame.filter(pl.col("level") == "state")
    large = mart.filter((pl.col("level") == "state") & (pl.col("denominator") >= 10))
    assert large.height == 5  # the all-students cell and four breakdowns repeating it
    shown = state.join(large.select(spec.primary_key), on=list(spec.primary_key))
    assert shown.height == 5 and shown.filter(_withheld(shown)).is_empty()
    # Their cell size is a range of a hundred ("0 to 99"), their rate ">=90%": a shown row
    # holds at least 10, so the numerator is at least 9, not ">=0".
    assert shown["numerator_display"].to_list() == [">=9"] * 5
    # What protects the districts' rows of 1 and 2 is that they are not published.
    districts = result.frame.filter(pl.col("level") == "district", pl.col("group_type") == "all")
    assert districts.is_empty()
    assert result.omitted_rows > 0 and not result.notes
    assert derivable_cells(spec, mart, result.frame) == []


def test_a_first_year_keeps_its_concentrators_where_a_coded_school_is_pinned_by_bounds(
    specs: dict[str, PublishSpec],
) -> None:
    *_, result = _suppressed(specs, "program_continuum", "continuum_first_year")
    out = result.frame
    concentrators = out.filter(pl.col("step") == "concentrators", pl.col("base_count") >= 10)
    above_schools = concentrators.filter(pl.col("level") != "school")
    assert above_schools.height > 80
    assert above_schools.filter(_withheld(above_schools)).is_empty()
    # The school whose coded rate its own group pins: that rate is what is withheld.
    pinned = concentrators.filter(pl.col("entity_code") == "027-020").row(0, named=True)
    assert pinned["rate_of_base_display"] == COMPLEMENTARY_DISPLAY
    assert not result.notes


def test_a_cell_no_range_can_free_is_withheld_without_ranging_its_neighbours(
    specs: dict[str, PublishSpec],
) -> None:
    *_, result = _suppressed(specs, "perkins_indicators", "perkins_range_straddling_a_hundred")
    state = result.frame.filter(pl.col("level") == "state")
    pinned = state.filter(
        pl.col("group_type") == "military_connected", pl.col("group_value") == "Y"
    )
    assert pinned["rate_display"].to_list() == [COMPLEMENTARY_DISPLAY]
    # The state cells the search used to range for it, one per round, keep their counts.
    spent = {
        ("disability", "N"): "83",
        ("locale", "CITY"): "67",
        ("locale", "RURAL"): "16",
        ("race_ethnicity", "HISPANIC"): "58",
        ("race_ethnicity", "WHITE"): "23",
    }
    shown = {
        (row["group_type"], row["group_value"]): row["numerator_display"]
        for row in state.iter_rows(named=True)
        if (row["group_type"], row["group_value"]) in spent
    }
    assert shown == spent
    assert not result.notes


@pytest.mark.long  # minutes: an integer program per withheld cell of thousands of rows
@pytest.mark.parametrize(
    ("table", "case"),
    [
        ("program_continuum", "continuum_first_year"),
        ("perkins_indicators", "perkins_range_straddling_a_hundred"),
    ],
)
def test_no_withheld_cell_of_a_larger_case_is_derivable(
    specs: dict[str, PublishSpec], table: str, case: str
) -> None:
    spec, mart, result = _suppressed(specs, table, case)
    assert derivable_cells(spec, mart, result.frame) == []


def test_the_attack_finds_cells_when_complementary_suppression_is_off(
    specs: dict[str, PublishSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack can fail: with small cells withheld and no complement, it pins them."""
    monkeypatch.setattr(ComplementSearch, "run", lambda self, progress=None: None)
    spec, mart, result = _suppressed(specs, "perkins_indicators", "perkins_thin_state_cluster")
    assert len(derivable_cells(spec, mart, result.frame, stop_after=10)) == 10


# --- a reader's attack on what is published -----------------------------------------------


def _count_bounds(spec: PublishSpec, count: str, mart: pl.DataFrame, out: pl.DataFrame):
    """What a reader reads from the published rows about each mart row's ``count``: its
    value where shown, else the bounds its reason code, display and rates give; a row not
    published is any value from 0 to min n - 1 (a group with no one, or a small part left
    out)."""
    key = list(spec.primary_key)
    capped = {spec.cell_size} | {
        r.numerator for r in spec.rates if spec.denominator_of(r) == spec.cell_size
    }
    rows = mart.select(key).join(
        out.with_columns(__published=pl.lit(True)), on=key, how="left", nulls_equal=True
    )
    lo, hi = np.zeros(rows.height), np.full(rows.height, np.inf)
    for i, row in enumerate(rows.iter_rows(named=True)):
        display = row.get(f"{count}_display")
        reason = row["suppression_reason"]
        small = MIN_N - 1 if count in capped else np.inf
        if not row["__published"]:
            lo[i], hi[i] = 0, small
        elif reason == "SMALL_N":
            lo[i], hi[i] = (1 if count == spec.cell_size else 0), small
        elif reason == "COMPLEMENTARY":
            lo[i] = MIN_N if count == spec.cell_size else 0
        elif row[count] is not None:
            lo[i] = hi[i] = row[count]
        elif display and " to " in display:
            low, high = display.split(" to ")
            lo[i], hi[i] = float(low.replace(",", "")), float(high.replace(",", ""))
            if count == spec.cell_size:  # the row is shown: its cell size reaches min n
                lo[i] = max(lo[i], MIN_N)
        elif display and display.startswith("suppressed (n<"):
            hi[i] = MIN_N - 1  # a rate's own small denominator: its numerator is below it
        elif display and display[:2] in ("<=", ">="):
            bound = float(display[2:].replace(",", ""))
            lo[i], hi[i] = (bound, np.inf) if display[:2] == ">=" else (0, bound)
    return lo, hi


def _coded_rate_bounds(spec, mart, out, count, lo, hi) -> None:
    """A rate shown as ">=90%" or "<=10%" over a published denominator bounds its numerator."""
    key = list(spec.primary_key)
    rows = mart.select(key).join(out, on=key, how="left", nulls_equal=True)
    for rate in spec.rates:
        if rate.numerator != count:
            continue
        den = rows[spec.denominator_of(rate)].to_numpy().astype(float)
        for i, display in enumerate(rows[f"{rate.column}_display"].to_list()):
            if not display or display[:2] not in ("<=", ">=") or np.isnan(den[i]):
                continue
            share = float(display[2:].rstrip("%")) / 100
            if display[:2] == ">=":
                lo[i] = max(lo[i], np.ceil(share * den[i] - 1e-9))
                hi[i] = min(hi[i], den[i])
            else:
                hi[i] = min(hi[i], np.floor(share * den[i] + 1e-9))


def _later_steps_bounds(mart: pl.DataFrame, out: pl.DataFrame, lo, hi) -> None:
    """program_continuum: a later step's reason code says whether its base (this step's
    student_count) is below min n."""
    scope = ["school_year", "level", "entity_code", "program_of_study_code", "career_cluster"]
    key = [*scope, "step", "credential_tier"]
    holding = mart.with_row_index("__holding").filter(pl.col("credential_tier") == "ALL")
    later = mart.select(*scope, "base_step", "step", "credential_tier").join(
        out.select(*key, "suppression_reason"), on=key, how="inner", nulls_equal=True
    )
    pairs = later.join(
        holding.select("__holding", *scope, pl.col("step").alias("base_step")),
        on=[*scope, "base_step"],
        nulls_equal=True,
    )
    for row, reason in pairs.select("__holding", "suppression_reason").iter_rows():
        if reason == "SMALL_N":
            hi[row] = min(hi[row], MIN_N - 1)
        else:
            lo[row] = max(lo[row], MIN_N)


def derivable_cells(
    spec: PublishSpec, mart: pl.DataFrame, out: pl.DataFrame, stop_after: int | None = None
) -> list[str]:
    """Withheld cells (not ranges) a reader pins to one value with an integer program over
    the sibling groups, from the published rows alone (the first ``stop_after`` found)."""
    found = []
    links = links_by_count(spec, sibling_groups(mart, spec), mart.height)
    bounds = {count: _count_bounds(spec, count, mart, out) for count in spec.counts}
    _, size_high = bounds[spec.cell_size]
    for count in spec.counts:
        lo, hi = bounds[count]
        _coded_rate_bounds(spec, mart, out, count, lo, hi)
        if any(
            r.numerator == count and spec.denominator_of(r) == spec.cell_size for r in spec.rates
        ):
            np.minimum(hi, size_high, out=hi)  # a numerator is at most its denominator
        if count == "student_count" and spec.table == "program_continuum":
            _later_steps_bounds(mart, out, lo, hi)
        truth = mart[count].cast(pl.Float64).fill_null(0.0).to_numpy()
        unknown = np.flatnonzero(hi - lo >= 1)
        eq = links[count].equations
        position = np.full(mart.height, -1)
        position[unknown] = np.arange(len(unknown))
        # sum(coef * x) = sum(coef * truth) per group; known cells move to the right.
        rhs = np.bincount(eq.group, eq.coef * truth[eq.cell], eq.groups)
        rhs -= np.bincount(
            eq.group, np.where(position[eq.cell] < 0, eq.coef * truth[eq.cell], 0), eq.groups
        )
        entries = position[eq.cell] >= 0
        matrix = csr_matrix(
            (eq.coef[entries], (eq.group[entries], position[eq.cell[entries]])),
            shape=(eq.groups, len(unknown)),
        )
        # One integer program per cell over the cells linked to it (its component).
        graph = bmat([[None, matrix], [matrix.T, None]])
        _, component = connected_components(graph, directed=False)
        component = component[eq.groups :]
        displays = mart.select(key := list(spec.primary_key)).join(
            out, on=key, how="left", nulls_equal=True
        )[f"{count}_display"]
        for k, row in enumerate(unknown.tolist()):
            if " to " in (displays[row] or ""):
                continue  # a range is published, not withheld
            cells = np.flatnonzero(component == component[k])
            sub = matrix[:, cells]
            equations = np.flatnonzero(sub.getnnz(axis=1))
            if not len(equations):
                continue
            a, b = sub[equations].toarray(), rhs[equations]
            at = int(np.searchsorted(cells, k))
            if _integer_range(a, b, lo[unknown][cells], hi[unknown][cells], at) < 1:
                found.append(f"{count} of {mart.select(key).row(row)}")
                if len(found) == stop_after:
                    return found
    return found


def test_partitions_suppressed_in_batches_give_each_partition_its_own_result(
    specs: dict[str, PublishSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two perkins partitions in one call, each in its own batch (decision 0045): the rows,
    their order and the counts are those of each partition suppressed alone."""
    spec = specs["perkins_indicators"]
    cases = ["perkins_thin_state_cluster", "perkins_range_straddling_a_hundred"]
    alone = [_suppressed(specs, "perkins_indicators", case)[2] for case in cases]
    both = pl.concat([pl.read_parquet(CASES / f"{case}.parquet") for case in cases])
    monkeypatch.setattr(suppression, "BATCH_ROWS", 1)
    together = suppress(both, spec, SuppressionRules())
    key = list(spec.primary_key)
    expected = pl.concat([table.frame for table in alone]).sort(key, nulls_last=True)
    assert together.frame.equals(expected)
    assert together.ranged_counts == sum(t.ranged_counts for t in alone) > 0
    assert together.omitted_rows == sum(t.omitted_rows for t in alone) > 0
