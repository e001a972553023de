"""Write-audit-publish (dagster_project/publish): atomic swaps, gates, de-identification.

Everything runs on synthetic marts and a synthetic dbt manifest in tmp_path, so the tests
hold whatever the real dbt models look like. Readers and killed publishers are separate
processes, because DuckDB's file locks and an atomic rename only show their behaviour
across processes.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from manifest_nodes import published_model

from dagster_project.publish import (
    IdentifierFound,
    PublishBlocked,
    PublishSpecError,
    RolledBack,
    SuppressionRules,
    load_publish_specs,
    open_sql_prompt,
    publish_snapshot,
    rollback,
    store,
)
from dagster_project.publish.store import FINGERPRINTS_FILE, VERSIONS_DIR

MIN_N = 10
PUBLISH = {
    "indicators": {
        "grain": "one row per level, entity and student group",
        "primary_key": ["level", "entity", "group_type", "group_value"],
        "cell_size": "denominator",
        "counts": ["numerator", "denominator"],
        "rates": [{"column": "rate", "numerator": "numerator", "denominator": "denominator"}],
        "derived": ["gap_to_target"],
        "sibling_sets": [
            {
                "columns": ["level", "entity", "group_type"],
                "total": {"group_type": "ALL", "group_value": "ALL"},
            },
            {
                "columns": ["level", "parent", "group_type", "group_value"],
                "total": {"level": {"map": {"school": "district"}}, "entity": {"from": "parent"}},
            },
        ],
    },
    "programs": {
        "grain": "one row per program",
        "primary_key": ["program"],
        "cell_size": "participants",
        "counts": ["participants", "concentrators"],
        "rates": ["concentration_rate"],
    },
}


def write_manifest(path: Path) -> Path:
    nodes = {}
    for name, block in PUBLISH.items():
        nodes[f"model.test.{name}"] = published_model(
            f"model.test.{name}",
            block,
            description=f"The {name} mart.",
            columns={"rate": {"name": "rate", "description": "numerator / denominator"}},
        )
    nodes["model.test.int_students"] = {
        "unique_id": "model.test.int_students",
        "resource_type": "model",
        "name": "int_students",
        "schema": "intermediate",
        "config": {"meta": {}},
    }
    manifest = {"metadata": {"invocation_id": "inv-1", "generated_at": "2026-11-22"}}
    path.write_text(json.dumps(manifest | {"nodes": nodes}))
    return path


def indicator_rows(generation: int) -> pl.DataFrame:
    """Schools, their district and student groups; the row count changes by generation."""
    rng = np.random.default_rng(generation)
    schools = 3 + generation % 4
    cells = []
    for s in range(schools):
        for sex in ("F", "M"):
            den = int(rng.integers(3, 60))
            cells.append(("school", f"S{s}", "D1", "sex", sex, int(rng.integers(0, den + 1)), den))
    frame = pl.DataFrame(
        cells,
        schema=[
            "level",
            "entity",
            "parent",
            "group_type",
            "group_value",
            "numerator",
            "denominator",
        ],
        orient="row",
    )
    school_all = (
        frame.group_by("level", "entity", "parent")
        .agg(pl.col("numerator").sum(), pl.col("denominator").sum())
        .with_columns(group_type=pl.lit("ALL"), group_value=pl.lit("ALL"))
    )
    schools_frame = pl.concat([frame, school_all], how="diagonal")
    district = (
        schools_frame.group_by("group_type", "group_value")
        .agg(pl.col("numerator").sum(), pl.col("denominator").sum())
        .with_columns(level=pl.lit("district"), entity=pl.lit("D1"), parent=pl.lit("NM"))
    )
    return (
        pl.concat([schools_frame, district], how="diagonal")
        .with_columns(rate=pl.col("numerator") / pl.col("denominator"))
        .with_columns(gap_to_target=pl.col("rate") - 0.5, school_name=pl.lit("Some High"))
    )


def program_rows(generation: int) -> pl.DataFrame:
    rng = np.random.default_rng(1000 + generation)
    participants = rng.integers(1, 80, size=5 + generation % 3)
    concentrators = [int(rng.integers(0, p + 1)) for p in participants]
    return pl.DataFrame(
        {
            "program": [f"P{i}" for i in range(len(participants))],
            "participants": participants,
            "concentrators": concentrators,
        }
    ).with_columns(concentration_rate=pl.col("concentrators") / pl.col("participants"))


def write_warehouse(path: Path, generation: int, extra: dict | None = None) -> None:
    """The working warehouse as dbt would leave it, plus a student-level table never published."""
    tables = {"indicators": indicator_rows(generation), "programs": program_rows(generation)}
    for name, column in (extra or {}).items():
        tables[name] = tables[name].with_columns(column)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts; create schema if not exists intermediate")
        for name, frame in tables.items():
            con.register("f", frame.to_arrow())
            con.execute(f"create or replace table marts.{name} as select * from f")
            con.unregister("f")
        con.execute(
            "create or replace table intermediate.int_students as "
            "select repeat('ab', 32) as student_key"
        )
    finally:
        con.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "warehouse": tmp_path / "cte.duckdb",
        "published": tmp_path / "published",
        "manifest": write_manifest(tmp_path / "manifest.json"),
        "tmp": tmp_path,
    }
    write_warehouse(paths["warehouse"], 0)
    return paths


def publish(env: dict[str, Path], failures: list[str] | None = None):
    return publish_snapshot(
        env["warehouse"],
        env["published"],
        env["manifest"],
        SuppressionRules(min_n=MIN_N),
        blocking_failures=failures or [],
        manifest_ids=[3, 1, 2],
        code_version="test-commit",
    )


def check_snapshot(path: Path) -> str:
    """A complete, consistent snapshot: the tables it lists, with the row counts it lists."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        (snapshot_id, counts, min_n), *rest = con.execute(
            "select snapshot_id, table_row_counts, min_n from snapshot"
        ).fetchall()
        assert not rest
        for table, rows in json.loads(counts).items():
            assert con.execute(f'select count(*) from "{table}"').fetchone()[0] == rows
        small = con.execute(f"select count(*) from indicators where denominator < {min_n}")
        assert small.fetchone()[0] == 0
        return snapshot_id
    finally:
        con.close()


