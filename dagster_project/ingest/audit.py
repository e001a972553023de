"""Queries over what ingest recorded: row conservation and the current submissions (which
the quality gate, quality/gate.py, reads), the list of file fingerprints the landing sensors
read instead of the warehouse, and the audit trail of what people did (``audit.actions``)."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import duckdb

from dagster_project.contracts import EXTRACTS

# Manifest rows of files seen: every file read is recorded (duplicates included) and not read
# again under the same name, except one refused for want of a key: it loads once a key is set.
SEEN = "coalesce(reason_code, '') <> 'NO_PSEUDONYM_KEY'"


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


def write_recorded_files(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every (SHA-256, landed path) the manifest has seen, a JSON line each, replaced atomically.

    Sensors never open the warehouse (a run may hold DuckDB's only lock), so they read this
    file to skip files that ``cte run``, a backfill or the CLI already read: without it, the
    first ``make ui`` after ``make run`` queued one run per file. A file is known by its
    bytes and its name together: the same bytes under a new name get a run, which records
    them (a duplicate, or a rejected file renamed to the right name, which then loads).
    """
    rows = con.execute(
        f"select distinct sha256, path from raw.load_manifest where {SEEN} order by 1, 2"
    ).fetchall()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(json.dumps([sha, landed]) + "\n" for sha, landed in rows))
    os.replace(partial, path)


def recorded_files(path: Path) -> set[tuple[str, str]]:
    """The (SHA-256, landed path) pairs ``write_recorded_files`` last wrote; none before the
    first load."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return set()
    return {(sha, landed) for sha, landed in map(json.loads, lines)}


class Action(StrEnum):
    """What a person did that changes what the warehouse holds or publishes (decision 0023)."""

    RELOAD = "RELOAD"
    ROLLBACK = "ROLLBACK"
    RELEASE = "RELEASE"
    REJECT = "REJECT"
    VERIFY = "VERIFY"
    CERTIFY = "CERTIFY"


# Dagster run tags of a run a command launched: who, and what for.
ACTOR_TAG = "cte/actor"
ACTION_TAG = "cte/action"


def automation_tags(launcher: str, action: str) -> dict[str, str]:
    """The run tags of a run no person launched: the sensor or schedule that did, and what
    for. A run in the history names who or what started it, whichever door it came through."""
    return {ACTOR_TAG: launcher, ACTION_TAG: action}


def os_user() -> str:
    """The default actor of a command without ``--by``: the account that ran it."""
    return getpass.getuser()


@dataclass(frozen=True)
class Step:
    """One row of ``audit.actions``; what it acted on is as precise as the action allows."""

    action: Action
    actor: str
    note: str | None = None
    district_code: str | None = None
    school_year: int | None = None
    extract: str | None = None
    manifest_id: int | None = None
    detail: str | None = None
    run_id: str | None = None


def record_action(con: duckdb.DuckDBPyConnection, step: Step) -> datetime:
    """Append a step to the audit trail; returns when it was recorded (UTC)."""
    acted_at = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "insert into audit.actions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            step.action.value,
            step.actor.strip(),
            step.note,
            step.district_code,
            step.school_year,
            step.extract,
            step.manifest_id,
            step.detail,
            step.run_id,
            acted_at,
        ],
    )
    return acted_at
