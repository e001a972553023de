"""Which submission of a slice is current: fit ones replace it, others are held for review.

A readable submission becomes current (LOADED) only when it is fit. It is HELD instead when
its rows set aside (structural quarantine and blocking expectations together) exceed
``set_aside_share``, when a blocking expectation failed, when it loads far fewer rows than
the district's previous submission of the slice (or, without one, of last year), when its
codes had lost their leading zeros (a spreadsheet re-save, ingest/codes.py), or when a
labor-market file's areas do not fit the release kind in its name (a state file with no
row for the state reaches no mart; a metro file with the state's rows, or areas another
kind already holds, would double them).

A held submission's rows are stored under its own manifest id, so a release needs no second
read; dbt reads only LOADED submissions (macro ``loaded_rows``), so the previous one stays
current and publishing goes on with it. ``cte review`` releases or rejects it; every
decision is appended to the audit trail, ``audit.actions``, which nothing deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from dagster_project.contracts import EXTRACTS_BY_NAME
from dagster_project.ingest.audit import Action, Step, record_action
from dagster_project.ingest.codes import EXCEL_ADVICE, PaddedColumn
from dagster_project.ingest.reasons import FileReason, HoldReason, Status
from dagster_project.settings import Settings, dbt_var

# Labor-market extracts with an area column; the marts read the state's area only.
AREA_EXTRACTS = ("oews_wages", "occupational_projections")


@dataclass(frozen=True)
class HoldRules:
    set_aside_share: float = 0.01
    volume_ratio: float = 0.5
    volume_min_rows: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> HoldRules:
        return cls(
            settings.hold_set_aside_share,
            settings.hold_volume_ratio,
            settings.hold_volume_min_rows,
        )


# What a district changes for a held submission to be accepted: one sentence per reason, the
# last line of advice in its error file (quality/error_file.py). The hold's message says
# what was found; this says what to do.
HOLD_FIXES: dict[HoldReason, str] = {
    HoldReason.SET_ASIDE_SHARE: (
        "Correct the rows listed as blocking in this file and send the whole file again; it is "
        "accepted when no more rows than that share are set aside"
    ),
    HoldReason.BLOCKING_CHECK: (
        "Correct the rows that fail this rule (the blocking lines below) and send the whole "
        "file again"
    ),
    HoldReason.VOLUME_DROP: (
        "If rows are missing, export the complete file again and send it; if the drop is real "
        "(a school closed, a program ended), tell PED why so a reviewer can release this file"
    ),
    HoldReason.LOST_LEADING_ZEROS: (
        "Export the file again from the source system, or format the code columns as Text "
        "before saving, and send it again; if nothing but the zeros changed, PED may release "
        "it as padded"
    ),
    HoldReason.AREA_KIND: (
        "Name the file for the kind of release it is, or correct its area codes, and send it again"
    ),
}


@dataclass(frozen=True)
class Hold:
    reason: HoldReason
    message: str


@dataclass(frozen=True)
class Counts:
    read: int
    loaded: int
    set_aside: int


class ReviewError(ValueError):
    """A review decision that cannot be applied (unknown or not held submission)."""


def _previous_current(
    con: duckdb.DuckDBPyConnection, slice_key: tuple[str, str, int]
) -> tuple[str, int, int] | None:
    """(file, school year, rows loaded) of the slice's current submission, else of the
    same district's current one for the year before."""
    extract, district, year = slice_key
    row = con.execute(
        "select file_name, school_year, rows_loaded from raw.load_manifest "
        "where status = 'LOADED' and extract = ? and district_code = ? "
        "and school_year in (?, ?) order by school_year desc, submitted_at desc limit 1",
        [extract, district, year, year - 1],
    ).fetchall()
    return row[0] if row else None


