"""dbt parses the project once, not in every build: what Dagster's dbt invocations reuse."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from dagster_dbt import DbtProject
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from dagster_project.dbt_project import prepare_manifest
from dagster_project.resources import PARTIAL_PARSE, LocalDbtCliResource
from dagster_project.settings import REPO_ROOT, Settings


def _messages(invocation: DbtCliInvocation) -> list[str]:
    invocation.wait()
    log = invocation.target_path / "dbt.log"
    return [json.loads(line)["info"]["msg"] for line in log.read_text().splitlines()]


def _partial(messages: list[str]) -> bool:
    return any(m.startswith("Partial parsing enabled") for m in messages)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the dbt project without its target folder: no shared parse to reuse."""
    copy = tmp_path / "dbt"
    shutil.copytree(REPO_ROOT / "dbt", copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_a_build_parses_partially_after_the_prepared_parse(project: Path, cte_home: Settings):
    """`cte prepare` parses with the target and code version the Dagster resource passes:
    dbt parsed the whole project again in every build (~4 s) when they differed."""
    settings = dataclasses.replace(cte_home, dbt_project_dir=project)
    prepare_manifest(settings)
    dbt = LocalDbtCliResource(
        project_dir=DbtProject(project, target=settings.dbt_target), env=settings.dbt_env()
    )
    assert _partial(_messages(dbt.cli(["ls", "--select", "stg_schools"])))


def test_a_build_keeps_its_parse_for_the_next(project: Path, tmp_path: Path):
    """A build without a parse it can use (none here; in a home whose warehouse `cte
    prepare` did not see, one refused for its profile) parses in full, and keeps that parse
    for the builds after it."""
    env = {"CTE_WAREHOUSE_PATH": str(tmp_path / "elsewhere.duckdb"), "CTE_DBT_TARGET": "duckdb"}
    dbt = LocalDbtCliResource(project_dir=DbtProject(project, target="duckdb"), env=env)
    first = dbt.cli(["ls", "--select", "stg_schools"])
    assert not _partial(_messages(first))
    dbt.keep_parse(first)
    assert (project / "target" / PARTIAL_PARSE).exists()
    assert _partial(_messages(dbt.cli(["ls", "--select", "stg_schools"])))
