"""The statewide benchmark.

    python -m benchmarks.run                      # state scale, 10 school years (make bench)
    python -m benchmarks.run --quick              # tiny scale, 2 years, everything (CI)
    python -m benchmarks.run --only full,floor    # some measurements only

Writes <output-dir>/<date>.json and <date>.md (``<date>-quick`` with --quick). Generated data
is cached in benchmarks/data/, scratch homes live in benchmarks/work/ (both git-ignored).
Measurements: full (full rebuild by stage, peak memory), floor (floor.sql and the ratio, with a
cross-check against the marts), resubmission (sensor path, with analyst queries under load),
validation (Great Expectations share of load time), analyst (query latency), growth (full
rebuild and floor at other sizes). Any of them needs the main full rebuild, which runs first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from benchmarks import analyst, analyst_answers, machine, profile, report
from benchmarks.common import BENCH_DIR, REPO_ROOT, log, published_path, warehouse_dir
from benchmarks.data import Dataset, ensure_dataset, stage_home
from benchmarks.floor import cross_check, run_floor
from benchmarks.pipeline import run_full_rebuild
from benchmarks.procmon import gib
from benchmarks.resubmission import measure_resubmission

MEASUREMENTS = ("full", "floor", "resubmission", "validation", "analyst", "growth")
DEFAULT_GROWTH = "state:1,state:3,state:10,large:1"
ANALYST_ROUNDS = 20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", default="state", choices=["tiny", "sample", "state", "large"])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", help=f"comma-separated subset of {', '.join(MEASUREMENTS)} (default: all)"
    )
    parser.add_argument(
        "--growth",
        help=f"sizes for growth as scale:years,... (default {DEFAULT_GROWTH}; "
        "with --quick only the main size)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny scale, 2 years, every measurement (for CI)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the main full rebuild under py-spy (pip install py-spy) and summarize it",
    )
    parser.add_argument(
        "--resubmission-rows",
        type=int,
        default=1,
        help="rows of the largest district's latest file the resubmission corrects (default 1)",
    )
    parser.add_argument(
        "--name", help="results file stem (default: the date, with -quick for --quick)"
    )
    parser.add_argument("--output-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--data-dir", type=Path, default=BENCH_DIR / "data")
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / "work")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.years = "tiny", 2
    only = set(args.only.split(",")) if args.only else set(MEASUREMENTS)
    unknown = only - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s) {sorted(unknown)}; choose from {MEASUREMENTS}")
    args.only = only
    if args.profile and not profile.available():
        parser.error("--profile needs py-spy in the virtualenv: .venv/bin/pip install py-spy")
    growth = args.growth or (f"{args.scale}:{args.years}" if args.quick else DEFAULT_GROWTH)
    args.growth_sizes = [(s, int(y)) for s, y in (item.split(":") for item in growth.split(","))]
    return args


def _code_version() -> str:
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _dataset_summary(dataset: Dataset) -> dict[str, Any]:
    s = dataset.summary()
    return {
        "scale": dataset.scale,
        "years": dataset.years,
        "seed": dataset.seed,
        "file_count": s["file_count"],
        "bytes": s["bytes"],
        "rows": s["rows"],
        "rows_total": sum(s["rows"].values()),
        "generation_seconds": s["wall_seconds"],
    }


class Benchmark:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.monotonic()
        name = args.name or date.today().isoformat() + ("-quick" if args.quick else "")
        self.stem = args.output_dir / name
        self.result: dict[str, Any] = {
            "date": date.today().isoformat(),
            "code_version": _code_version(),
            "machine": machine.describe(),
            "config": {
                "scale": args.scale,
                "years": args.years,
                "seed": args.seed,
                "quick": args.quick,
                "measurements": sorted(args.only),
                "growth_sizes": [f"{s}:{y}" for s, y in args.growth_sizes],
            },
            "errors": {},
            "notes": [],
        }

    def save(self) -> None:
        self.result["machine"]["load_average_at_end"] = machine.load_average()
        self.result["benchmark_seconds"] = round(time.monotonic() - self.started, 1)
        self.result["targets"] = report.targets(self.result)
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        self.stem.with_suffix(".json").write_text(json.dumps(self.result, indent=2) + "\n")
        self.stem.with_suffix(".md").write_text(report.markdown(self.result))

    def attempt(self, name: str, func, *args: Any) -> Any:
        """Run one measurement; a failure is recorded and the others still run."""
        try:
            return func(*args)
        except Exception as exc:  # a benchmark reports what broke and carries on
            log(f"{name} FAILED: {exc}")
            self.result["errors"][name] = f"{type(exc).__name__}: {exc}"[:3000]
            return None
        finally:
            self.save()

    # -- one size: full rebuild and floor ---------------------------------------------------

    def measure_size(self, scale: str, years: int, main: bool) -> dict[str, Any]:
        """Full rebuild and floor at one size; the main size's home is kept for the rest."""
        dataset = ensure_dataset(self.args.data_dir, scale, years, self.args.seed)
        home = stage_home(dataset, self.args.work_dir / dataset.label)
        profile_to = (
            home.parent / f"{dataset.label}-profile.txt" if main and self.args.profile else None
        )
        full = run_full_rebuild(home, dataset.label, profile_to)
        floor = run_floor(
            dataset.landing, self.args.work_dir / f"{dataset.label}-floor.parquet", dataset.label
        )
        floor["peak_rss_gib"] = gib(floor["peak_rss_bytes"])
        floor["ratio_full_rebuild_to_floor"] = round(full["wall_seconds"] / floor["seconds"], 2)
        if full.get("cpu_seconds") and floor.get("cpu_seconds"):
            floor["cpu_ratio_full_rebuild_to_floor"] = round(
                full["cpu_seconds"] / floor["cpu_seconds"], 2
            )
        warehouse = warehouse_dir(home) / "cte.duckdb"
        if warehouse.exists():
            try:
                floor["cross_check"] = cross_check(Path(floor["results"]), warehouse)
            except duckdb.Error as exc:  # marts missing after a failed build
                floor["cross_check"] = {"error": str(exc).splitlines()[0]}
        point = {
            "scale": scale,
            "years": years,
            "rows": _dataset_summary(dataset)["rows_total"],
            "ok": full["ok"],
            "full_rebuild_seconds": full["wall_seconds"],
            "dbt_build_seconds": full.get("stages", {}).get("dbt_build"),
            "floor_seconds": floor["seconds"],
            "ratio_to_floor": floor["ratio_full_rebuild_to_floor"],
            "full_rebuild_cpu_seconds": full.get("cpu_seconds"),
            "floor_cpu_seconds": floor.get("cpu_seconds"),
            "cpu_ratio_to_floor": floor.get("cpu_ratio_full_rebuild_to_floor"),
            "peak_rss_gib": full["peak_rss_gib"],
            "floor_agreement_share": floor.get("cross_check", {}).get("agreement_share"),
        }
        if not main:
            shutil.rmtree(home, ignore_errors=True)
        return {"dataset": dataset, "home": home, "full": full, "floor": floor, "point": point}

    # -- the whole run ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args, only = self.args, self.args.only
        log(f"benchmark: {args.scale} scale, {args.years} years, seed {args.seed}; {sorted(only)}")
        log(f"machine: {self.result['machine']}")
        main = self.attempt("full", self.measure_size, args.scale, args.years, True)
        if main is None:
            return self.result
        full, floor = main["full"], main["floor"]
        self.result["dataset"] = _dataset_summary(main["dataset"])
        self.result["full_rebuild"] = full
        if "floor" in only or "growth" in only:
            self.result["floor"] = floor
        if "validation" in only:
            self.result["validation"] = self._validation(full)
        published = published_path(main["home"])
        self.result["utility"] = _utility(published)
        self.result["analyst_answers"] = _analyst_answers(published)
        if "analyst" in only:
            idle = self.attempt("analyst", analyst.measure_idle, published, ANALYST_ROUNDS)
            self.result["analyst"] = {"queries": list(analyst.QUERIES), "idle": idle or {}}
        if "resubmission" in only or "analyst" in only:
            timeout = max(600.0, 1.5 * full["wall_seconds"])
            resub = self.attempt(
                "resubmission",
                measure_resubmission,
                main["home"],
                timeout,
                self.args.resubmission_rows,
            )
            if resub:
                seconds = resub.get("seconds")
                resub["share_of_full_rebuild"] = (
                    round(seconds / full["wall_seconds"], 3) if seconds else None
                )
                under_load = resub.pop("analyst_under_load")
                if "resubmission" in only:
                    self.result["resubmission"] = resub
                if "analyst" in only:
                    self.result["analyst"]["under_load"] = under_load
        self.save()
        if "growth" in only:
            self._growth(main)
        self.save()
        log(f"results: {self.stem}.json and .md")
        return self.result

    def _validation(self, full: dict[str, Any]) -> dict[str, Any]:
        validate, load = full["validate_seconds"], full["load_seconds"]
        rows = full["rows_validated"]
        return {
            "validate_seconds": validate,
            "load_seconds": load,
            "share_of_load": round(validate / load, 4) if load else None,
            "rows_validated": rows,
            "rows_per_second": round(rows / validate, 1) if validate else None,
            "per_extract": {
                name: {
                    "validate_seconds": e["validate_seconds"],
                    "step_seconds": e["step_seconds"],
                    "rows_validated": e["rows_validated"],
                }
                for name, e in full["per_extract"].items()
            },
        }

    def _growth(self, main: dict[str, Any]) -> None:
        points = []
        self.result["growth"] = {"points": points}
        for scale, years in self.args.growth_sizes:
            if (scale, years) == (self.args.scale, self.args.years):
                points.append(main["point"])
            else:
                name = f"growth {scale}:{years}"
                measured = self.attempt(name, self.measure_size, scale, years, False)
                if measured:
                    points.append(measured["point"])
            self.save()


def _utility(published: Path) -> list[dict[str, Any]]:
    """The snapshot's publication_summary: what share of the cells with n >= min n it shows."""
    con = duckdb.connect(str(published), read_only=True)
    try:
        return con.sql("select * from publication_summary").pl().to_dicts()
    finally:
        con.close()


def _analyst_answers(published: Path) -> list[dict[str, Any]]:
    """The analyst guide's questions on the snapshot: how many of their figures it shows
    (issue 15: no headline question may get an all-null answer)."""
    return [
        {
            "question": a.question.number,
            "title": a.question.title,
            "rows": a.rows,
            "figures": a.figures,
            "shown": a.shown,
            "all_null": a.all_null,
        }
        for a in analyst_answers.answers(published)
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = Benchmark(args).run()
    if result["errors"]:
        raise SystemExit(f"benchmark finished with errors: {sorted(result['errors'])}")


if __name__ == "__main__":
    main()
