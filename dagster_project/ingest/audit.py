"""Queries over what ingest recorded: row conservation, the publishing gate, and the list
of file fingerprints the landing sensors read instead of the warehouse."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.contracts import EXTRACTS


@dataclass(frozen=True)
class Reconciliation:
    manifest_id: int
    file_name: str
    rows_read: int
    rows_in_table: int
    rows_in_quarantine: int

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_in_table + self.rows_in_quarantine


def reconcile(con: duckdb.DuckDBPyConnection, manifest_ids: Sequence[int]) -> list[Reconciliation]:
    """Count what is actually stored for each loaded or held file (a held file's rows are
    stored too, not current), not what the loader reported."""
    if not manifest_ids:
        return []
    ids = ", ".join(str(int(m)) for m in manifest_ids)
    in_tables = " union all ".join(
        f"select _manifest_id as manifest_id, count(*) as n from raw.{e.name} "
        f"where _manifest_id in ({ids}) group by all"
        for e in EXTRACTS
    )
    rows = con.execute(f"""
        with stored as ({in_tables}),
        held as (
            select manifest_id, count(distinct source_row) as n from raw.quarantine
            where manifest_id in ({ids}) group by all
        )
        select m.manifest_id, m.file_name, m.rows_read,
               coalesce(s.n, 0), coalesce(h.n, 0)
        from raw.load_manifest m
        left join stored s using (manifest_id)
        left join held h using (manifest_id)
        where m.manifest_id in ({ids}) and m.status in ('LOADED', 'HELD')
        order by m.manifest_id
    """).fetchall()
    return [Reconciliation(*r) for r in rows]


def current_manifest_ids(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The submissions the marts are built from: every file whose status is LOADED."""
    return [
        r[0]
        for r in con.execute(
            "select manifest_id from raw.load_manifest where status = 'LOADED' order by 1"
        ).fetchall()
    ]


def blocking_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Why the current data may not be published; empty when every blocking check passes.

    Considers only current submissions (status LOADED). A submission failing a blocking
    expectation is held (ingest/hold.py), so it never becomes current and never stops the
    state's publish; one a reviewer released was judged usable (audit.review_decisions).
    What is left is a current file loaded before holds existed, and rows that do not
    reconcile.
    """
    failed = con.execute("""
        select m.file_name, r.expectation, r.unexpected_count, r.element_count
        from audit.dq_results r
        join raw.load_manifest m using (manifest_id)
        where m.status = 'LOADED' and r.severity = 'ERROR' and not r.success
          and manifest_id not in (
              select manifest_id from audit.review_decisions where decision = 'RELEASE')
        order by m.file_name, r.expectation
    """).fetchall()
    reasons = [
        f"{name}: expectation {exp} failed ({bad} of {n} rows)" for name, exp, bad, n in failed
    ]
    reasons += [
        f"{r.file_name}: {r.rows_read} rows read but {r.rows_in_table} stored and "
        f"{r.rows_in_quarantine} quarantined"
        for r in reconcile(con, current_manifest_ids(con))
        if not r.balanced
    ]
    return reasons


def write_recorded_files(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every SHA-256 the manifest holds, one a line, replaced atomically.

    Sensors never open the warehouse (a run may hold DuckDB's only lock), so they read this
    file to skip bytes that ``cte run``, a backfill or the CLI already loaded: without it,
    the first ``make ui`` after ``make run`` queued one run per file.
    """
    shas = [
        r[0]
        for r in con.execute("select distinct sha256 from raw.load_manifest order by 1").fetchall()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(f"{s}\n" for s in shas))
    os.replace(partial, path)


def recorded_files(path: Path) -> set[str]:
    """The SHA-256s ``write_recorded_files`` last wrote; none before the first load."""
    try:
        return set(path.read_text().split())
    except FileNotFoundError:
        return set()
