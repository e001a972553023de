"""A value derived from another published table's row is hidden where that row is hidden."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from manifest_nodes import published_model

from dagster_project.publish.from_published import derive_from_published
from dagster_project.publish.linked import LinkError, check_copies_hidden, hide_linked
from dagster_project.publish.spec import (
    BelowFlag,
    Difference,
    HiddenWith,
    PublishSpec,
    PublishSpecError,
    RateSpec,
    load_publish_specs,
    spec_from_node,
)
from dagster_project.publish.suppression import (
    COMPLEMENTARY_DISPLAY,
    RANGE_SEPARATOR,
    SuppressionRules,
    suppress,
)


def _spec(table: str, hidden_with=()) -> PublishSpec:
    return PublishSpec(
        table=table,
        unique_id=f"model.x.{table}",
        relation=table,
        grain="",
        description="",
        primary_key=("entity",),
        cell_size="n",
        counts=("n",),
        rates=(),
        derived=(),
        sibling_sets=(),
        column_descriptions={},
        hidden_with=tuple(hidden_with),
    )


def linked(tables: dict[str, pl.DataFrame], specs: list[PublishSpec]) -> dict[str, pl.DataFrame]:
    """The tables after hide_linked and derive_from_published, run as the publish runs
    them: in DuckDB."""
    con = duckdb.connect()
    for name, frame in tables.items():
        con.register("f", frame.with_row_index("__row").to_arrow())
        con.execute(f'create table "{name}" as select * from f')
        con.unregister("f")
    hide_linked(con, specs, SuppressionRules())
    derive_from_published(con, specs)
    return {
        name: con.sql(f'select * exclude (__row) from "{name}" order by __row').pl()
        for name in tables
    }


def test_gap_is_hidden_where_the_all_students_rate_is_hidden():
    perkins = pl.DataFrame(
        {
            "entity": ["a", "b", "a", "b"],
            "group_type": ["all", "all", "sex", "sex"],
            "rate": [None, 0.5, 0.4, 0.6],  # a's all-students rate was suppressed
        }
    )
    gaps = pl.DataFrame(
        {
            "entity": ["a", "b", "c"],
            "group_rate": [0.4, 0.6, 0.7],
            "all_students_rate": [0.45, 0.5, 0.6],
            "gap": [-0.05, 0.1, 0.1],
        }
    )
    link = HiddenWith(
        "perkins", ("entity",), {"group_type": "all"}, "rate", ("all_students_rate", "gap")
    )
    tables = {"perkins": perkins, "gaps": gaps}
    out = linked(tables, [_spec("perkins"), _spec("gaps", [link])])["gaps"]
    assert out["entity"].to_list() == ["a", "b", "c"]
    assert out["gap"].to_list() == [None, 0.1, None]  # c: no published all-students row
    assert out["all_students_rate"].to_list() == [None, 0.5, None]
    assert out["group_rate"].to_list() == [0.4, 0.6, 0.7]


def test_a_copy_follows_its_source_withheld_or_left_out():
    """A row that copies another table's cell (equity_gaps of perkins_indicators): withheld
    where the source is, with a reason, and left out where no source row is published
    (``unmatched: omit``: rule 0 left it out)."""
    source = pl.DataFrame(
        {"entity": ["a", "b"], "n": [None, 40], "suppression_reason": ["COMPLEMENTARY", None]}
    )
    copy = pl.DataFrame(
        {
            "entity": ["a", "b", "c", "d"],
            "n": [25, 40, 3, 12],
            "suppression_reason": [None, None, "SMALL_N", None],
        }
    )
    omit = HiddenWith("source", ("entity",), {}, "n", ("n",), omit_unmatched=True)
    out = linked({"source": source, "copy": copy}, [_spec("source"), _spec("copy", [omit])])
    assert out["copy"]["entity"].to_list() == ["a", "b"]
    assert out["copy"]["n"].to_list() == [None, 40]
    assert out["copy"]["suppression_reason"].to_list() == ["COMPLEMENTARY", None]


def test_a_copy_of_a_ranged_cell_is_published_as_the_same_range_not_withheld():
    """Issue 15: where the source publishes a complement as a range, the copy shows that
    range (and its rate as the range the counts give) instead of withholding the row: no
    more than the source shows, and the cell is still there for the reader."""
    source = pl.DataFrame(
        {
            "entity": ["a", "b", "c"],
            "n": [None, None, 40],
            "n_display": ["4,120 to 4,129", "suppressed (complementary)", "40"],
            "suppression_reason": [None, "COMPLEMENTARY", None],
        }
    )
    copy = pl.DataFrame(
        {
            "entity": ["a", "b", "c"],
            "n": [4123, 25, 40],
            "n_display": ["4,123", "25", "40"],
            "k": [3601, 20, 30],
            "k_display": ["3,601", "20", "30"],
            "rate": [3601 / 4123, 0.8, 0.75],
            "rate_display": ["87.3%", "80.0%", "75.0%"],
            "suppression_reason": [None, None, None],
        }
    )
    spec = replace(
        _spec("copy"),
        counts=("n", "k"),
        rates=(RateSpec("rate", numerator="k"),),
        hidden_with=(HiddenWith("source", ("entity",), {}, "n", ("n",)),),
    )
    out = linked({"source": source, "copy": copy}, [_spec("source"), spec])["copy"]
    assert out["n"].to_list() == [None, None, 40]
    assert out["n_display"].to_list() == ["4,120 to 4,129", COMPLEMENTARY_DISPLAY, "40"]
    assert out["k_display"].to_list() == ["3,601", "20", "30"]
    # 3,601 of 4,120 to 4,129: 87.2% to 87.5% (rounded outwards to a tenth)
    assert out["rate_display"].to_list() == ["87.2% to 87.5%", COMPLEMENTARY_DISPLAY, "75.0%"]
    assert out["rate"].to_list()[:2] == [None, None]
    assert out["suppression_reason"].to_list() == [None, None, None]  # k is still shown


def test_a_copy_of_a_coarse_range_is_as_coarse_even_where_another_link_ranged_it():
    """A range grown tenfold in the source (decision 0037) is copied that wide: a copy of
    ten would show what the source needed a hundred to hide. Here a first link already
    ranged the copy's n by ten (through k's source); the second widens it."""
    source = pl.DataFrame(
        {
            "entity": ["a", "b"],
            "n": [None, 40],
            "n_display": ["4,100 to 4,199", "40"],
            "k": [None, 30],
            "k_display": ["3,600 to 3,609", "30"],
            "suppression_reason": [None, None],
        }
    )
    copy = pl.DataFrame(
        {
            "entity": ["a", "b"],
            "n": [4123, 40],
            "n_display": ["4,123", "40"],
            "k": [3601, 30],
            "k_display": ["3,601", "30"],
            "rate": [3601 / 4123, 0.75],
            "rate_display": ["87.3%", "75.0%"],
            "suppression_reason": [None, None],
        }
    )
    links = (
        HiddenWith("source", ("entity",), {}, "k", ("k", "n")),
        HiddenWith("source", ("entity",), {}, "n", ("n",)),
    )
    spec = replace(
        _spec("copy"),
        counts=("n", "k"),
        rates=(RateSpec("rate", numerator="k"),),
        hidden_with=links,
    )
    source_spec = replace(_spec("source"), counts=("n", "k"))
    out = linked({"source": source, "copy": copy}, [source_spec, spec])["copy"]
    assert out["n_display"].to_list() == ["4,100 to 4,199", "40"]
    assert out["k_display"].to_list() == ["3,600 to 3,609", "30"]
    # 3,600 to 3,609 of 4,100 to 4,199: 85.7% to 88.1%
    assert out["rate_display"].to_list() == ["85.7% to 88.1%", "75.0%"]


def test_unmatched_rows_are_not_shown_against_a_table_that_leaves_rows_out(tmp_path):
    """A left-out row is unmatched too: showing unmatched rows would show its copy."""
    spec = {
        "grain": "g",
        "primary_key": ["entity", "parent"],
        "cell_size": "n",
        "counts": ["n"],
        "sibling_sets": [{"columns": ["parent"], "total": {"entity": "ALL"}}],
    }
    copy = {
        "grain": "g",
        "primary_key": ["entity"],
        "cell_size": "n",
        "hidden_with": [
            {
                "table": "source",
                "key": ["entity"],
                "column": "n",
                "hide": ["n"],
                "unmatched": "show",
            }
        ],
    }
    nodes = {
        f"model.x.{name}": published_model(f"model.x.{name}", block)
        for name, block in (("source", spec), ("copy", copy))
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}))
    with pytest.raises(PublishSpecError, match="cannot show unmatched rows"):
        load_publish_specs(manifest)


# --- program_continuum: a step's count is the next step's base ---------------------------

# (step, credential tier, base step) as in dbt/models/marts/perkins/program_continuum.sql
CONTINUUM = [
    ("participants", "ALL", "enrolled_hs"),
    ("concentrators", "ALL", "participants"),
    ("work_based_learning", "ALL", "concentrators"),
    ("dual_credit", "ALL", "concentrators"),
    ("credential_earners", "ALL", "concentrators"),
    ("credential_tier", "1", "credential_earners"),
    ("credential_tier", "2", "credential_earners"),
    ("credential_tier", "3", "credential_earners"),
    ("credential_tier", "UNRATED", "credential_earners"),
    ("graduates", "ALL", "concentrators"),
    ("placed", "ALL", "graduates"),
]


def _school_counts(rng: np.random.Generator) -> dict[str, int]:
    """One school's count at each step (and tier), each a random share of its base."""
    counts = {"enrolled_hs": int(rng.integers(5, 120))}
    for step, _tier, base in CONTINUUM:
        if step != "credential_tier":
            # Shares near 0 and 1 are common, so rates get top and bottom coded.
            share = float(rng.choice([rng.uniform(0, 0.1), rng.uniform(0.9, 1), rng.uniform()]))
            counts[step] = round(counts[base] * share)
    tiers = rng.multinomial(counts["credential_earners"], rng.dirichlet(np.ones(4)))
    for (_, tier, _), n in zip(CONTINUUM[5:9], tiers, strict=True):
        counts[f"tier_{tier}"] = int(n)
    return counts


