"""Resources: the working warehouse and the landing zone, located by settings."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from packaging import version

from dagster_project import warehouse
from dagster_project.settings import get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB working warehouse. Only Dagster runs write it, one at a time."""

    path: str
    landing_dir: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(Path(self.path), read_only=read_only) as con:
            if not read_only:
                warehouse.ensure_schema(con)
            yield con

    @classmethod
    def from_settings(cls) -> WarehouseResource:
        settings = get_settings()
        return cls(path=str(settings.warehouse_path), landing_dir=str(settings.landing_dir))


def _tied_dbt() -> str:
    """``cte-dbt`` beside this interpreter: dbt, stopped when its run's process dies."""
    return str(Path(sys.executable).with_name("cte-dbt"))


class LocalDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, with dbt tied to its run and without `dbt --version`.

    A run killed with kill -9 left its `dbt build` holding the warehouse's write lock
    (issue 23): dbt runs as ``cte-dbt`` (child_processes.py), which dies with the run.
    `dbt --version` asks PyPI for the latest release (issue 23: two HTTPS requests per build,
    a time-out on an air-gapped server, ~2 s here). dbt runs from this environment, so the
    installed dbt-core is the version dagster-dbt wants to know."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("dbt_executable", _tied_dbt())
        super().__init__(**kwargs)

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))
