"""The quality gate: what the checks found, where it is kept, and what it stops (decision 0027).

- ``audit.dq_results``, one row per (submission, check): its columns are declared once here
  (``DQ_RESULTS``: the DDL in warehouse.py, the frames of validation.py and cross_file.py)
  and written only here (a batch's expectations appended, the cross-file results replaced).
- What holds a submission: a failed ERROR expectation (``holding_rules``); ingest/hold.py
  adds the reasons that are not expectations (rows set aside, volume, lost zeros, areas).
- What refuses a publish: a current submission failing an ERROR expectation nobody
  released, or rows that do not reconcile (``blocking_failures``). ``publish_snapshot``
  refuses whatever failures it is handed, whoever calls it.
- The checks a load reports for the files it read (``LOAD_CHECKS``, ``load_check_outcomes``),
  which the raw assets turn into Dagster asset checks. The two that block are the two
  conditions that refuse a publish. Failing one (a Dagster blocking check) fails the run:
  it shows red, ``record_run_failures`` records it, the rebuild sensor waits for a load that
  succeeds, and in a ``load_and_publish`` run the models and the publish after the load are
  skipped. A load job has nothing downstream, so there the flag stops nothing; what keeps
  the data out of every snapshot is the hold and ``blocking_failures``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from dagster_project.ingest.audit import current_manifest_ids, reconcile
from dagster_project.ingest.reasons import Status
from dagster_project.quality.suites import ERROR, WARN

if TYPE_CHECKING:
    from dagster_project.ingest.loader import FileOutcome

# audit.dq_results: column -> (DuckDB type, polars type).
DQ_RESULTS: dict[str, tuple[str, pl.DataType]] = {
    "manifest_id": ("bigint not null", pl.Int64()),
    "extract": ("varchar not null", pl.String()),
    "suite": ("varchar not null", pl.String()),
    "expectation": ("varchar not null", pl.String()),
    "column_name": ("varchar", pl.String()),
    "severity": ("varchar not null", pl.String()),
    "reason_code": ("varchar", pl.String()),
    "description": ("varchar", pl.String()),
    "success": ("boolean not null", pl.Boolean()),
    "element_count": ("bigint", pl.Int64()),
    "unexpected_count": ("bigint", pl.Int64()),
    "unexpected_percent": ("double", pl.Float64()),
    "validated_at": ("timestamp not null", pl.Datetime("us")),
    "run_id": ("varchar", pl.String()),
}
_STAMPS = ("validated_at", "run_id")  # set by the writers, not by the checks
# What a check computes: one row per (submission, check), every column but the stamps.
RESULT_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, (_, dtype) in DQ_RESULTS.items() if name not in _STAMPS
}


def dq_results_ddl() -> str:
    columns = ",\n    ".join(f"{name} {sql}" for name, (sql, _) in DQ_RESULTS.items())
    return f"create table if not exists audit.dq_results (\n    {columns}\n);"


# -- the writers ------------------------------------------------------------------------------


def _insert(con: duckdb.DuckDBPyConnection, results: pl.DataFrame, run_id: str | None) -> None:
    table = results.with_columns(
        pl.lit(datetime.now(UTC).replace(tzinfo=None)).alias("validated_at"),
        pl.lit(run_id, pl.String).alias("run_id"),
    ).to_arrow()
    columns = ", ".join(table.column_names)
    con.register("incoming_dq_results", table)
    try:
        con.execute(
            f"insert into audit.dq_results ({columns}) select {columns} from incoming_dq_results"
        )
    finally:
        con.unregister("incoming_dq_results")


def record_results(
    con: duckdb.DuckDBPyConnection, results: pl.DataFrame, run_id: str | None
) -> None:
    """Append a batch's per-submission results (``RESULT_SCHEMA`` columns)."""
    if not results.is_empty():
        _insert(con, results, run_id)


def replace_results(
    con: duckdb.DuckDBPyConnection, suite: str, results: pl.DataFrame, run_id: str | None
) -> None:
    """Replace, in one transaction, the suite's results of every current or held submission:
    the suite is recomputed for all of them each time (cross_file.py)."""
    con.execute("begin transaction")
    try:
        con.execute(
            "delete from audit.dq_results where suite = ? and manifest_id in "
            "(select manifest_id from raw.load_manifest where status in ('LOADED', 'HELD'))",
            [suite],
        )
        _insert(con, results, run_id)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


# -- the decisions ----------------------------------------------------------------------------


def holding_rules(results: pl.DataFrame) -> dict[int, list[str]]:
    """What holds each submission of a batch: the messages of the ERROR expectations it
    failed (beyond their ``mostly``), by manifest id; a submission failing none is absent."""
    failed = results.filter(~pl.col("success") & (pl.col("severity") == ERROR))
    holding: dict[int, list[str]] = {}
    for manifest_id, description in failed.select("manifest_id", "description").iter_rows():
        holding.setdefault(manifest_id, []).append(description)
    return holding


