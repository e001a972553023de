"""The dbt project as Dagster sees it, and its manifest prepared ahead of time.

``dbt_project(settings)`` is a cached factory (as dagster-open-platform builds its
``DbtProject``): importing this module reads no environment variable, changes none and
parses nothing. The manifest is parsed by ``prepare_manifest`` (`cte prepare`, every `cte`
command that runs a job, and the code server under `dg dev`) only when the project changed,
so a process that imports the definitions does not pay dbt's parse (about 5 s).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import Settings


@functools.cache
def dbt_project(settings: Settings) -> DbtProject:
    """The project of ``settings`` (its folder and dbt target), one object per process.

    Under `dg dev` (``settings.dagster_dev``) the manifest is prepared first, as
    ``DbtProject.prepare_if_dev`` would, but not through it: at every code-server load it
    re-parsed through dagster-dbt's own resource, whose `dbt --version` asks PyPI (three
    look-ups), and rewrote target/manifest.json under a running `cte run` (issue 24).
    ``prepare_manifest`` parses only when the project changed and never asks for dbt's
    version."""
    if settings.dagster_dev:
        prepare_manifest(settings)
    return _project(settings.dbt_project_dir, settings.dbt_target)


@functools.cache
def _project(project_dir: Path, target: str) -> DbtProject:
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir, target=target)


# The year-partitioned models rebuild every year when the code they are built by changed
# (dbt/macros/year_partitions.sql). An environment variable, not a dbt var: a changed var
# makes dbt parse the whole project again.
CODE_VERSION_VARIABLE = "CTE_DBT_CODE_VERSION"


def dbt_code_version(project_dir: Path) -> str:
    """A hash of the dbt project's code: its models, macros and dbt_project.yml (the seeds
    are data, which the year-partitioned models fingerprint themselves)."""
    digest = hashlib.sha256()
    files = [project_dir / "dbt_project.yml"]
    for folder in ("models", "macros"):
        files += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(project_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_dbt(settings: Settings, *args: str) -> None:
    """This environment's dbt in a subprocess, with the variables profiles.yml reads set
    from ``settings`` and the code version the Dagster resource sets (the interpreter's own
    dbt, whether or not the virtualenv is active)."""
    dbt = Path(sys.executable).parent / "dbt"
    project = str(settings.dbt_project_dir)
    code = {CODE_VERSION_VARIABLE: dbt_code_version(settings.dbt_project_dir)}
    subprocess.run(
        [str(dbt), *args, "--project-dir", project, "--profiles-dir", project],
        check=True,
        env=os.environ | settings.dbt_env() | code,
        cwd=settings.dbt_project_dir,
    )


def _dbt_fingerprint(settings: Settings) -> str:
    """Names, sizes and change times of the dbt project's sources: any edit changes it."""
    root = settings.dbt_project_dir
    sources = (p for d in ("models", "macros", "seeds", "tests") for p in (root / d).rglob("*"))
    files = [
        root / "dbt_project.yml",
        root / "profiles.yml",
        *sorted(p for p in sources if p.is_file()),
    ]
    listing = "\n".join(
        f"{p.relative_to(root)}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in files
    )
    return hashlib.sha256(listing.encode()).hexdigest()


def manifest_is_stale(settings: Settings) -> bool:
    target = settings.dbt_project_dir / "target"
    stamp = target / "cte_fingerprint.txt"
    if not (target / "manifest.json").exists() or not stamp.exists():
        return True
    return stamp.read_text() != _dbt_fingerprint(settings)


def prepare_manifest(settings: Settings) -> None:
    """`dbt parse` into target/manifest.json, only when the project changed since the last.

    Commands starting together (`cte run` beside `cte ui`, the test suite's workers) parse
    once: the others wait, then find the manifest fresh. The parse has the target and the
    code version of the Dagster resource's invocations, so theirs is partial (dagster-dbt
    copies target/partial_parse.msgpack): dbt parses the whole project again, ~4 s, when
    the target named on its command line differs from the one it parsed with."""
    target = settings.dbt_project_dir / "target"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".prepare.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale(settings):
            fingerprint = _dbt_fingerprint(settings)
            run_dbt(settings, "parse", "--quiet", "--target", settings.dbt_target)
            (target / "cte_fingerprint.txt").write_text(fingerprint)