def _volume_hold(
    con: duckdb.DuckDBPyConnection,
    slice_key: tuple[str, str, int],
    counts: Counts,
    rules: HoldRules,
) -> Hold | None:
    previous = _previous_current(con, slice_key)
    if previous is None:
        return None
    file_name, year, before = previous
    # Against last year's submission the bar is half as high: a new year's cohort may
    # shrink (a small district's assessment roster halves by chance), a resubmission of
    # the same year should not.
    ratio = rules.volume_ratio if year == slice_key[2] else rules.volume_ratio / 2
    floor = ratio * before
    if before < rules.volume_min_rows or counts.loaded >= floor:
        return None
    if counts.read >= floor and counts.set_aside > rules.set_aside_share * counts.read:
        return None  # the file is whole; the set-aside hold already says where rows went
    which = "the current submission" if year == slice_key[2] else f"school year {year}'s"
    return Hold(
        HoldReason.VOLUME_DROP,
        f"{counts.loaded:,} rows loaded against {before:,} in {which} ({file_name}), below "
        f"{ratio:.0%} of it: is the file complete?",
    )


def state_area_code() -> str:
    """The dbt variable the marts select the state's labor-market rows by: one value."""
    return dbt_var("state_area_code")


def _areas_elsewhere(
    con: duckdb.DuckDBPyConnection, slice_key: tuple[str, str, int], areas: Sequence[str]
) -> list[tuple[str, str]]:
    """(area, file) of these areas already current in another release kind's file."""
    extract, kind, year = slice_key
    return con.execute(
        f"select distinct r.area, m.file_name from raw.{extract} r "
        "join raw.load_manifest m on m.manifest_id = r._manifest_id "
        "where m.status = 'LOADED' and m.school_year = ? and m.district_code <> ? "
        "and list_contains(?::varchar[], r.area) order by 1 limit 3",
        [year, kind, list(areas)],
    ).fetchall()


def _area_hold(
    con: duckdb.DuckDBPyConnection, slice_key: tuple[str, str, int], areas: Sequence[str]
) -> Hold | None:
    extract, kind, _ = slice_key
    if extract not in AREA_EXTRACTS or not areas:
        return None
    state = state_area_code()
    if kind == "state" and state not in areas:
        found = ", ".join(sorted(areas)[:3])
        return Hold(
            HoldReason.AREA_KIND,
            f"no row is for the state (area {state}; found {found}), so none would reach a "
            "mart: the area column takes the code, not the name; a metro or nonmetro "
            f"workbook is named {extract}__metro__... or {extract}__nonmetro__...",
        )
    if kind != "state" and state in areas:
        return Hold(
            HoldReason.AREA_KIND,
            f"a {kind} file with rows for the state (area {state}): name the state workbook "
            f"{extract}__state__...; each kind of release is its own slice",
        )
    taken = _areas_elsewhere(con, slice_key, areas)
    if taken:
        shown = ", ".join(f"{a} ({f})" for a, f in taken)
        return Hold(
            HoldReason.AREA_KIND,
            f"areas already current in another kind of release for the year: {shown}; "
            "loading them twice would count them twice",
        )
    return None


def holds_for(
    con: duckdb.DuckDBPyConnection,
    slice_key: tuple[str, str, int],
    counts: Counts,
    blocking: Sequence[str],
    padded: Sequence[PaddedColumn],
    rules: HoldRules,
    areas: Sequence[str] = (),
) -> list[Hold]:
    """Why this submission may not become current; empty when it is fit. ``areas``: the
    distinct areas of a labor-market file's loaded rows."""
    found = []
    share = counts.set_aside / counts.read if counts.read else 0.0
    if share > rules.set_aside_share:
        found.append(
            Hold(
                HoldReason.SET_ASIDE_SHARE,
                f"{counts.set_aside:,} of {counts.read:,} rows ({share:.1%}) were set aside, "
                f"more than {rules.set_aside_share:.0%}",
            )
        )
    found += [Hold(HoldReason.BLOCKING_CHECK, f"blocking check failed: {m}") for m in blocking]
    volume = _volume_hold(con, slice_key, counts, rules)
    if volume:
        found.append(volume)
    area = _area_hold(con, slice_key, areas)
    if area:
        found.append(area)
    if padded:
        found.append(
            Hold(
                HoldReason.LOST_LEADING_ZEROS,
                "; ".join(p.sentence() for p in padded) + f": {EXCEL_ADVICE}",
            )
        )
    return found


def held_message(holds: Sequence[Hold]) -> str:
    reasons = "; ".join(h.message for h in holds)
    return (
        f"held, not used: {reasons}. The previous submission stays current until PED "
        "releases or rejects this one, or a corrected file is sent"
    )


