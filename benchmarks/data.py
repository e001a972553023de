"""Generated landing zones, cached per (scale, years, seed), and scratch homes that use them.

Generation runs in a child process so the benchmark's own memory stays small. A scratch
home gets hard links to the cached files: instant, no extra disk, and safe because the
pipeline never changes or deletes a landed file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import PYTHON, REPO_ROOT, child_env, landing_dir, log

MARKER = "dataset.json"


@dataclass(frozen=True)
class Dataset:
    scale: str
    years: int
    seed: int
    root: Path

    @property
    def label(self) -> str:
        return f"{self.scale}-{self.years}y-s{self.seed}"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def summary(self) -> dict[str, object]:
        return json.loads((self.root / MARKER).read_text())


def ensure_dataset(data_dir: Path, scale: str, years: int, seed: int) -> Dataset:
    """The cached landing zone for this size, generated first if missing or incomplete."""
    dataset = Dataset(scale, years, seed, data_dir / f"{scale}-{years}y-s{seed}")
    if (dataset.root / MARKER).exists():
        log(f"data {dataset.label}: cached in {dataset.root}")
        return dataset
    shutil.rmtree(dataset.root, ignore_errors=True)
    dataset.root.mkdir(parents=True)
    log(f"data {dataset.label}: generating (scale {scale}, {years} years, seed {seed}) ...")
    command = [PYTHON, "-m", "dagster_project.sample_data", "--scale", scale]
    command += ["--years", str(years), "--seed", str(seed), "--landing", str(dataset.landing)]
    result = subprocess.run(
        command,
        env=child_env(dataset.root),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"sample data generation failed:\n{result.stderr[-3000:]}")
    summary = json.loads(result.stdout)
    files = [p for p in dataset.landing.rglob("*") if p.is_file()]
    summary["bytes"] = sum(p.stat().st_size for p in files)
    summary["file_count"] = len(files)
    (dataset.root / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
    log(
        f"data {dataset.label}: {len(files)} files, {summary['bytes'] / 1e6:.0f} MB, "
        f"{sum(summary['rows'].values()):,} rows in {summary['wall_seconds']} s"
    )
    return dataset


def stage_home(dataset: Dataset, home: Path) -> Path:
    """A fresh scratch CTE_HOME whose landing zone links to the dataset's files."""
    shutil.rmtree(home, ignore_errors=True)
    target = landing_dir(home)
    target.parent.mkdir(parents=True)
    shutil.copytree(dataset.landing, target, copy_function=os.link)
    return home
