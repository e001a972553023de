"""Shared fixtures: every test that touches files gets its own CTE_HOME, never the repo's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dagster_project.settings import Settings, get_settings
from dagster_project.warehouse import ensure_schema

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Test files are not the generated sample, so loads need a key (decision 0012); the tests
# of the keyless sample path remove it.
os.environ.setdefault("CTE_PSEUDONYM_KEY", "test-suite-pseudonym-key")


@pytest.fixture
def cte_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A scratch project home: landing zone and warehouse under tmp_path."""
    monkeypatch.setenv("CTE_HOME", str(tmp_path))
    monkeypatch.delenv("CTE_LANDING_DIR", raising=False)
    monkeypatch.delenv("CTE_WAREHOUSE_DIR", raising=False)
    settings = get_settings()
    settings.landing_dir.mkdir(parents=True)
    monkeypatch.setenv("CTE_WAREHOUSE_PATH", str(settings.warehouse_path))
    return settings


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The dbt manifest Dagster reads at import; parsed once if the project changed."""
    from dagster_project.dbt_project import prepare_manifest

    settings = get_settings()
    prepare_manifest(settings)
    return settings.dbt_project_dir / "target" / "manifest.json"


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty working warehouse with the project's schema (a module may define its own)."""
    con = duckdb.connect(str(tmp_path / "cte.duckdb"))
    ensure_schema(con)
    yield con
    con.close()
