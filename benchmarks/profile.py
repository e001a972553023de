"""Where the full rebuild's time goes: py-spy samples of `cte run` and its children.

`--profile` runs the main full rebuild under `py-spy record --subprocesses --format raw`
(py-spy must be installed in the venv: `pip install py-spy`; it is not a dependency). Idle
threads are not sampled, so the shares are of busy time. The summary groups samples by the
first matching rule over the stack, and lists the project functions with the most
inclusive samples.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

from benchmarks.common import PYTHON

SAMPLE_RATE = 20
# First match wins, in this order; patterns are searched in the whole stack text.
CATEGORIES: list[tuple[str, str]] = [
    ("dbt --version (dagster-dbt)", r'process \d+:"[^"]*dbt"? --version|"[^"]*/dbt --version'),
    ("dbt: parse and compile", r"dbt/parser/|dbt/compilation\.py|manifest\.py"),
    ("dbt: run models and tests", r"dbt/task/|dbt/adapters/"),
    ("dbt: import and start-up", r'process \d+:"[^"]*/dbt '),
    ("Great Expectations: validation", r"validate_batch|great_expectations/.*checkpoint"),
    ("Great Expectations: Data Docs", r"publish_data_docs|data_docs"),
    ("loader: read files", r"read_landed_file"),
    ("loader: structure and pseudonymize", r"prepare_rows"),
    ("loader: write to DuckDB", r"Loader\._write|record_results"),
    ("loader: fingerprint and manifest", r"sha256_of|_new_outcome|_recorded_sha|_record\b"),
    ("file selection", r"select_files|list_landed"),
    ("asset checks", r"load_check_outcomes|reconcile"),
    ("PED report and cross-file checks", r"build_report|run_cross_file_checks"),
    ("publish", r"publish_snapshot"),
    ("Dagster event log and storage", r"dagster/_core/storage|dagster/_core/events"),
    ("imports", r"_find_and_load|<module>"),
]
_FUNCTION = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:]+)")


def available() -> bool:
    return shutil.which("py-spy", path=str(Path(PYTHON).parent)) is not None


def command(output: Path, target: list[str]) -> list[str]:
    py_spy = str(Path(PYTHON).parent / "py-spy")
    return [
        py_spy,
        "record",
        "--subprocesses",
        "--format",
        "raw",
        "--rate",
        str(SAMPLE_RATE),
        "-o",
        str(output),
        "--",
        *target,
    ]


def _stacks(path: Path) -> list[tuple[str, int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack, int(count)))
    return stacks


def summarize(path: Path, top: int = 25) -> dict[str, object]:
    stacks = _stacks(path)
    total = sum(c for _, c in stacks) or 1
    categories: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    rules = [(name, re.compile(pattern)) for name, pattern in CATEGORIES]
    for stack, count in stacks:
        name = next((n for n, rule in rules if rule.search(stack)), "other")
        categories[name] += count
        seen = set()
        for frame in stack.split(";"):
            m = _FUNCTION.match(frame.strip())
            if m and "dagster_project" in m["file"]:
                key = f"{m['func']} ({Path(m['file']).name})"
                if key not in seen:
                    seen.add(key)
                    functions[key] += count
    return {
        "samples": total,
        "seconds_sampled": round(total / SAMPLE_RATE, 1),
        "by_category": {
            name: {"seconds": round(n / SAMPLE_RATE, 1), "share": round(n / total, 3)}
            for name, n in categories.most_common()
        },
        "project_functions_inclusive": {
            name: {"seconds": round(n / SAMPLE_RATE, 1), "share": round(n / total, 3)}
            for name, n in functions.most_common(top)
        },
        "raw_profile": str(path),
    }
