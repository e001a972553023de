"""Command line: python -m dagster_project.sample_data --scale ... --years ... --seed ..."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dagster_project.sample_data.directory import SCALES
from dagster_project.sample_data.generator import generate
from dagster_project.settings import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.sample_data",
        description="Write synthetic New Mexico CTE extracts into a landing zone.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="sample")
    parser.add_argument("--years", type=int, default=3, help="school years to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--last-year", type=int, default=2025, help="last (spring) school year")
    parser.add_argument("--landing", type=Path, help="landing zone (default: CTE_LANDING_DIR)")
    parser.add_argument("--defects", type=Path, help="also write the bad-input files here")
    args = parser.parse_args(argv)
    landing = args.landing or get_settings().landing_dir
    summary = generate(args.scale, args.years, args.seed, landing, last_year=args.last_year)
    if args.defects:
        from dagster_project.sample_data.defects import write_defects

        summary["defects"] = len(write_defects(args.defects, args.seed))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
