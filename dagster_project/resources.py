"""Resources: the settings, the working warehouse and dbt, all from one Settings.

``resources_for(settings)`` is what the code location (and a test running assets in
process) hands to assets, sensors and schedules; none of them reads the environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
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
from dagster_project.dbt_project import CODE_VERSION_VARIABLE, dbt_code_version, dbt_project
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


PARTIAL_PARSE = "partial_parse.msgpack"


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
        code = dbt_code_version(Path(self.project_dir))
        # dagster-dbt copies os.environ when it starts dbt: set for that moment only.
        with environment(self.env | {CODE_VERSION_VARIABLE: code}):
            return super().cli(args, **kwargs)

    def keep_parse(self, invocation: DbtCliInvocation) -> None:
        """The finished ``invocation``'s parse as the next one's start, as a plain `dbt` in
        one target folder keeps it. dagster-dbt copies <target>/partial_parse.msgpack into
        each invocation's own folder; when the profile it was written with differs (another
        warehouse path than `cte prepare` saw), dbt parses the whole project again, ~4 s of
        every build and resubmission. dbt still checks every file against the parse it
        reads, so a parse of an older project only costs the files that changed."""
        parsed = invocation.target_path / PARTIAL_PARSE
        if not parsed.exists():
            return
        # Where dagster-dbt copies it from, unless DBT_TARGET_PATH moves it (`make lint` only).
        target = Path(self.project_dir) / "target"
        staged = target / f".{PARTIAL_PARSE}.{os.getpid()}"
        shutil.copyfile(parsed, staged)
        staged.replace(target / PARTIAL_PARSE)  # atomic: another run may be copying it