def blocking_failures(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Why the current data may not be published; empty when every blocking check passes.

    Considers only current submissions (status LOADED). A submission failing a blocking
    expectation is held (``holding_rules``), so it never becomes current and never stops the
    state's publish; one a reviewer released was judged usable (audit.actions).
    What is left is a current file loaded before holds existed, and rows that do not
    reconcile.
    """
    failed = con.execute(f"""
        select m.file_name, r.expectation, r.unexpected_count, r.element_count
        from audit.dq_results r
        join raw.load_manifest m using (manifest_id)
        where m.status = 'LOADED' and r.severity = '{ERROR}' and not r.success
          and manifest_id not in (
              select manifest_id from audit.actions where action = 'RELEASE')
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


# -- the checks a load reports -----------------------------------------------------------------


@dataclass(frozen=True)
class LoadCheck:
    name: str
    severity: str  # ERROR or WARN, as Dagster shows a failure
    blocks: bool  # a failure fails the load run: the conditions that refuse a publish
    description: str


ROWS_RECONCILE = LoadCheck(
    "rows_reconcile",
    ERROR,
    True,
    "Rows read = rows stored + rows quarantined, for every file loaded",
)
EXPECTATIONS_ERROR = LoadCheck(
    "expectations_error",
    ERROR,
    True,
    "Great Expectations ERROR expectations: a failure holds the file",
)
SUBMISSIONS_CURRENT = LoadCheck(
    "submissions_current",
    ERROR,
    False,
    "Every file read became current: none held (rows set aside, a blocking check, a volume "
    "drop or lost leading zeros; `cte review` decides)",
)
EXPECTATIONS_WARN = LoadCheck(
    "expectations_warn",
    WARN,
    False,
    "Great Expectations WARN expectations: reported to PED, not blocking",
)
LOAD_CHECKS = (ROWS_RECONCILE, EXPECTATIONS_ERROR, SUBMISSIONS_CURRENT, EXPECTATIONS_WARN)


@dataclass(frozen=True)
class CheckOutcome:
    check: LoadCheck
    passed: bool
    metadata: dict[str, object]


def load_check_outcomes(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[FileOutcome]
) -> list[CheckOutcome]:
    """Every ``LOAD_CHECKS`` outcome for the files one load read, computed from what the
    warehouse holds for the submissions it stored (loaded or held)."""
    stored = [o.manifest_id for o in outcomes if o.status in (Status.LOADED, Status.HELD)]
    return [
        _reconciled(con, stored),
        _expectations(con, stored, EXPECTATIONS_ERROR),
        _expectations(con, stored, EXPECTATIONS_WARN),
        _all_current(outcomes),
    ]


def _reconciled(con: duckdb.DuckDBPyConnection, manifest_ids: list[int]) -> CheckOutcome:
    balances = reconcile(con, manifest_ids)
    unbalanced = [b for b in balances if not b.balanced]
    return CheckOutcome(
        ROWS_RECONCILE,
        not unbalanced,
        {
            "files_checked": len(balances),
            "unbalanced": [
                f"{b.file_name}: read {b.rows_read}, stored {b.rows_in_table}, "
                f"quarantined {b.rows_in_quarantine}"
                for b in unbalanced
            ],
        },
    )


def _expectations(
    con: duckdb.DuckDBPyConnection, manifest_ids: list[int], check: LoadCheck
) -> CheckOutcome:
    ids = ", ".join(map(str, manifest_ids)) or "null"
    failed = con.execute(
        f"""
        select m.file_name, r.expectation, r.unexpected_count, r.description
        from audit.dq_results r join raw.load_manifest m using (manifest_id)
        where r.manifest_id in ({ids}) and r.severity = ? and not r.success
        order by 1, 2
        """,
        [check.severity],
    ).fetchall()
    evaluated = con.execute(
        f"select count(*) from audit.dq_results where manifest_id in ({ids}) and severity = ?",
        [check.severity],
    ).fetchall()[0][0]
    return CheckOutcome(
        check,
        not failed,
        {
            "expectations_evaluated": evaluated,
            "failed": [f"{f}: {e} ({n} rows) {d or ''}".strip() for f, e, n, d in failed],
        },
    )


def _all_current(outcomes: Sequence[FileOutcome]) -> CheckOutcome:
    held = [o for o in outcomes if o.status is Status.HELD]
    return CheckOutcome(
        SUBMISSIONS_CURRENT,
        not held,
        {
            "files_became_current": sum(o.status is Status.LOADED for o in outcomes),
            "held": [f"{o.file_name} (manifest {o.manifest_id}): {o.error_message}" for o in held],
        },
    )
