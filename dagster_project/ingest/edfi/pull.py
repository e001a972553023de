"""One pull of a school year from Nova: change versions -> records -> the districts'
submissions -> the loader, exactly as landed files (decision 0022).

The pull keeps a mirror of the resources' records, only the fields the mapping reads (in the
landing zone's hidden ``edfi/.state`` folder: raw student IDs live there as in any landed
file; no names, birth dates or addresses), and the change version it holds.
The first pull reads everything up to the newest change version; each later one reads only
the records changed since, and the deletes, and applies them to the mirror. From the
mirror it derives each district's whole submission of the family's extract
(``student_enrollment``, ``cte_course_enrollment``, ``credential_attainment``;
``mapping.FAMILIES``), and lands and
loads those whose content changed: a district's submission replaces its slice, as a
resubmitted file does, so a deleted association leaves the raw table with the next
submission, and holds, expectations, quarantine and pseudonymization apply unchanged.

The mirror and the change version are saved only after the load committed: a pull that
fails half-way (an HTTP error, a token refused, a timeout, a failed load) leaves the
warehouse and the mirror as they were, and the next pull reads the same window again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.ingest.edfi.client import ChangeWindow, EdFiClient
from dagster_project.ingest.edfi.mapping import (
    STUDENT_ENROLLMENT,
    Placement,
    ResourceFamily,
    kept,
    submission_csv,
)
from dagster_project.ingest.landing import file_name, relative_name
from dagster_project.ingest.loader import FileOutcome, Loader
from dagster_project.ingest.reasons import Status

log = logging.getLogger(__name__)
SOURCE = "edfi"


@dataclass
class Mirror:
    """The records of the resources as of ``change_version``, and the SHA-256 of each
    district's last submission derived from them."""

    path: Path
    change_version: int | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(
        cls, edfi_dir: Path, school_year: int, family: ResourceFamily = STUDENT_ENROLLMENT
    ) -> Mirror:
        path = edfi_dir / ".state" / f"{family.extract.name}__{school_year}.json"
        if not path.exists():
            return cls(path)
        state = json.loads(path.read_text())
        return cls(path, state["change_version"], state["records"], state["districts"])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        state = {
            "change_version": self.change_version,
            "records": self.records,
            "districts": self.districts,
        }
        partial.write_text(json.dumps(state))
        os.replace(partial, self.path)


@dataclass
class PullResult:
    school_year: int
    window: ChangeWindow | None  # None: nothing changed since the last pull
    read: Counter[str] = field(default_factory=Counter)  # records read per resource
    deleted: Counter[str] = field(default_factory=Counter)  # deletes applied per resource
    placement: Placement = field(default_factory=Placement)
    outcomes: list[FileOutcome] = field(default_factory=list)
    associations: int = 0  # records of the family's first resource in the mirror after the pull
    family: ResourceFamily = STUDENT_ENROLLMENT
    held: Counter[str] = field(default_factory=Counter)  # records per resource in the mirror

    @property
    def reconciles(self) -> bool:
        """Every association is in a district's submission, of another year, an earlier
        entry, not a CTE course, or unplaced with a reason; every program association set a
        flag, is of another year, or is unplaced with a reason."""
        return self.associations == self.placement.accounted and all(
            self.held[resource] == use.accounted
            for resource, use in self.placement.programs.items()
        )


def window_for(mirror: Mirror, oldest: int, newest: int) -> ChangeWindow | None:
    """The change versions to read; a full pull when the mirror is empty or older than the
    oldest version the API still tracks (its changes may have been purged)."""
    if mirror.change_version is None or mirror.change_version + 1 < oldest:
        return ChangeWindow(None, newest)
    if newest <= mirror.change_version:
        return None
    return ChangeWindow(mirror.change_version + 1, newest)


def _fetch(client: EdFiClient, mirror: Mirror, window: ChangeWindow, result: PullResult) -> None:
    for resource in result.family.resources:
        # A resource the mirror has never held (one the family gained since the mirror's
        # last pull) is read whole, up to the same newest change version.
        full = window.min_version is None or resource not in mirror.records
        records = {} if full else mirror.records[resource]
        read = ChangeWindow(None, window.max_version) if full else window
        for record in client.records(resource, read):
            records[str(record["id"])] = kept(resource, record)
            result.read[resource] += 1
        if not full:
            for gone in client.deletes(resource, window):
                if records.pop(str(gone.get("id")), None) is not None:
                    result.deleted[resource] += 1
        mirror.records[resource] = records


def _land(
    edfi_dir: Path, extract: str, district: str, year: int, content: bytes, now: datetime
) -> Path:
    """The district's submission as a landed file; never over an existing one."""
    folder = edfi_dir / extract
    folder.mkdir(parents=True, exist_ok=True)
    while (path := folder / file_name(extract, district, year, now)).exists():
        now += timedelta(seconds=1)
    partial = folder / f".{path.name}.partial"
    partial.write_bytes(content)
    os.replace(partial, path)
    return path