def check_parquet(published: Path) -> str:
    folder = Path(os.path.realpath(published / "parquet"))
    con = duckdb.connect()
    try:
        snapshot = folder / "snapshot.parquet"
        snapshot_id, counts = con.execute(
            f"select snapshot_id, table_row_counts from '{snapshot}'"
        ).fetchone()
        for table, rows in json.loads(counts).items():
            assert (
                con.execute(f"select count(*) from '{folder / table}.parquet'").fetchone()[0]
                == rows
            )
        return snapshot_id
    finally:
        con.close()


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(published: Path) -> list[str]:
    found = [p.name for p in published.glob(".*") if p.name != store.LOCK_FILE]
    found += [p.name for p in (published / VERSIONS_DIR).glob(".*")]
    return found


# --- content ----------------------------------------------------------------------------


def test_snapshot_holds_suppressed_marts_catalog_and_provenance(env: dict[str, Path]) -> None:
    info = publish(env)
    current = env["published"] / "cte_marts.duckdb"
    assert info.path == current and check_snapshot(current) == info.snapshot_id
    assert check_parquet(env["published"]) == info.snapshot_id
    con = duckdb.connect(str(current), read_only=True)
    try:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
        assert tables == {"indicators", "programs", "catalog", "snapshot", "publication_summary"}
        # The summary counts, per table and level, the cells at min n of the working marts
        # and what became of each; its rows reconcile with what the snapshot shows.
        truth = indicator_rows(0)
        at_min_n = truth.filter(pl.col("denominator") >= MIN_N).height
        cells, shown, ranged, withheld, omitted_cells = con.execute(
            "select sum(cells), sum(shown), sum(shown_as_range), sum(withheld), sum(omitted) "
            "from publication_summary where table_name = 'indicators' "
            "and scope = 'every breakdown'"
        ).fetchone()
        assert cells == at_min_n > 0
        assert shown + withheld + omitted_cells == cells
        shown_rows = con.execute(
            "select count(*) from indicators where suppression_reason is null "
            "and rate_display <> 'suppressed (complementary)' and denominator_display not like "
            "'suppressed%' and numerator_display not like 'suppressed%'"
        ).fetchone()[0]
        assert shown <= shown_rows
        assert [u for u in info.utility if u["table_name"] == "indicators"]
        assert ranged <= shown
        ids, version, min_n, invocation = con.execute(
            "select manifest_ids, code_version, min_n, dbt_invocation_id from snapshot"
        ).fetchone()
        assert (ids, version, min_n, invocation) == ([1, 2, 3], "test-commit", MIN_N, "inv-1")
        grain, description = con.execute(
            "select grain, description from catalog "
            "where table_name = 'indicators' and column_name = 'rate'"
        ).fetchone()
        assert grain == PUBLISH["indicators"]["grain"] and description == "numerator / denominator"
        described = con.execute(
            "select count(*) from catalog where table_name = 'indicators' "
            "and column_name in ('rate_display', 'suppression_reason') and description <> ''"
        ).fetchone()[0]
        assert described == 2
        # Every row whose true denominator is small is withheld with its reason, or left out
        # (rule 0: a small part of a withheld total).
        truth = indicator_rows(0)
        small = truth.filter(pl.col("denominator") < MIN_N).height
        omitted = info.suppression["indicators"]["omitted_rows"]
        assert small > 0
        reasons = dict(
            con.execute(
                "select suppression_reason, count(*) from indicators group by all"
            ).fetchall()
        )
        assert reasons.get("SMALL_N", 0) + omitted == small
        assert con.execute("select count(*) from indicators").fetchone()[0] == (
            truth.height - omitted
        )
    finally:
        con.close()
    # The working warehouse is not left locked: a writer can open it at once.
    duckdb.connect(str(env["warehouse"])).close()
    assert info.suppression["indicators"]["small_n_rows"] == reasons.get("SMALL_N", 0)


