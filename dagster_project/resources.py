"""Resources: the working warehouse and the landing zone, located by settings."""

from __future__ import annotations

import importlib.metadata
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


class LocalDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, minus its `dbt --version` call before every build.

    `dbt --version` asks PyPI for the latest release (issue 23: two HTTPS requests per build,
    a time-out on an air-gapped server, ~2 s here). dbt runs from this environment, so the
    installed dbt-core is the version dagster-dbt wants to know."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))
