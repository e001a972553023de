"""Paths, the environment every child process gets, and progress output."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
PYTHON = sys.executable
# A fixed, non-secret key: hashing costs the same as with a real one, without the warning.
BENCHMARK_PSEUDONYM_KEY = "benchmark-key-not-a-secret"
_STARTED = time.monotonic()
# Variables that would point a child at another home, warehouse or Dagster instance.
_FOREIGN = ("CTE_LANDING_DIR", "CTE_WAREHOUSE_DIR", "CTE_WAREHOUSE_PATH", "DAGSTER_HOME")


def log(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"[bench {elapsed:7.1f}s] {message}", flush=True)


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a pipeline process whose whole world is the scratch ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
    env.update(
        CTE_HOME=str(home),
        CTE_PSEUDONYM_KEY=BENCHMARK_PSEUDONYM_KEY,
        DAGSTER_DISABLE_TELEMETRY="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        GX_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def warehouse_dir(home: Path) -> Path:
    return home / "warehouse"


def dagster_home(home: Path) -> Path:
    return warehouse_dir(home) / "dagster_home"


def published_path(home: Path) -> Path:
    return warehouse_dir(home) / "published" / "cte_marts.duckdb"


def landing_dir(home: Path) -> Path:
    return home / "raw" / "landing"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