def test_the_snapshot_is_written_in_a_storage_format_duckdb_1x_clients_open(
    env: dict[str, Path],
) -> None:
    """Issue 24: a 2.x file (header version 999, storage 69) is refused by every DuckDB 1.x
    client ("can only read versions between 64 and 68"). Format 64 opens in DuckDB 1.0 and
    later: seen with the Python clients 1.0.0, 1.1.3, 1.2.2, 1.5.6 and the 1.5.6 shell."""
    publish(env)
    published = env["published"] / "cte_marts.duckdb"
    header = published.read_bytes()[:20]
    assert header[8:12] == b"DUCK" and int.from_bytes(header[12:20], "little") == 64
    con = duckdb.connect(str(published), read_only=True)
    try:
        [(tags,)] = con.execute(
            "select tags from duckdb_databases() where database_name = current_database()"
        ).fetchall()
    finally:
        con.close()
    assert tags["storage_version"] == "v1.0.0+"
    check_snapshot(published)


def test_blocking_failure_leaves_previous_snapshot(env: dict[str, Path]) -> None:
    first = publish(env)
    before = sha(first.path)
    write_warehouse(env["warehouse"], 1)
    with pytest.raises(PublishBlocked, match="2 blocking check"):
        publish(env, failures=["student_enrollment: ERROR dup keys", "wage_records: ERROR"])
    assert sha(first.path) == before and check_snapshot(first.path) == first.snapshot_id
    assert check_parquet(env["published"]) == first.snapshot_id
    assert leftovers(env["published"]) == []


@pytest.mark.parametrize(
    "column",
    [
        pl.lit("x").alias("student_id"),
        pl.lit("x").alias("student_key"),
        pl.lit("Ann").alias("first_name"),
        pl.lit("Lee").alias("last_name"),
        pl.lit("2008-01-01").alias("birth_date"),
        pl.lit(1).alias("StudentKey"),
        pl.lit("x").alias("hashed_student_id"),
        pl.lit("a3" * 32).alias("note"),  # a 64-hex value in an innocent column
        pl.lit("id=" + "F0" * 32 + ";").alias("comment"),  # embedded in text
    ],
    ids=lambda c: c.meta.output_name(),
)
def test_identifiers_make_publish_refuse(env: dict[str, Path], column: pl.Expr) -> None:
    first = publish(env)
    before = sha(first.path)
    write_warehouse(env["warehouse"], 1, extra={"programs": column})
    with pytest.raises(IdentifierFound, match="programs"):
        publish(env)
    assert sha(first.path) == before and check_parquet(env["published"]) == first.snapshot_id
    assert leftovers(env["published"]) == []