def continuum_rows(rng: np.random.Generator, schools: int) -> pl.DataFrame:
    """program_continuum's shape for one program: schools and their district (the sum)."""
    entities = {f"D1-S{s}": _school_counts(rng) for s in range(schools)}
    entities["D1"] = {k: sum(c[k] for c in entities.values()) for k in entities["D1-S0"]}
    rows = []
    for entity, counts in entities.items():
        for order, (step, tier, base) in enumerate(CONTINUUM, start=1):
            student_count = counts[f"tier_{tier}" if step == "credential_tier" else step]
            rows.append(
                {
                    "school_year": 2025,
                    "level": "district" if entity == "D1" else "school",
                    "entity_code": entity,
                    "parent_entity_code": "NM" if entity == "D1" else "D1",
                    "program_of_study_code": "P1",
                    "career_cluster": "C1",
                    "step_order": order,
                    "step": step,
                    "credential_tier": tier,
                    "base_step": base,
                    "student_count": student_count,
                    "base_count": counts[base],
                }
            )
    return pl.DataFrame(rows).with_columns(
        rate_of_base=pl.when(pl.col("base_count") > 0).then(
            pl.col("student_count") / pl.col("base_count")
        )
    )


def _gives_away_base(row: dict) -> bool:
    """Does this published row tell its base count (shown, or student_count over a rate)?"""
    if row["base_count"] is not None:
        return True
    rate_shown = row["rate_of_base"] is not None or not str(
        row["rate_of_base_display"] or ""
    ).startswith("suppressed")
    return bool(row["student_count"]) and rate_shown


