"""PED's review of a district's school year: verified, then certified (issue 22).

A district-year's status, shown on the report's index and the district's page:

- ``NEEDS_ACTION``: a file is held, a file was rejected and nothing has replaced it, or a
  blocking check failed: the district (or a reviewer releasing a hold) must act first.
- ``RECEIVED``: files are current and nobody has reviewed them since the latest arrived.
- ``VERIFIED``: a reviewer looked at the warnings and recorded why they stand ("the drop
  in enrollment is real: the school closed").
- ``CERTIFIED``: PED certified the district-year for state reporting.

A decision covers the files current when it was taken: a later submission sends the
district-year back to ``RECEIVED`` (or ``NEEDS_ACTION``) until it is reviewed again.
Decisions are kept in the audit trail, ``audit.actions`` (read here through its view
``audit.district_year_reviews``), never updated or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import duckdb

from dagster_project.ingest.audit import Action, Step, record_action


class DistrictYearStatus(StrEnum):
    NEEDS_ACTION = "NEEDS_ACTION"
    RECEIVED = "RECEIVED"
    VERIFIED = "VERIFIED"
    CERTIFIED = "CERTIFIED"


class ReviewStep(StrEnum):
    VERIFY = "VERIFY"
    CERTIFY = "CERTIFY"


STATUS_WORDS = {
    DistrictYearStatus.NEEDS_ACTION: "Needs action",
    DistrictYearStatus.RECEIVED: "Received",
    DistrictYearStatus.VERIFIED: "Verified",
    DistrictYearStatus.CERTIFIED: "Certified",
}
_REACHES = {
    ReviewStep.VERIFY: DistrictYearStatus.VERIFIED,
    ReviewStep.CERTIFY: DistrictYearStatus.CERTIFIED,
}


class CertificationError(ValueError):
    """The step cannot be recorded (nothing received, or action still needed)."""


@dataclass(frozen=True)
class Decision:
    step: ReviewStep
    reviewer: str
    note: str
    decided_at: datetime


def status(
    needs_action: bool, latest_file_at: datetime, decisions: list[Decision]
) -> DistrictYearStatus:
    """The district-year's status from its page and its review decisions, oldest first."""
    if needs_action:
        return DistrictYearStatus.NEEDS_ACTION
    standing = [d for d in decisions if d.decided_at >= latest_file_at]
    if not standing:
        return DistrictYearStatus.RECEIVED
    return max((_REACHES[d.step] for d in standing), key=list(DistrictYearStatus).index)


def decisions_by_district_year(
    con: duckdb.DuckDBPyConnection,
) -> dict[tuple[str, int], list[Decision]]:
    rows = con.execute(
        "select district_code, school_year, step, reviewer, note, decided_at "
        "from audit.district_year_reviews order by decided_at"
    ).fetchall()
    found: dict[tuple[str, int], list[Decision]] = {}
    for district, year, step, reviewer, note, decided_at in rows:
        found.setdefault((district, year), []).append(
            Decision(ReviewStep(step), reviewer, note, decided_at)
        )
    return found


def record(
    con: duckdb.DuckDBPyConnection,
    district: str,
    year: int,
    step: ReviewStep,
    reviewer: str,
    note: str,
    needs_action: bool | None,
) -> Decision:
    """Record a review step for a district-year. ``needs_action`` is the district-year's
    page's (None: nothing was received). Certifying a district-year that needs action is
    refused; verifying it is too (the warnings a reviewer verifies are those of current
    files)."""
    if not reviewer.strip() or not note.strip():
        raise CertificationError("a review needs the reviewer's name (--by) and a note (--note)")
    if needs_action is None:
        raise CertificationError(f"nothing was received from district {district} for {year}")
    if needs_action:
        raise CertificationError(
            f"district {district} {year} needs action first (a held or rejected file, or a "
            "failed blocking check): see its report page and `cte review list`"
        )
    decided_at = record_action(
        con, Step(Action(step.value), reviewer, note.strip(), district, year)
    )
    return Decision(step, reviewer.strip(), note.strip(), decided_at)