def test_history_keeps_three_previous_and_rolls_back(env: dict[str, Path]) -> None:
    ids = []
    for generation in range(6):
        write_warehouse(env["warehouse"], generation)
        ids.append(publish(env).snapshot_id)
    published = env["published"]
    assert len(list((published / VERSIONS_DIR).iterdir())) == 4  # current + 3
    assert check_snapshot(published / "cte_marts.duckdb") == ids[-1]
    rollback(published)
    assert check_snapshot(published / "cte_marts.duckdb") == ids[-2]
    assert check_parquet(published) == ids[-2]
    rollback(published)
    assert check_snapshot(published / "cte_marts.duckdb") == ids[-3]
    assert check_parquet(published) == ids[-3]


def test_cte_rollback_brings_back_the_first_snapshot(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dagster_project.cli import main

    monkeypatch.setenv("CTE_WAREHOUSE_DIR", str(env["tmp"]))  # published_dir = env["published"]
    monkeypatch.chdir(env["tmp"])  # main() moves to the repository; undone after the test
    with pytest.raises(SystemExit, match="nothing is published"):
        main(["rollback"])
    first = publish(env)
    write_warehouse(env["warehouse"], 1)
    second = publish(env)
    main(["rollback", "--by", "A. Admin", "--note", "wrong wage file"])
    out = capsys.readouterr().out
    assert f"current:   {first.version}" in out and f"withdrawn: {second.version}" in out
    # In the audit trail (decision 0023): who, why, and which versions.
    with duckdb.connect(str(env["warehouse"]), read_only=True) as con:
        trail = con.execute("select action, actor, note, detail from audit.actions").fetchall()
    assert trail == [
        (
            "ROLLBACK",
            "A. Admin",
            "wrong wage file",
            f"current: {first.version}; withdrawn: {second.version}",
        )
    ]
    assert check_snapshot(env["published"] / "cte_marts.duckdb") == first.snapshot_id
    assert check_parquet(env["published"]) == first.snapshot_id
    # Nothing before the first snapshot: a clear error, and the first stays current.
    with pytest.raises(SystemExit, match="no earlier snapshot in history"):
        main(["rollback"])
    assert check_snapshot(env["published"] / "cte_marts.duckdb") == first.snapshot_id
    assert check_parquet(env["published"]) == first.snapshot_id


# --- one switch for both doors (issue 23) -----------------------------------------------


class Crash(BaseException):
    """The process died at this step: nothing after it runs, clean-up included."""


# What changes a folder: each call is a step a crash can fall between.
STEPS = [(os, "replace"), (os, "symlink"), (os, "link"), (os, "unlink"), (shutil, "rmtree")]


def die_at(monkeypatch: pytest.MonkeyPatch, step: int) -> list[str]:
    """From the ``step``-th call on, every folder change raises Crash (returns the calls)."""
    calls: list[str] = []
    for module, name in STEPS:
        monkeypatch.setattr(module, name, _dying(getattr(module, name), name, step, calls))
    return calls


def _dying(original: Callable, name: str, step: int, calls: list[str]) -> Callable:
    def dying(*args, **kwargs):
        calls.append(name)
        if len(calls) >= step:
            raise Crash(f"{name}, step {len(calls)}")
        return original(*args, **kwargs)

    return dying


def doors(published: Path) -> str:
    """The snapshot both doors show; they must show the same one."""
    duckdb_door = check_snapshot(published / "cte_marts.duckdb")
    assert check_parquet(published) == duckdb_door
    return duckdb_door


def test_a_publish_crashed_at_any_step_leaves_both_doors_on_one_snapshot(
    env: dict[str, Path],
) -> None:
    published = env["published"]
    current = publish(env).snapshot_id
    outcomes = {"old": 0, "new": 0}
    step = 1
    while True:
        write_warehouse(env["warehouse"], step)
        with pytest.MonkeyPatch.context() as patch:
            die_at(patch, step)
            try:
                info = publish(env)
            except Crash:
                info = None
        shown = doors(published)
        if info is not None:  # ran through without reaching the step: all were tried
            assert shown == info.snapshot_id
            break
        outcomes["old" if shown == current else "new"] += 1
        current = shown
        step += 1
    print(f"\ncrashed publishes: {step - 1} steps, doors after {outcomes}, 0 apart")
    assert outcomes["old"] > 3 and outcomes["new"] > 0
    info = publish(env)
    assert doors(published) == info.snapshot_id and leftovers(published) == []
    assert len(list((published / VERSIONS_DIR).iterdir())) == 4


def publish_generations(env: dict[str, Path], count: int) -> list:
    """Publish ``count`` snapshots in turn, each of a different warehouse generation."""
    infos = []
    for generation in range(count):
        write_warehouse(env["warehouse"], generation)
        infos.append(publish(env))
    return infos


def test_a_crashed_rollback_retried_ends_where_an_uncrashed_one_does(
    env: dict[str, Path],
) -> None:
    infos = publish_generations(env, 3)
    first, second, third = infos
    reference = env["tmp"] / "reference"
    shutil.copytree(env["published"], reference, symlinks=True)
    expected = RolledBack(current=second.version, withdrawn=third.version)
    assert rollback(reference) == expected and doors(reference) == second.snapshot_id
    step = 1
    while True:
        trial = env["tmp"] / f"crash-{step}"
        shutil.copytree(env["published"], trial, symlinks=True)
        with pytest.MonkeyPatch.context() as patch:
            die_at(patch, step)
            try:
                finished = rollback(trial)
            except Crash:
                finished = None
        assert doors(trial) in {third.snapshot_id, second.snapshot_id}
        if finished is not None:
            assert finished == expected
            break
        # The retry finishes the crashed rollback; it does not go one further back.
        assert rollback(trial) == expected, f"crashed at step {step}"
        assert doors(trial) == second.snapshot_id and leftovers(trial) == []
        assert sorted(p.name for p in (trial / VERSIONS_DIR).iterdir()) == [
            first.version,
            second.version,
        ]
        step += 1
    assert step > 4
    # A deliberate second rollback still goes one further back.
    assert rollback(trial) == RolledBack(current=first.version, withdrawn=second.version)
    assert doors(trial) == first.snapshot_id


def write_old_layout(published: Path, target: Path, linked: bool = True) -> None:
    """The folder as publishes before issue 23 left it: the same snapshots in history/ and
    parquet_versions/, a real cte_marts.duckdb, a parquet link, and a killed publish's
    leftovers. ``linked=False``: the current file is a copy, in no history entry."""
    history, parquet_versions = target / "history", target / "parquet_versions"
    history.mkdir(parents=True)
    for version in (published / VERSIONS_DIR).iterdir():
        shutil.copy(version / "cte_marts.duckdb", history / f"{version.name}.duckdb")
        shutil.copy(version / FINGERPRINTS_FILE, history / f"{version.name}.chunks.parquet")
        shutil.copytree(version / "parquet", parquet_versions / version.name)
    current = store.current_version(published)
    (os.link if linked else shutil.copy)(history / f"{current}.duckdb", target / "cte_marts.duckdb")
    os.symlink(Path("parquet_versions") / current, target / "parquet")
    (target / ".publish.lock").touch()
    (target / ".cte_marts.0123abcd.tmp").write_bytes(b"half a file")
    (parquet_versions / ".29990101T000000000000Z-0123abcd.tmp").mkdir()


def test_the_layout_before_issue_23_is_converted_with_the_doors_open(
    env: dict[str, Path],
) -> None:
    infos = publish_generations(env, 3)
    old = env["tmp"] / "old"
    write_old_layout(env["published"], old)
    assert doors(old) == infos[-1].snapshot_id
    # After every step of the conversion a reader finds the current snapshot at both doors.
    seen: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for module, name in STEPS:
            patch.setattr(module, name, _watched(getattr(module, name), old, seen))
        with store.lock(old, timeout=10):
            store.recover(old)
    assert len(seen) > 10 and set(seen) == {infos[-1].snapshot_id}
    assert (old / "cte_marts.duckdb").is_symlink() and (old / "parquet").is_symlink()
    assert not (old / "history").exists() and not (old / "parquet_versions").exists()
    assert sorted(p.name for p in (old / VERSIONS_DIR).iterdir()) == [i.version for i in infos]
    assert leftovers(old) == []
    # The fingerprints came along: the next publish of the same marts reuses every chunk.
    again = publish_snapshot(
        env["warehouse"],
        old,
        env["manifest"],
        SuppressionRules(min_n=MIN_N),
        blocking_failures=[],
        manifest_ids=[1],
        code_version="test-commit",
    )
    assert all(s["suppressed_partitions"] == 0 for s in again.suppression.values())
    assert doors(old) == again.snapshot_id
    assert rollback(old).current == infos[-1].version and doors(old) == infos[-1].snapshot_id


def _watched(original: Callable, published: Path, seen: list[str]) -> Callable:
    def watched(*args, **kwargs):
        result = original(*args, **kwargs)
        seen.append(doors(published))
        return result

    return watched


@pytest.mark.parametrize("linked", [True, False], ids=["history link", "copy"])
def test_a_rollback_converts_the_old_layout_first(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, linked: bool
) -> None:
    infos = publish_generations(env, 2)
    old = env["tmp"] / "old"
    write_old_layout(env["published"], old, linked)
    # A copy's version is named from its snapshot row, in UTC whatever the local zone.
    monkeypatch.setenv("TZ", "America/Denver")
    assert rollback(old) == RolledBack(current=infos[0].version, withdrawn=infos[1].version)
    assert doors(old) == infos[0].snapshot_id and (old / "cte_marts.duckdb").is_symlink()
    assert not (old / "history").exists() and leftovers(old) == []


def test_spec_errors_are_caught_before_publishing(env: dict[str, Path]) -> None:
    specs = load_publish_specs(env["manifest"])
    assert [s.table for s in specs] == ["indicators", "programs"]  # int_students is not
    assert specs[1].counts == ("participants", "concentrators")
    first = publish(env)
    # A declared total that is not the sum of its parts would make complements meaningless.
    write_warehouse(env["warehouse"], 1, extra={"indicators": pl.col("denominator") + 1})
    with pytest.raises(PublishSpecError, match="does not add up"):
        publish(env)
    assert check_snapshot(first.path) == first.snapshot_id


# --- analysts ---------------------------------------------------------------------------


def test_sql_prompt_answers_queries_and_cannot_write(env: dict[str, Path]) -> None:
    info = publish(env)
    before = sha(info.path)
    script = io.StringIO(
        "select min_n,\n  code_version from snapshot;\n"
        "create table x as select 1;\n"
        ".tables\n"
        ".schema indicators\n"
        "select count(*) as n from programs;\n"
        ".quit\n"
        "select 'not reached';\n"
    )
    out = io.StringIO()
    open_sql_prompt(info.path, stdin=script, stdout=out)
    text = out.getvalue()
    assert "test-commit" in text
    assert "Error:" in text and "read-only" in text.lower()
    assert "catalog" in text and "suppression_reason" in text
    assert "not reached" not in text
    assert sha(info.path) == before


# --- concurrency ------------------------------------------------------------------------

READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    published, mode, stop, out = sys.argv[1:5]
    db = os.path.join(published, "cte_marts.duckdb")
    errors, checks, seen, con = [], 0, set(), None

    def check(con):
        sid, counts, min_n = con.execute(
            "select snapshot_id, table_row_counts, min_n from snapshot").fetchone()
        for table, rows in json.loads(counts).items():
            got = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            assert got == rows, (table, got, rows)
        listed = {r[0] for r in con.execute("select distinct table_name from catalog").fetchall()}
        assert set(json.loads(counts)) <= listed
        small = con.execute(f"select count(*) from indicators where denominator < {min_n}")
        assert small.fetchone()[0] == 0
        return sid

    open(out + ".ready", "w").close()
    while not os.path.exists(stop):
        try:
            if mode == "parquet":
                folder = os.path.realpath(os.path.join(published, "parquet"))
                mem = duckdb.connect()
                sid, counts = mem.execute(
                    f"select snapshot_id, table_row_counts from '{folder}/snapshot.parquet'"
                ).fetchone()
                for table, rows in json.loads(counts).items():
                    got = mem.execute(f"select count(*) from '{folder}/{table}.parquet'")
                    assert got.fetchone()[0] == rows, (table, rows)
                mem.close()
            else:
                if con is None:
                    con = duckdb.connect(db, read_only=True)
                sid = check(con)
                if mode == "reconnect":
                    con.close()
                    con = None
            seen.add(sid)
            checks += 1
        except Exception as exc:
            errors.append(repr(exc))
            con = None
    json.dump({"mode": mode, "checks": checks, "errors": errors, "snapshots": len(seen)},
              open(out, "w"))
    """
)


def test_readers_see_whole_snapshots_while_publishes_run(env: dict[str, Path]) -> None:
    publish(env)
    script = env["tmp"] / "reader.py"
    script.write_text(READER)
    stop = env["tmp"] / "stop"
    modes = ["hold", "hold", "reconnect", "reconnect", "parquet"]
    outs = [env["tmp"] / f"reader{i}.json" for i in range(len(modes))]
    procs = [
        subprocess.Popen([sys.executable, str(script), str(env["published"]), m, str(stop), str(o)])
        for m, o in zip(modes, outs, strict=True)
    ]
    deadline = time.monotonic() + 60
    while not all(Path(str(o) + ".ready").exists() for o in outs):
        assert time.monotonic() < deadline, "readers did not start"
        time.sleep(0.05)
    publishes = 15
    for generation in range(1, publishes + 1):
        write_warehouse(env["warehouse"], generation)
        publish(env)
    stop.touch()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    results = [json.loads(o.read_text()) for o in outs]
    errors = [e for r in results for e in r["errors"]]
    checks = sum(r["checks"] for r in results)
    print(
        f"\nconcurrency: {len(procs)} reader processes ({', '.join(modes)}), {publishes} "
        f"publishes, {checks} snapshots checked, {len(errors)} errors"
    )
    assert errors == []
    assert all(r["checks"] > 0 for r in results)
    # A held connection stays on the snapshot it opened; new ones follow the publishes.
    assert [r["snapshots"] for r in results if r["mode"] == "hold"] == [1, 1]
    assert all(r["snapshots"] > 1 for r in results if r["mode"] != "hold")
    assert check_snapshot(env["published"] / "cte_marts.duckdb") == check_parquet(env["published"])


PUBLISHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dagster_project.publish import SuppressionRules, publish_snapshot
    warehouse, published, manifest = map(Path, sys.argv[1:4])
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    publish_snapshot(warehouse, published, manifest, SuppressionRules(), blocking_failures=[],
                     manifest_ids=[1], code_version="killed")
    print(f"done {time.monotonic() - started}", flush=True)
    """
)