def supersede_slice(
    con: duckdb.DuckDBPyConnection,
    slice_key: tuple[str, str, int],
    by_manifest: int,
    statuses: Sequence[Status],
) -> list[int]:
    """Mark the slice's submissions in ``statuses`` SUPERSEDED and delete their rows."""
    extract, district, year = slice_key
    marks = ", ".join("?" for _ in statuses)
    previous = [
        r[0]
        for r in con.execute(
            f"select manifest_id from raw.load_manifest where status in ({marks}) "
            "and extract = ? and district_code = ? and school_year = ? and manifest_id <> ?",
            [*map(str, statuses), extract, district, year, by_manifest],
        ).fetchall()
    ]
    if previous:
        ids = ", ".join(map(str, previous))
        con.execute(f"delete from raw.{extract} where _manifest_id in ({ids})")
        con.execute(
            f"update raw.load_manifest set status = 'SUPERSEDED', "
            f"notes = concat_ws('; ', notes, 'superseded by manifest {by_manifest}') "
            f"where manifest_id in ({ids})"
        )
    return previous


# -- review ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    manifest_id: int
    file_name: str
    decision: str  # RELEASE or REJECT
    replaced: list[int]  # the submissions a release made non-current


def held_submissions(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(manifest_id, file_name, rows_read, rows_loaded, error_message) of every held file."""
    return con.execute(
        "select manifest_id, file_name, rows_read, rows_loaded, error_message "
        "from raw.load_manifest where status = 'HELD' order by manifest_id"
    ).fetchall()


def _held(con: duckdb.DuckDBPyConnection, manifest_id: int) -> tuple[str, str, str, int]:
    row = con.execute(
        "select file_name, extract, district_code, school_year, status "
        "from raw.load_manifest where manifest_id = ?",
        [manifest_id],
    ).fetchall()
    if not row:
        raise ReviewError(f"no submission with manifest id {manifest_id}")
    file_name, extract, district, year, status = row[0]
    if status != Status.HELD:
        raise ReviewError(f"{file_name} (manifest {manifest_id}) is {status}, not HELD")
    return file_name, extract, district, year


def _record_decision(
    con: duckdb.DuckDBPyConnection,
    decision: Decision,
    slice_key: tuple[str, str, int],
    by: str,
    note: str,
) -> None:
    extract, district, year = slice_key
    record_action(
        con,
        Step(
            Action(decision.decision),
            by,
            note,
            district,
            year,
            extract,
            decision.manifest_id,
            ", ".join(map(str, decision.replaced)) or None,
        ),
    )


def review(
    con: duckdb.DuckDBPyConnection, manifest_id: int, release: bool, reviewer: str, note: str
) -> Decision:
    """Release a held submission (it becomes current, replacing the slice's current one) or
    reject it (its stored rows are deleted; the manifest keeps why), in one transaction."""
    if not reviewer.strip() or not note.strip():
        raise ReviewError("a review needs the reviewer's name (--by) and a note (--note)")
    file_name, extract, district, year = _held(con, manifest_id)
    if extract not in EXTRACTS_BY_NAME:
        raise ReviewError(f"{file_name}: unknown extract {extract!r}")
    stamp = f"{reviewer} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {note}"
    con.execute("begin transaction")
    try:
        if release:
            replaced = supersede_slice(con, (extract, district, year), manifest_id, [Status.LOADED])
            con.execute(
                # The padding notes stay; the hold's long message becomes its reason code.
                "update raw.load_manifest set status = 'LOADED', reason_code = null, "
                "notes = concat_ws('; ', notes, 'was held (' || reason_code || ')', ?), "
                "error_message = null where manifest_id = ?",
                [f"released by {stamp}", manifest_id],
            )
        else:
            replaced = []
            con.execute(f"delete from raw.{extract} where _manifest_id = ?", [manifest_id])
            con.execute(
                "update raw.load_manifest set status = 'REJECTED', reason_code = ?, "
                "error_message = concat_ws('; ', error_message, ?) where manifest_id = ?",
                [str(FileReason.REVIEW_REJECTED), f"rejected by {stamp}", manifest_id],
            )
        decision = Decision(manifest_id, file_name, "RELEASE" if release else "REJECT", replaced)
        _record_decision(con, decision, (extract, district, year), reviewer, note)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return decision