def test_no_hidden_step_count_reappears_as_a_later_steps_base(dbt_manifest: Path) -> None:
    """Attack as a reader would: for each withheld student_count, read the rows whose
    base_step is that step (same entity, program scope and year)."""
    (spec,) = [s for s in load_publish_specs(dbt_manifest) if s.table == "program_continuum"]
    rules = SuppressionRules(min_n=10)
    attacked = recovered = kept = 0
    scope = ["school_year", "level", "entity_code", "program_of_study_code", "career_cluster"]
    for seed in range(20):
        rng = np.random.default_rng(seed)
        before = suppress(continuum_rows(rng, int(rng.integers(2, 5))), spec, rules).frame
        out = linked({spec.table: before}, [spec])[spec.table]
        hidden = out.filter(pl.col("student_count").is_null(), pl.col("credential_tier") == "ALL")
        ranged = pl.col("student_count_display").str.contains(RANGE_SEPARATOR)
        withheld = hidden.filter(~ranged).select(*scope, base_step=pl.col("step"))
        dependents = out.join(withheld, on=[*scope, "base_step"])
        attacked += dependents.height
        recovered += sum(_gives_away_base(r) for r in dependents.iter_rows(named=True))
        # A base published as a range is repeated as that range, never as its value.
        ranges = hidden.filter(ranged).select(
            *scope, base_step=pl.col("step"), range=pl.col("student_count_display")
        )
        on_ranges = out.join(ranges, on=[*scope, "base_step"])
        assert on_ranges["base_count"].null_count() == on_ranges.height
        for shown, source in on_ranges.select("base_count_display", "range").iter_rows():
            assert shown == source or shown.startswith("suppressed"), (shown, source)
        # Not more than that: rows whose base step's count is shown (or is no row:
        # participants) are as the suppression left them.
        others = out.join(
            hidden.select(*scope, base_step=pl.col("step")), on=[*scope, "base_step"], how="anti"
        )
        assert others.equals(
            before.join(
                hidden.select(*scope, base_step=pl.col("step")),
                on=[*scope, "base_step"],
                how="anti",
            )
        )
        kept += others.filter(
            pl.col("step") == "participants", pl.col("base_count").is_not_null()
        ).height
    print(f"\ncontinuum: {attacked} rows based on a withheld count, {recovered} give it away")
    assert attacked > 50, "the synthetic tables must withhold counts that later steps build on"
    assert recovered == 0
    assert kept > 0, "participants' base (enrolled in high school) is no row: it stays"