def _start_publisher(env: dict[str, Path], script: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(env["warehouse"]),
            str(env["published"]),
            str(env["manifest"]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_publish_killed_at_random_points_leaves_a_whole_snapshot(env: dict[str, Path]) -> None:
    script = env["tmp"] / "publisher.py"
    script.write_text(PUBLISHER)
    publish(env)
    # How long one publish takes in a subprocess (the longest of two), to spread kills over.
    durations = []
    for _ in range(2):
        proc = _start_publisher(env, script)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        durations.append(float(proc.stdout.readline().split()[1]))
        proc.wait(timeout=60)
    duration = max(durations)
    rng = random.Random(7)
    outcomes = {"old": 0, "new": 0}
    trials = 16
    for trial in range(trials):
        write_warehouse(env["warehouse"], trial + 1)
        previous = check_snapshot(env["published"] / "cte_marts.duckdb")
        proc = _start_publisher(env, script)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # Most kills land inside the publish; some after it, where the new one must stand.
        time.sleep(rng.uniform(0, duration * 1.4))
        proc.kill()  # SIGKILL: no cleanup, no finally blocks
        proc.wait(timeout=60)
        current = check_snapshot(env["published"] / "cte_marts.duckdb")
        outcomes["old" if current == previous else "new"] += 1
        assert check_parquet(env["published"]) in {previous, current}
    print(
        f"\nkill -9: {trials} kill points over a {duration:.2f}s publish; the snapshot after: "
        f"{outcomes['old']} previous, {outcomes['new']} new, 0 broken"
    )
    # The next publish cleans up whatever the killed ones left, and all is consistent again.
    info = publish(env)
    assert leftovers(env["published"]) == []
    assert check_snapshot(info.path) == check_parquet(env["published"]) == info.snapshot_id
    assert len(list((env["published"] / VERSIONS_DIR).iterdir())) <= 4
    assert outcomes["old"] > 0
