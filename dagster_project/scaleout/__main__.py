"""Build the marts on Spark from the loaded warehouse, then publish them.

    python -m dagster_project.scaleout            build on Spark, then publish
    python -m dagster_project.scaleout --no-publish

Load first (`cte run` or `cte load`): ingest writes the DuckDB raw schema either way. The
publish step is the same write-audit-publish as on DuckDB, gated by the same blocking checks.
"""

from __future__ import annotations

import argparse
import json
import sys

from dagster_project.ingest.audit import blocking_failures, current_manifest_ids
from dagster_project.publish.snapshot import PublishBlocked, current_code_version, publish_snapshot
from dagster_project.scaleout.spark import SparkLayout, build_on_spark
from dagster_project.settings import REPO_ROOT, disable_telemetry, get_settings
from dagster_project.warehouse import connect


def main(argv: list[str] | None = None) -> None:
    disable_telemetry()
    parser = argparse.ArgumentParser(prog="python -m dagster_project.scaleout")
    parser.add_argument("--no-publish", action="store_true", help="build and test only")
    args = parser.parse_args(argv)
    settings = get_settings()
    layout = SparkLayout.from_settings(settings)
    build = build_on_spark(settings, layout)
    print(json.dumps({"seconds": build.seconds, "marts": build.marts}, indent=2))
    if args.no_publish:
        return
    with connect(settings.warehouse_path, read_only=True) as con:
        failures = blocking_failures(con)
        manifest_ids = current_manifest_ids(con)
    try:
        info = publish_snapshot(
            layout.marts_path,
            settings.published_dir,
            layout.manifest_path,
            settings.min_n,
            blocking_failures=failures,
            manifest_ids=manifest_ids,
            code_version=current_code_version(REPO_ROOT),
        )
    except PublishBlocked as exc:
        sys.exit(str(exc))
    print(f"published {info.path} ({len(info.tables)} tables) in {info.seconds:.1f}s")


if __name__ == "__main__":
    main()
