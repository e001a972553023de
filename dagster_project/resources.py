"""Resources: the settings, the working warehouse and dbt, all from one Settings.

``resources_for(settings)`` is what the code location (and a test running assets in
process) hands to assets, sensors and schedules; none of them reads the environment.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from packaging import version
from pydantic import Field

from dagster_project import warehouse
from dagster_project.dbt_project import dbt_project
from dagster_project.settings import Settings, environment

# The resource key of the Settings themselves: `settings: SettingsParam` in an asset's,
# sensor's or schedule's signature. A plain object, not a config schema: the UI shows no
# value of it (the Ed-Fi client secret and the pseudonym key are among them).
SETTINGS = "settings"
SettingsParam = dg.ResourceParam[Settings]


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB working warehouse. Only Dagster runs write it, one at a time."""

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(Path(self.path), read_only=read_only) as con:
            if not read_only:
                warehouse.ensure_schema(con)
            yield con

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(path=str(settings.warehouse_path))


def resources_for(settings: Settings) -> dict[str, Any]:
    """Every resource of the code location, built from one Settings."""
    return {
        SETTINGS: settings,
        "warehouse": WarehouseResource.from_settings(settings),
        "dbt": LocalDbtCliResource(project_dir=dbt_project(settings), env=settings.dbt_env()),
    }


def _tied_dbt() -> str:
    """``cte-dbt`` beside this interpreter: dbt, stopped when its run's process dies."""
    return str(Path(sys.executable).with_name("cte-dbt"))


class LocalDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, with dbt tied to its run and without `dbt --version`.

    A run killed with kill -9 left its `dbt build` holding the warehouse's write lock
    (issue 23): dbt runs as ``cte-dbt`` (child_processes.py), which dies with the run.
    `dbt --version` asks PyPI for the latest release (issue 23: two HTTPS requests per build,
    a time-out on an air-gapped server, ~2 s here). dbt runs from this environment, so the
    installed dbt-core is the version dagster-dbt wants to know.

    ``env``: the variables dbt/profiles.yml reads (``Settings.dbt_env``: the warehouse's
    path, the target), set for each dbt invocation only."""

    env: dict[str, str] = Field(
        default_factory=dict, description="Variables set for dbt (Settings.dbt_env)"
    )

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("dbt_executable", _tied_dbt())
        super().__init__(**kwargs)

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        # The year-partitioned models rebuild every year when the code they are built by
        # changed (dbt/macros/year_partitions.sql). An environment variable, not a dbt var:
        # a changed var makes dbt parse the whole project again.
        code = dbt_code_version(Path(self.project_dir))
        # dagster-dbt copies os.environ when it starts dbt: set for that moment only.
        with environment(self.env | {"CTE_DBT_CODE_VERSION": code}):
            return super().cli(args, **kwargs)


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