def test_no_withheld_credential_tier_follows_from_the_other_tiers(dbt_manifest: Path) -> None:
    """The four tiers add up to the credential earners: with the earners' count shown, one
    withheld tier beside three shown ones is a subtraction away."""
    (spec,) = [s for s in load_publish_specs(dbt_manifest) if s.table == "program_continuum"]
    scope = ["school_year", "level", "entity_code"]
    withheld = exposed = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        rows = continuum_rows(rng, int(rng.integers(2, 5)))
        suppressed = suppress(rows, spec, SuppressionRules(min_n=10)).frame
        out = linked({spec.table: suppressed}, [spec])[spec.table]
        tiers = (
            out.filter(pl.col("step") == "credential_tier")
            .group_by(scope)
            # withheld: no value and no range. A range is published (decision 0012): a lone
            # range may be worked out, a lone withheld tier may not.
            .agg(
                unknown=pl.col("student_count").null_count(),
                hidden=(
                    pl.col("student_count").is_null()
                    & ~pl.col("student_count_display").str.contains(RANGE_SEPARATOR, literal=True)
                ).sum(),
            )
        )
        earners = out.filter(pl.col("step") == "credential_earners").select(
            *scope, earners=pl.col("student_count")
        )
        groups = tiers.join(earners, on=scope)
        withheld += groups["hidden"].sum()
        exposed += groups.filter(
            pl.col("unknown") == 1, pl.col("hidden") == 1, pl.col("earners").is_not_null()
        ).height
    print(f"\ncredential tiers: {withheld} withheld tier counts, {exposed} recoverable")
    assert withheld > 50, "the synthetic tables must withhold some tier counts"
    assert exposed == 0


