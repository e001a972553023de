"""Ed-Fi pull times (decision 0022): a full pull of each of the four families Nova serves,
then an incremental one after ~1 % of the records changed on the server.

    .venv/bin/python -m benchmarks.edfi_pull --scale sample
    .venv/bin/python -m benchmarks.edfi_pull --scale state --years 1

A generated sample (cached under --data-dir, as benchmarks.run caches it) is turned into
Ed-Fi records (tests/edfi_from_sample.py, the inverse of the mapping) and served by the
fake ODS/API of the tests (tests/edfi_fake.py: both stay with the tests, whose doubles they
are; this module imports them by path). Each family of the latest school year is pulled
into a fresh warehouse as the asset pulls it (``pull_school_year``: paging, the mirror,
the districts' submissions, the loader with its suite). Then every hundredth record of
each family's spine is changed on the server (half re-written, half deleted) and each
family is pulled again. The server runs in this process (a thread): its JSON encoding is
part of the seconds measured, and its records are part of the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.common import BENCH_DIR, REPO_ROOT, log
from benchmarks.data import ensure_dataset
from dagster_project.ingest.edfi import pull as pull_module
from dagster_project.ingest.edfi.mapping import FAMILIES, ResourceFamily
from dagster_project.ingest.edfi.pull import PullResult
from dagster_project.warehouse import ensure_schema

sys.path.insert(0, str(REPO_ROOT / "tests"))
from edfi_fake import FakeOds, pull, serve
from edfi_from_sample import EDFI_EXTRACTS, ods_records

PAGE_SIZE = 500  # the ODS/API's largest page
CHANGED_EVERY = 100  # ~1 % of each spine: every hundredth record


@dataclass(frozen=True)
class Timed:
    extract: str
    kind: str  # full | incremental
    records: int  # records read (and deletes applied)
    rows_loaded: int
    seconds: float  # the whole pull: fetch, placement, submissions, load
    fetch_seconds: float  # the change queries and the mirror (HTTP, JSON, paging)

    def as_dict(self) -> dict[str, Any]:
        rate = self.records / self.seconds if self.seconds else 0.0
        fetch_rate = self.records / self.fetch_seconds if self.fetch_seconds else 0.0
        return {
            **vars(self),
            "records_per_second": round(rate, 1),
            "fetched_per_second": round(fetch_rate, 1),
        }


class FetchClock:
    """Seconds spent in the pull's fetch (``pull._fetch``), wrapped for the benchmark."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._fetch = pull_module._fetch
        pull_module._fetch = self._timed

    def _timed(self, *args: Any) -> None:
        started = time.perf_counter()
        try:
            self._fetch(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def lap(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def change_spines(ods: FakeOds) -> int:
    """Every hundredth record of each family's spine re-written (a new change version) or,
    every other time, deleted; the number of records changed."""
    changed = 0
    for family in FAMILIES.values():
        for n, record in enumerate(list(ods.records.get(family.spine, {}).values())):
            if n % CHANGED_EVERY:
                continue
            if (n // CHANGED_EVERY) % 2:
                ods.delete(family.spine, record["id"])
            else:
                ods.put(family.spine, record)
            changed += 1
    return changed


def timed_pull(
    con: duckdb.DuckDBPyConnection,
    url: str,
    landing: Path,
    family: ResourceFamily,
    year: int,
    kind: str,
    clock: FetchClock,
) -> Timed:
    clock.lap()
    started = time.perf_counter()
    result: PullResult = pull(con, url, landing, family, page_size=PAGE_SIZE, year=year)
    seconds, fetch_seconds = time.perf_counter() - started, clock.lap()
    records = sum(result.read.values()) + sum(result.deleted.values())
    loaded = sum(o.rows_loaded for o in result.outcomes)
    log(
        f"{kind} pull of {family.extract.name}: {records:,} records in {seconds:.1f} s "
        f"(fetch {fetch_seconds:.1f} s)"
    )
    return Timed(
        family.extract.name, kind, records, loaded, round(seconds, 2), round(fetch_seconds, 2)
    )


def measure(landing: Path, work: Path) -> dict[str, Any]:
    records, years = ods_records(landing)
    year = years[-1]
    served = {resource: len(items) for resource, items in records.items()}
    ods = FakeOds.holding(records)
    del records
    server, url = serve(ods)
    clock = FetchClock()
    try:
        shutil.rmtree(work, ignore_errors=True)  # a fresh warehouse and mirror
        work.mkdir(parents=True)
        with duckdb.connect(str(work / "cte.duckdb")) as con:
            ensure_schema(con)
            pulls = [
                timed_pull(con, url, work / "landing", FAMILIES[name], year, "full", clock)
                for name in EDFI_EXTRACTS
            ]
            changed = change_spines(ods)
            pulls += [
                timed_pull(con, url, work / "landing", FAMILIES[name], year, "incremental", clock)
                for name in EDFI_EXTRACTS
            ]
    finally:
        server.shutdown()
    return {
        "school_year": year,
        "records_on_the_ods": served,
        "records_changed": changed,
        "pulls": [p.as_dict() for p in pulls],
        "peak_rss_mb": round(peak_rss_mb()),
    }


def report(results: dict[str, Any]) -> str:
    lines = [
        f"scale {results['scale']}, {results['years']} year(s), school year "
        f"{results['school_year']}; {results['records_changed']:,} spine records changed; "
        f"peak RSS {results['peak_rss_mb']:,} MB",
        "| family | pull | records | rows loaded | seconds | records/s | fetch s | fetched/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in results["pulls"]:
        lines.append(
            f"| {p['extract']} | {p['kind']} | {p['records']:,} | {p['rows_loaded']:,} | "
            f"{p['seconds']:.1f} | {p['records_per_second']:,.0f} | "
            f"{p['fetch_seconds']:.1f} | {p['fetched_per_second']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.edfi_pull")
    parser.add_argument("--scale", choices=("tiny", "sample", "state"), default="sample")
    parser.add_argument("--years", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "data")
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / "work")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    dataset = ensure_dataset(args.data_dir, args.scale, args.years, args.seed)
    work = args.work_dir / f"edfi-pull-{dataset.label}"
    results = {"scale": args.scale, "years": args.years, "seed": args.seed}
    results |= measure(dataset.landing, work)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
