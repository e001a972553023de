"""Publishing in chunks of partitions (publish/chunks.py, staging.py): the same snapshot as
suppressing each table whole, whatever the chunk size and worker count, and a publish after
a change suppresses again only the partitions the change reaches.

A synthetic warehouse of three school years shaped like perkins_indicators (sibling groups
with totals, partitions by school year and indicator), equity_gaps (a hidden_with link to
it) and a table without sibling sets (every row its own partition).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from manifest_nodes import published_model

from dagster_project.publish import (
    PublishOptions,
    chunks,
    load_publish_specs,
    publish_snapshot,
    rollback,
)
from dagster_project.publish.from_published import derive_from_published
from dagster_project.publish.linked import hide_linked
from dagster_project.publish.spec import PublishSpecError, spec_from_node
from dagster_project.publish.store import FINGERPRINTS_FILE, VERSIONS_DIR
from dagster_project.publish.suppression import SuppressionRules, suppress

MIN_N = 10
SUPPRESSED = ("suppressed_partitions", "suppressed_chunks")
YEARS = (2023, 2024, 2025)
INDICATORS = ("1S1", "2S1")
PK = ["school_year", "indicator_code", "level", "entity_code", "group_type", "group_value"]
PUBLISH = {
    "indicators": {
        "grain": "one row per year, indicator, entity and student group",
        "primary_key": PK,
        "cell_size": "denominator",
        "counts": ["numerator", "denominator"],
        "rates": [{"column": "rate", "numerator": "numerator", "denominator": "denominator"}],
        "sibling_sets": [
            {
                "columns": PK[:5],
                "total": {"group_type": "ALL", "group_value": "ALL"},
            },
            {
                "columns": [*PK[:3], "parent_entity_code", *PK[4:]],
                "total": {
                    "level": {"map": {"school": "district"}},
                    "entity_code": {"from": "parent_entity_code"},
                },
            },
        ],
    },
    "gaps": {
        "grain": "one row per year, indicator, entity and student group (not all students)",
        "primary_key": PK,
        "cell_size": "denominator",
        "counts": ["numerator", "denominator"],
        "rates": [{"column": "group_rate", "numerator": "numerator", "denominator": "denominator"}],
        "derived": ["all_students_rate", "gap"],
        "sibling_sets": [PK[:5]],
        "hidden_with": [
            {
                "table": "indicators",
                "key": PK[:4],
                "where": {"group_type": "ALL", "group_value": "ALL"},
                "column": "rate",
                "hide": ["all_students_rate", "gap"],
                "display_as": "all_students_rate",
            }
        ],
        # A column derived from published values (from_published.py): reused rows hold it.
        "differences": [{"column": "gap", "of": "group_rate", "minus": "all_students_rate"}],
    },
    "programs": {
        "grain": "one row per year and program",
        "primary_key": ["school_year", "program"],
        "cell_size": "participants",
        "counts": ["participants", "concentrators"],
        "rates": ["concentration_rate"],
    },
}


def write_manifest(path: Path) -> Path:
    nodes = {
        f"model.test.{name}": published_model(f"model.test.{name}", block)
        for name, block in PUBLISH.items()
    }
    path.write_text(json.dumps({"metadata": {}, "nodes": nodes}))
    return path


def _groups(rng: np.random.Generator, schools: int) -> list[tuple]:
    """(level, entity, parent, group type, group value, numerator, denominator): schools'
    sex groups, their all-students rows, and the district's sums of both."""
    cells = []
    for s in range(schools):
        for sex in ("F", "M"):
            den = int(rng.integers(3, 40))
            cells.append(("school", f"S{s}", "D1", "sex", sex, int(rng.integers(0, den + 1)), den))
    for s in range(schools):
        parts = [c for c in cells if c[1] == f"S{s}"]
        num, den = sum(c[5] for c in parts), sum(c[6] for c in parts)
        cells.append(("school", f"S{s}", "D1", "ALL", "ALL", num, den))
    for group in {(c[3], c[4]) for c in cells}:
        parts = [c for c in cells if (c[3], c[4]) == group and c[0] == "school"]
        cells.append(
            ("district", "D1", "NM", *group, sum(c[5] for c in parts), sum(c[6] for c in parts))
        )
    return cells


_COLUMNS = ["level", "entity_code", "parent_entity_code", "group_type", "group_value"]


def indicator_rows(year: int, indicator: str, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng([year, INDICATORS.index(indicator), seed])
    frame = pl.DataFrame(
        _groups(rng, int(rng.integers(3, 7))),
        schema=[*_COLUMNS, "numerator", "denominator"],
        orient="row",
    )
    return frame.with_columns(
        school_year=pl.lit(year),
        indicator_code=pl.lit(indicator),
        rate=pl.col("numerator") / pl.col("denominator"),
    )


def gap_rows(year: int, indicator: str, seed: int) -> pl.DataFrame:
    rows = indicator_rows(year, indicator, seed + 100)
    everyone = rows.filter(pl.col("group_type") == "ALL").select(
        "level", "entity_code", all_students_rate="rate"
    )
    return (
        rows.filter(pl.col("group_type") != "ALL")
        .join(everyone, on=["level", "entity_code"])
        .rename({"rate": "group_rate"})
        .with_columns(gap=pl.col("group_rate") - pl.col("all_students_rate"))
    )


def program_rows(year: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng([year, seed, 7])
    participants = rng.integers(1, 60, size=6)
    return pl.DataFrame(
        {
            "school_year": year,
            "program": [f"P{i}" for i in range(len(participants))],
            "participants": participants,
            "concentrators": [int(rng.integers(0, p + 1)) for p in participants],
        }
    ).with_columns(concentration_rate=pl.col("concentrators") / pl.col("participants"))


def marts(seeds: dict[tuple[str, int], int] | None = None) -> dict[str, pl.DataFrame]:
    """The three marts; ``seeds`` changes one table's rows of one school year."""
    seeds = seeds or {}
    return {
        "indicators": pl.concat(
            indicator_rows(y, i, seeds.get(("indicators", y), 0)) for y in YEARS for i in INDICATORS
        ),
        "gaps": pl.concat(
            gap_rows(y, i, seeds.get(("gaps", y), 0)) for y in YEARS for i in INDICATORS
        ),
        "programs": pl.concat(program_rows(y, seeds.get(("programs", y), 0)) for y in YEARS),
    }


def write_warehouse(path: Path, tables: dict[str, pl.DataFrame]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        for name, frame in tables.items():
            con.register("f", frame.to_arrow())
            con.execute(f"create or replace table marts.{name} as select * from f")
            con.unregister("f")
    finally:
        con.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    paths = {"warehouse": tmp_path / "cte.duckdb", "manifest": write_manifest(tmp_path / "m.json")}
    write_warehouse(paths["warehouse"], marts())
    return paths


def publish(env: dict[str, Path], folder: Path, **options):
    return publish_snapshot(
        env["warehouse"],
        folder,
        env["manifest"],
        SuppressionRules(min_n=MIN_N),
        blocking_failures=[],
        manifest_ids=[1],
        code_version="test",
        options=PublishOptions(**options),
    )


def tables_of(path: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.sql(f'select * from "{name}"').pl() for name in PUBLISH}
    finally:
        con.close()


def whole_tables(env: dict[str, Path]) -> dict[str, pl.DataFrame]:
    """Each table of the warehouse suppressed whole, then its links: the publish in one piece."""
    specs = load_publish_specs(env["manifest"])
    warehouse = duckdb.connect(str(env["warehouse"]), read_only=True)
    tables = {s.table: warehouse.sql(f"select * from {s.relation}").pl() for s in specs}
    warehouse.close()
    con = duckdb.connect()
    for spec in specs:
        frame = suppress(tables[spec.table], spec, SuppressionRules(min_n=MIN_N)).frame
        con.register("f", frame.with_columns(__by=0).to_arrow())
        con.execute(f'create table "{spec.table}" as select * from f')
        con.unregister("f")
    hide_linked(con, specs, SuppressionRules(min_n=MIN_N))
    derive_from_published(con, specs)
    return {s.table: con.sql(f'select * exclude (__by) from "{s.table}"').pl() for s in specs}


def assert_same(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].equals(right[name]), name


def test_partitions_are_the_columns_every_sibling_set_fixes(dbt_manifest: Path) -> None:
    specs = {s.table: s for s in load_publish_specs(dbt_manifest)}
    # group_type is fixed by the first set, but its total row has group_type 'all'.
    assert specs["perkins_indicators"].partition_columns == (
        "school_year",
        "indicator_code",
        "program_of_study_code",
        "career_cluster",
    )
    # Copies of perkins_indicators cells (hidden_with), no sibling set: each row alone, but
    # partitioned as perkins_indicators is (meta.publish.partition_by).
    assert specs["equity_gaps"].finest_partition_columns == specs["equity_gaps"].primary_key
    assert specs["equity_gaps"].partition_columns == specs["perkins_indicators"].partition_columns
    # Tiers change step and credential_tier of their total; schools level and entity.
    assert specs["program_continuum"].partition_columns == (
        "school_year",
        "program_of_study_code",
        "career_cluster",
    )
    node = published_model("model.x.t", {"grain": "g", "primary_key": ["a", "b"], "cell_size": "n"})
    assert spec_from_node(node).partition_columns == ("a", "b")  # no sibling set: each row
    coarser = {"grain": "g", "primary_key": ["a", "b"], "cell_size": "n", "partition_by": ["a"]}
    assert spec_from_node(published_model("model.x.t", coarser)).partition_columns == ("a",)
    stray = {**coarser, "partition_by": ["c"]}
    with pytest.raises(PublishSpecError, match="partition_by names"):
        spec_from_node(published_model("model.x.t", stray))


def test_chunked_publish_equals_suppressing_each_table_whole(env, tmp_path: Path) -> None:
    info = publish(env, tmp_path / "pub", workers=2, chunk_rows=20)
    chunks = {t: s["suppressed_chunks"] for t, s in info.suppression.items()}
    assert chunks["indicators"] > len(YEARS) and chunks["gaps"] > len(YEARS), chunks
    assert chunks["programs"] == len(YEARS)  # a new school year starts a chunk
    assert_same(tables_of(info.path), whole_tables(env))
    one_piece = publish(env, tmp_path / "whole", workers=1, chunk_rows=10**9)
    assert info.suppression == {
        t: s | {"suppressed_chunks": chunks[t]} for t, s in one_piece.suppression.items()
    }
    assert sorted(info.notes) == sorted(one_piece.notes)


def test_same_snapshot_whatever_the_worker_count(env, tmp_path: Path) -> None:
    one = publish(env, tmp_path / "one", workers=1, chunk_rows=20)
    two = publish(env, tmp_path / "two", workers=2, chunk_rows=20)
    assert_same(tables_of(one.path), tables_of(two.path))
    assert one.suppression == two.suppression and one.notes == two.notes


@pytest.mark.parametrize(
    "changed",
    [("indicators", 2024), ("gaps", 2025), ("programs", 2023)],
    ids=lambda c: f"{c[0]}-{c[1]}",
)
def test_a_changed_school_year_is_all_that_is_suppressed_again(
    env, tmp_path: Path, changed: tuple[str, int]
) -> None:
    folder = tmp_path / "pub"
    first = publish(env, folder, workers=2, chunk_rows=20)
    again = publish(env, folder, workers=2, chunk_rows=20)
    assert all(s["suppressed_partitions"] == 0 for s in again.suppression.values())
    assert again.suppression == {
        t: s | {"reused_partitions": s["suppressed_partitions"]} | dict.fromkeys(SUPPRESSED, 0)
        for t, s in first.suppression.items()
    }
    assert_same(tables_of(again.path), tables_of(first.path))

    write_warehouse(env["warehouse"], marts({changed: 1}))
    after = publish(env, folder, workers=2, chunk_rows=20)
    table, year = changed
    year_share = {t: s["rows"] / len(YEARS) for t, s in first.suppression.items()}
    redone = after.suppression[table]["suppressed_partitions"]
    assert 0 < redone < first.suppression[table]["suppressed_partitions"], after.suppression
    for other in set(PUBLISH) - {table, "gaps"}:
        assert after.suppression[other]["suppressed_partitions"] == 0, other
    print(f"\n{table} {year} changed: suppressed again {after.suppression}, {year_share}")
    fresh = publish(env, tmp_path / "fresh", workers=1, chunk_rows=20)
    assert_same(tables_of(after.path), tables_of(fresh.path))
    assert_same(tables_of(after.path), whole_tables(env))
    assert {
        t: {k: v for k, v in s.items() if not k.startswith(("suppressed", "reused"))}
        for t, s in after.suppression.items()
    } == {
        t: {k: v for k, v in s.items() if not k.startswith(("suppressed", "reused"))}
        for t, s in fresh.suppression.items()
    }


def test_one_schools_change_suppresses_its_partition_alone(env, tmp_path: Path) -> None:
    """A resubmission of one school changes its rows and its district's in one school year
    and indicator: that partition is suppressed again, its year's others are reused, and
    the snapshot is the one a publish from scratch gives."""
    folder = tmp_path / "pub"
    first = publish(env, folder, workers=2, chunk_rows=20)
    con = duckdb.connect(str(env["warehouse"]))
    con.execute(
        "update marts.indicators set denominator = denominator + 1, "
        "rate = numerator / (denominator + 1) where school_year = 2024 and "
        "indicator_code = '2S1' and entity_code in ('S0', 'D1') and group_value in ('F', 'ALL')"
    )
    con.close()
    after = publish(env, folder, workers=2, chunk_rows=20)
    indicators = after.suppression["indicators"]
    assert indicators["suppressed_partitions"] == 1, indicators
    partitions = first.suppression["indicators"]["suppressed_partitions"]
    assert indicators["reused_partitions"] == partitions - 1 == len(YEARS) * len(INDICATORS) - 1
    assert after.suppression["programs"]["suppressed_partitions"] == 0
    fresh = publish(env, tmp_path / "fresh", workers=1, chunk_rows=20)
    assert_same(tables_of(after.path), tables_of(fresh.path))
    assert_same(tables_of(after.path), whole_tables(env))


def test_without_fingerprints_everything_is_suppressed(env, tmp_path: Path) -> None:
    folder = tmp_path / "pub"
    first = publish(env, folder, chunk_rows=20)
    sidecar = folder / VERSIONS_DIR / first.version / FINGERPRINTS_FILE
    assert sidecar.exists()
    sidecar.write_bytes(b"not parquet")
    second = publish(env, folder, chunk_rows=20)
    assert all(s["reused_partitions"] == 0 for s in second.suppression.values())
    assert_same(tables_of(second.path), tables_of(first.path))


def test_fingerprints_go_with_their_snapshot(env, tmp_path: Path) -> None:
    folder = tmp_path / "pub"
    versions = [publish(env, folder, keep=1).version for _ in range(3)]
    kept = folder / VERSIONS_DIR
    assert sorted(p.name for p in kept.iterdir()) == versions[1:]
    assert all((kept / v / FINGERPRINTS_FILE).exists() for v in versions[1:])
    rollback(folder)
    assert [p.name for p in kept.iterdir()] == [versions[1]]
    assert (kept / versions[1] / FINGERPRINTS_FILE).exists()
    # The snapshot current again is the one the next publish reuses.
    again = publish(env, folder).suppression.values()
    assert all(s["suppressed_partitions"] == 0 for s in again)


def test_rows_swapping_a_value_change_the_fingerprint() -> None:
    """DuckDB's row hash is linear in XOR: without the second hash, a numerator of 5 -> 6 in
    one cell and 6 -> 5 in another kept the chunk's fingerprint (and a stale chunk was
    published)."""
    con = duckdb.connect()
    before = "select * from (values ('001', 5), ('002', 6)) as t(entity_code, numerator)"
    after = "select * from (values ('001', 6), ('002', 5)) as t(entity_code, numerator)"
    fingerprint = chunks.rows_fingerprint(["entity_code", "numerator"])
    linear = "bit_xor(hash(entity_code, numerator))"
    assert (
        con.sql(f"select {linear} from ({before})").fetchall()
        == con.sql(f"select {linear} from ({after})").fetchall()
    )
    assert (
        con.sql(f"select {fingerprint} from ({before})").fetchall()
        != con.sql(f"select {fingerprint} from ({after})").fetchall()
    )


def test_fingerprinted_code_holds_every_publish_module_suppression_imports() -> None:
    """A module split out of suppression.py that the fingerprint missed would let a publish
    reuse chunks suppressed by other code."""
    import ast
    import importlib

    fingerprinted = {m.__name__ for m in chunks.FINGERPRINTED_CODE}
    seen, todo = set(), sorted(fingerprinted)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(Path(importlib.import_module(name).__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "dagster_project.publish":
                todo += [f"dagster_project.publish.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "dagster_project.publish."
            ):
                todo.append(node.module)
    assert seen <= fingerprinted | {"dagster_project.publish.chunks"}, seen - fingerprinted
    assert {"dagster_project.publish.complements", "dagster_project.publish.siblings"} <= seen