def _step_count_range(row: dict, later_reasons: list[str | None]) -> tuple[float, float]:
    """What a reader knows of a withheld student_count: its own row's range (coded display,
    at most the base), then each later step's reason code: small n means that step's base,
    this count, is under 10; any other reason or none, at least 10."""
    lo, hi = 0.0, math.inf
    base, display = row["base_count"], str(row["rate_of_base_display"] or "")
    if row["suppression_reason"] == "SMALL_N":
        hi = 9
    elif row["suppression_reason"] is None and base is not None:
        hi = base
        if display.startswith(">="):
            lo = math.ceil(float(display[2:-1]) / 100 * base - 1e-9)
        elif display.startswith("<="):
            hi = math.floor(float(display[2:-1]) / 100 * base + 1e-9)
    for reason in later_reasons:
        if reason == "SMALL_N":
            hi = min(hi, 9)
        else:
            lo = max(lo, 10)
    return lo, hi


def test_no_step_count_follows_from_its_range_and_a_later_steps_reason(
    dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """9 of a base of 10 shows as ">=90%" (9 or 10); the next step's base is that 9, so its
    row is withheld for small n (under 10): together, exactly 9. The coded rate must go."""
    (spec,) = [s for s in load_publish_specs(dbt_manifest) if s.table == "program_continuum"]
    scope = ["school_year", "level", "entity_code", "program_of_study_code", "career_cluster"]

    def pinned_counts() -> tuple[int, int]:
        attacked = pinned = 0
        for seed in range(40):
            rng = np.random.default_rng(seed)
            table = suppress(continuum_rows(rng, 3), spec, SuppressionRules()).frame
            out = linked({spec.table: table}, [spec])[spec.table]
            later = out.group_by(*scope, "base_step").agg(reasons=pl.col("suppression_reason"))
            withheld = out.filter(
                pl.col("student_count").is_null(), pl.col("credential_tier") == "ALL"
            ).join(later, left_on=[*scope, "step"], right_on=[*scope, "base_step"])
            for row in withheld.iter_rows(named=True):
                lo, hi = _step_count_range(row, row["reasons"])
                attacked += 1
                pinned += hi - lo < 1
        return attacked, pinned

    attacked, pinned = pinned_counts()
    print(f"\ncontinuum: {attacked} withheld counts with a later step, {pinned} pinned")
    assert attacked > 100 and pinned == 0
    monkeypatch.setattr(
        "dagster_project.publish.complements.ComplementSearch._uncode_pinned_by_repeats",
        lambda self, count, unknown, lo, hi: False,
    )
    assert pinned_counts()[1] > 0, "the synthetic tables must hold such cells"


def test_hidden_with_refuses_options_it_does_not_know() -> None:
    # YAML 1.1 reads a key named `on` as true: the link would silently match on less.
    link = {"table": "t", "key": ["entity"], True: {"step": "base_step"}, "column": "n"}
    node = published_model(
        "model.x.t",
        {
            "grain": "g",
            "primary_key": ["entity"],
            "cell_size": "n",
            "hidden_with": [link | {"hide": ["base"]}],
        },
    )
    with pytest.raises(PublishSpecError, match="does not know"):
        spec_from_node(node)


def test_a_link_whose_key_shares_no_value_is_logged(caplog: pytest.LogCaptureFixture):
    # A school's entity_code is "district-location" in the linked table; a key that takes it
    # from the bare location code matches nothing and would withhold every row unnoticed.
    perkins = pl.DataFrame({"entity": ["001-010", "002-010"], "n": [40, 50]})
    quality = pl.DataFrame(
        {"location": ["010", "010"], "district": ["001", "002"], "n": [40, 50]}
    ).with_columns(suppression_reason=pl.lit(None, pl.String))
    link = HiddenWith(
        table="perkins", key=(), where={}, key_from={"entity": "location"}, column="n", hide=("n",)
    )
    owner = replace(_spec("quality", [link]), primary_key=("district", "location"))
    with caplog.at_level("WARNING", logger="dagster_project.publish.linked"):
        out = linked({"perkins": perkins, "quality": quality}, [_spec("perkins"), owner])
    assert "no value of location is a value of perkins.entity" in caplog.text
    assert out["quality"]["n"].to_list() == [None, None]


def test_a_copy_of_a_small_cell_says_small_not_complementary():
    # publication_summary counts a complement as withheld and a small part as shown: a copy
    # must carry its source's reason, not a complement's.
    source = pl.DataFrame(
        {"entity": ["a", "b", "c"], "n": [None, 40, None]},
        schema_overrides={"n": pl.Int64},
    ).with_columns(
        n_display=pl.Series(["suppressed (n<10)", "40", COMPLEMENTARY_DISPLAY]),
        suppression_reason=pl.Series(["SMALL_N", None, "COMPLEMENTARY"]),
    )
    copy = pl.DataFrame({"entity": ["a", "b", "c"], "n": [5, 40, 12]}).with_columns(
        n_display=pl.Series(["5", "40", "12"]), suppression_reason=pl.lit(None, pl.String)
    )
    link = HiddenWith(table="source", key=("entity",), where={}, column="n", hide=("n",))
    out = linked({"source": source, "copy": copy}, [_spec("source"), _spec("copy", [link])])
    assert out["copy"]["n_display"].to_list() == [
        "suppressed (n<10)",
        "40",
        COMPLEMENTARY_DISPLAY,
    ]
    assert out["copy"]["n"].to_list() == [None, 40, None]


def test_a_copy_with_no_published_source_says_small_where_it_is_small():
    """program_quality copies a school's 1S1 cohort; where rule 0 left that row out of
    perkins_indicators (or there is none) a reader knows it is empty or small, so a copy
    under min n says small (shown, in publication_summary), one of min n or more stays a
    complement (a missing source row of a large cell is not what rule 0 leaves out)."""
    source = pl.DataFrame({"entity": ["b"], "n": [40]}).with_columns(
        n_display=pl.Series(["40"]), suppression_reason=pl.lit(None, pl.String)
    )
    copy = pl.DataFrame({"entity": ["a", "b", "c", "d"], "n": [4, 40, 12, 0]}).with_columns(
        n_display=pl.Series(["4", "40", "12", "0"]), suppression_reason=pl.lit(None, pl.String)
    )
    link = HiddenWith(table="source", key=("entity",), where={}, column="n", hide=("n",))
    out = linked({"source": source, "copy": copy}, [_spec("source"), _spec("copy", [link])])
    assert out["copy"]["n_display"].to_list() == [
        "suppressed (n<10)",
        "40",
        COMPLEMENTARY_DISPLAY,
        "suppressed (n<10)",
    ]
    assert out["copy"]["n"].to_list() == [None, 40, None, None]


def test_a_coded_copy_of_a_coded_value_stays_coded():
    """Issue 15: equity_gaps withheld 19,000 state-scale cells whose perkins_indicators
    source is published coded (">=22", ">=90%"): a copy coded by the same rule shows no
    more than its source. A copy its source withholds is still withheld."""
    source = pl.DataFrame(
        {
            "entity": ["a", "b"],
            "n": [None, None],
            "n_display": [">=22", COMPLEMENTARY_DISPLAY],
            "suppression_reason": [None, None],
        },
        schema_overrides={"n": pl.Int64},
    )
    copy = pl.DataFrame(
        {
            "entity": ["a", "b"],
            "d": [24, 30],
            "n": [None, None],
            "n_display": [">=22", ">=27"],
            "rate": [None, None],
            "rate_display": [">=90%", ">=90%"],
            "suppression_reason": [None, None],
        },
        schema_overrides={"n": pl.Int64, "rate": pl.Float64},
    )
    spec = replace(
        _spec("copy"),
        cell_size="d",
        counts=("d", "n"),
        rates=(RateSpec("rate", numerator="n", denominator="d"),),
        hidden_with=(HiddenWith("source", ("entity",), {}, "n", ("n",)),),
    )
    out = linked({"source": source, "copy": copy}, [_spec("source"), spec])["copy"]
    assert out["n_display"].to_list() == [">=22", COMPLEMENTARY_DISPLAY]
    assert out["rate_display"].to_list() == [">=90%", COMPLEMENTARY_DISPLAY]


def test_a_copy_shown_where_its_source_is_hidden_stops_the_publish():
    """The guard after each link: at state scale 81 equity_gaps rows were shown while their
    perkins_indicators row was withheld (the flags went by rowid, which a checkpoint
    renumbers). Such a table is refused, not published."""
    con = duckdb.connect()
    con.execute("create table source as select * from (values ('a', null), ('b', 40)) v(entity, n)")
    con.execute("create table copy as select * from (values ('a', 12), ('b', 40)) v(entity, n)")
    link = HiddenWith("source", ("entity",), {}, "n", ("n",))
    with pytest.raises(LinkError, match="1 row"):
        check_copies_hidden(con, _spec("copy", [link]), link)
    con.execute("update copy set n = null where entity = 'a'")
    check_copies_hidden(con, _spec("copy", [link]), link)


def test_gap_is_hidden_where_the_all_students_rate_is_a_range():
    """At state scale 10,776 equity_gaps rows showed the exact all-students rate and gap
    where perkins_indicators publishes that rate as a range (a complement, perhaps the
    state's headline): the gap gave the ranged rate, so its numerator, away."""
    perkins = pl.DataFrame(
        {
            "entity": ["a", "b"],
            "group_type": ["all", "all"],
            "rate": [None, 0.5],
            "rate_display": ["87.3% to 87.6%", "50.0%"],
        }
    )
    gaps = pl.DataFrame(
        {"entity": ["a", "b"], "all_students_rate": [0.8751, 0.5], "gap": [-0.05, 0.1]}
    )
    link = HiddenWith(
        "perkins", ("entity",), {"group_type": "all"}, "rate", ("all_students_rate", "gap")
    )
    out = linked({"perkins": perkins, "gaps": gaps}, [_spec("perkins"), _spec("gaps", [link])])
    assert out["gaps"]["all_students_rate"].to_list() == [None, 0.5]
    assert out["gaps"]["gap"].to_list() == [None, 0.1]


# The all-students rates as perkins_indicators publishes them: a range, exact, coded,
# withheld, and two ranges.
ALL_STUDENTS_DISPLAYS = [
    "81.6% to 81.8%",
    "50.0%",
    ">=95%",
    COMPLEMENTARY_DISPLAY,
    "40.0% to 41.0%",
    "40.0% to 41.0%",
]


def _gap_tables(all_students_rate: list[float | None]) -> dict[str, pl.DataFrame]:
    perkins = pl.DataFrame(
        {
            "entity": list("abcdef"),
            "group_type": ["all"] * 6,
            "rate": [None, 0.5, None, None, None, None],
            "rate_display": ALL_STUDENTS_DISPLAYS,
        }
    )
    group_rate = [0.70, 0.55, 0.91, 0.6, None, None]
    gaps = pl.DataFrame(
        {
            "entity": list("abcdef"),
            "group_rate": group_rate,
            "group_rate_display": [
                *("70.0%", "55.0%", "91.0%", "60.0%"),
                *("30.0% to 32.0%", "20.0% to 22.0%"),
            ],
            "all_students_rate": all_students_rate,
            "gap": [
                (g if g is not None else 0.31) - a
                for g, a in zip(group_rate, all_students_rate, strict=True)
            ],
            "flag": [False] * 6,  # the mart's value; only the exact row keeps it
        }
    )
    return {"perkins": perkins, "gaps": gaps}


def _gap_spec() -> PublishSpec:
    link = HiddenWith(
        "perkins",
        ("entity",),
        {"group_type": "all"},
        "rate",
        ("all_students_rate", "gap", "flag"),
        display_as="all_students_rate",
    )
    return replace(
        _spec("gaps", [link]),
        derived=("all_students_rate", "gap", "flag"),
        differences=(Difference("gap", "group_rate", "all_students_rate", "flag", 0.10),),
    )


def test_a_gap_to_a_ranged_or_coded_rate_is_the_range_the_published_rates_give():
    """Issue 15: every 2025 state gap was null at state scale, because the state's
    all-students rates are published as ranges. The gap is now the range the two published
    rates give, rounded outwards, and its flag is set where that range is on one side of the
    threshold. Computed from displays alone: other hidden values give the same output."""
    specs = [_spec("perkins"), _gap_spec()]
    out = linked(_gap_tables([0.817, 0.5, 0.97, 0.66, 0.405, 0.405]), specs)["gaps"]
    assert out["all_students_rate_display"].to_list() == ALL_STUDENTS_DISPLAYS
    assert out["gap_display"].to_list() == [
        "-11.8 pts to -11.6 pts",  # 70% against 81.6-81.8%
        "5.0 pts",  # both exact: the exact gap, as before
        "-9.0 pts to -4.0 pts",  # 91% against >=95%
        None,  # the all-students rate is withheld
        "-11.0 pts to -8.0 pts",  # 30-32% against 40-41%: straddles -10
        "-21.0 pts to -18.0 pts",
    ]
    assert out["flag"].to_list() == [True, False, False, None, None, True]
    assert [g is None for g in out["gap"].to_list()] == [True, False, True, True, True, True]
    assert out["all_students_rate"].to_list() == [None, 0.5, None, None, None, None]
    # What the working mart holds behind the ranges changes nothing published.
    other = linked(_gap_tables([0.8161, 0.5, 0.999, 0.7, 0.4099, 0.4001]), specs)["gaps"]
    assert other.drop("gap").equals(out.drop("gap"))


def test_a_difference_must_be_derived_and_between_quoted_rates():
    node = published_model(
        "model.x.gaps",
        {
            "primary_key": ["entity"],
            "grain": "g",
            "cell_size": "n",
            "rates": ["rate"],
            "derived": ["gap"],
            "differences": [{"column": "gap", "of": "rate", "minus": "other_rate"}],
        },
    )
    with pytest.raises(PublishSpecError, match="other_rate"):
        spec_from_node(node)
    node["config"]["meta"]["publish"]["differences"][0] |= {"column": "shown", "minus": "rate"}
    with pytest.raises(PublishSpecError, match="not derived"):
        spec_from_node(node)


def test_equity_gaps_declares_its_gap_with_the_dbt_threshold(dbt_manifest: Path) -> None:
    [spec] = [s for s in load_publish_specs(dbt_manifest) if s.table == "equity_gaps"]
    [difference] = spec.differences
    assert (difference.column, difference.flag, difference.threshold) == (
        "gap",
        "is_gap_above_threshold",
        0.1,
    )
    assert [link.display_as for link in spec.hidden_with if link.display_as] == [
        "all_students_rate"
    ]


def test_a_trigger_flag_is_set_where_the_published_range_decides_it():
    """At state scale no school's 1S1 trigger flag was published (most rates are ranges or
    coded), so the analyst guide's question 5 listed no school. The flag is now set where
    the published rate's bounds lie wholly below, or wholly at or above, the trigger."""
    table = pl.DataFrame(
        {
            "entity": list("abcdefg"),
            "rate": [0.5, None, None, None, None, None, None],
            "rate_display": [
                *("50.0%", "70.0% to 72.0%", "77.0% to 80.0%", ">=90%", "<=5%"),
                *(COMPLEMENTARY_DISPLAY, "81.0% to 82.0%"),
            ],
            "state_target": [0.87] * 6 + [None],
            "is_complete": [True] * 7,
            # d: a flag left from an earlier publish (a reused row): recomputed too
            "flag": [True, None, None, True, None, None, None],
        }
    ).with_columns(
        pl.when(pl.col("entity") == "c").then(False).otherwise(True).alias("is_complete")
    )
    spec = replace(
        _spec("perkins"),
        rates=(RateSpec("rate"),),
        derived=("flag",),
        below_flags=(BelowFlag("flag", "rate", "state_target", 0.9, "is_complete"),),
    )
    out = linked({"perkins": table}, [spec])["perkins"]
    # trigger 0.9 x 0.87 = 78.3%: c straddles it but is incomplete; g has no target
    assert out["flag"].to_list() == [True, True, None, False, True, None, None]