def pull_school_year(
    client: EdFiClient,
    loader: Loader,
    edfi_dir: Path,
    school_year: int,
    now: datetime | None = None,
    family: ResourceFamily = STUDENT_ENROLLMENT,
) -> PullResult:
    """Pull what changed in the family's resources, load the districts' submissions that
    changed, record the pull."""
    mirror = Mirror.open(edfi_dir, school_year, family)
    oldest, newest = client.available_change_versions()
    window = window_for(mirror, oldest, newest)
    result = PullResult(school_year, window, family=family)
    if window is None:
        return result
    _fetch(client, mirror, window, result)
    result.associations = len(mirror.records.get(family.spine, {}))
    result.held = Counter({r: len(mirror.records.get(r, {})) for r in family.resources})
    result.placement = family.place(mirror.records, school_year)
    # Local time, as districts name their files: the later submission of a slice wins.
    now = (now or datetime.now()).replace(microsecond=0)
    landed: dict[Path, tuple[str, str]] = {}
    for district, rows in sorted(result.placement.rows.items()):
        content = submission_csv(rows, family)
        sha = hashlib.sha256(content).hexdigest()
        if mirror.districts.get(district) != sha:
            path = _land(edfi_dir, family.extract.name, district, school_year, content, now)
            landed[path] = (district, sha)
    result.outcomes = loader.load(list(landed), sha256s={p: sha for p, (_, sha) in landed.items()})
    by_path = {o.path: o for o in result.outcomes}
    for path, (district, sha) in landed.items():
        outcome = by_path.get(relative_name(path, loader.landing_dir))
        if outcome is not None and outcome.status is not Status.REJECTED:
            mirror.districts[district] = sha
    record_pull(loader.con, result, loader.run_id)
    mirror.change_version = newest
    mirror.save()
    return result


def record_pull(con: duckdb.DuckDBPyConnection, result: PullResult, run_id: str | None) -> None:
    """The pull in raw.edfi_pulls, and its window on the manifest rows of its submissions."""
    window = result.window
    if window is None:
        return
    ids = [o.manifest_id for o in result.outcomes]
    con.execute("begin transaction")
    try:
        _insert_pull(con, result, window, ids, run_id)
        if ids:
            con.execute(
                "update raw.load_manifest set source = ?, source_resources = ?, "
                "change_version_min = ?, change_version_max = ? "
                f"where manifest_id in ({', '.join(map(str, ids))})",
                [
                    SOURCE,
                    ", ".join(result.family.resources),
                    window.min_version,
                    window.max_version,
                ],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    for reason, count in result.placement.unplaced.items():
        log.warning(
            "Ed-Fi %s %s: %s association(s) not placed: %s",
            result.family.extract.name,
            result.school_year,
            count,
            reason,
        )
    for resource, use in result.placement.programs.items():
        for reason, count in use.unplaced.items():
            log.warning(
                "Ed-Fi %s %s: %s %s record(s) set no flag: %s",
                result.family.extract.name,
                result.school_year,
                count,
                resource,
                reason,
            )


def _insert_pull(
    con: duckdb.DuckDBPyConnection,
    result: PullResult,
    window: ChangeWindow,
    ids: list[int],
    run_id: str | None,
) -> None:
    placement = result.placement
    family = result.family
    resources: dict[str, dict[str, int]] = {
        r: {"read": result.read[r], "deleted": result.deleted[r]} for r in family.resources
    }
    if placement.other_courses:
        # No column of its own yet: section enrollments in courses that are not CTE.
        resources[family.spine]["other_courses"] = placement.other_courses
    if placement.skipped:
        # No column of their own either: records that are not rows of the extract.
        resources[family.spine]["skipped"] = sum(placement.skipped.values())
    for resource, use in placement.programs.items():
        # Program associations (student_enrollment): flags set, other years, unplaced.
        resources.setdefault(resource, {"read": 0, "deleted": 0})
        resources[resource] |= {
            "applied": use.applied,
            "other_years": use.other_years,
            "unplaced": sum(use.unplaced.values()),
        }
        if use.unplaced:
            resources[resource]["unplaced_reasons"] = dict(use.unplaced)
    con.execute(
        "insert into raw.edfi_pulls (extract, school_year, change_version_min, "
        "change_version_max, resources, associations, placed, other_years, earlier_entries, "
        "unplaced, unplaced_reasons, manifest_ids, run_id, pulled_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            family.extract.name,
            result.school_year,
            window.min_version,
            window.max_version,
            json.dumps(resources),
            result.associations,
            placement.placed,
            placement.other_years,
            placement.earlier_entries,
            sum(placement.unplaced.values()),
            json.dumps(dict(placement.unplaced)) if placement.unplaced else None,
            ids,
            run_id,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )
