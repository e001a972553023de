"""Settings are read once, at the edges, and handed down (decision 0034)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.settings import REPO_ROOT, get_settings

PACKAGE = REPO_ROOT / "dagster_project"
# Where get_settings() may be called: the code location's load and the commands' mains.
EDGES = {"settings.py", "definitions.py", "cli.py", "sample_data/__main__.py"}
# A read of the environment: os.getenv(...), os.environ.get(...), os.environ["X"] not assigned.
ENV_READ = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=[^=])")


def _sources() -> dict[str, str]:
    return {p.relative_to(PACKAGE).as_posix(): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_get_settings_is_called_only_at_the_edges():
    callers = {name for name, text in _sources().items() if "get_settings(" in text}
    assert callers <= EDGES, callers - EDGES
    cli = _sources()["cli.py"]
    assert cli.count("get_settings(") == 1  # in main, handed to the command


def test_only_the_settings_module_reads_the_environment():
    readers = {name: ENV_READ.findall(text) for name, text in _sources().items()}
    assert {name for name, found in readers.items() if found} == {"settings.py"}


def test_the_same_environment_gives_the_same_settings_and_a_new_one_is_read_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("CTE_HOME", str(tmp_path))
    first = get_settings()
    assert get_settings() is first
    monkeypatch.setenv("CTE_MIN_N", "5")
    assert get_settings().min_n == 5 and first.min_n == 10
    monkeypatch.delenv("CTE_MIN_N")
    assert get_settings() is first


def test_the_project_variables_dbt_reads_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from dagster_project.resources import resources_for

    monkeypatch.setenv("CTE_HOME", str(tmp_path))
    for name in ("CTE_WAREHOUSE_DIR", "CTE_WAREHOUSE", "CTE_DBT_TARGET", "CTE_SPARK_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = get_settings()
    assert not settings.use_spark
    assert settings.dbt_env() == {
        "CTE_WAREHOUSE_PATH": str(tmp_path / "warehouse" / "cte.duckdb"),
        "CTE_DBT_TARGET": "duckdb",
        "CTE_SPARK_DIR": str(tmp_path / "warehouse" / "spark"),
    }
    resources = resources_for(settings)
    assert resources["settings"] is settings
    assert resources["warehouse"].path == str(settings.warehouse_path)
    assert resources["dbt"].env == settings.dbt_env() and resources["dbt"].target == "duckdb"
    monkeypatch.setenv("CTE_WAREHOUSE", "spark")
    monkeypatch.setenv("CTE_SPARK_DIR", str(tmp_path / "spark"))
    spark = get_settings()
    assert spark.use_spark and spark.dbt_env()["CTE_SPARK_DIR"] == str(tmp_path / "spark")


def test_importing_the_dbt_project_and_assets_changes_no_variable_and_parses_nothing(
    dbt_manifest: Path,
):
    """dbt_project.py set CTE_WAREHOUSE_PATH and PATH, and parsed dbt under `dg dev`, at
    import; the project is now a cached factory."""
    before = dbt_manifest.stat().st_mtime_ns
    code = (
        "import json, os\n"
        "env = dict(os.environ)\n"
        "import dagster_project.dbt_project, dagster_project.assets.dbt\n"
        "import dagster_project.assets.publish, dagster_project.code_location\n"
        "ours = ('CTE_', 'DBT_', 'DAGSTER_', 'PATH')  # not a library's (polars' allocator)\n"
        "changed = sorted(k for k in env.keys() | os.environ.keys()"
        " if k.startswith(ours) and env.get(k) != os.environ.get(k))\n"
        "print(json.dumps(changed))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CTE_WAREHOUSE_PATH"}
    env["DAGSTER_IS_DEV_CLI"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert dbt_manifest.stat().st_mtime_ns == before


def test_the_pseudonym_key_and_the_edfi_secret_are_never_printed(monkeypatch):
    monkeypatch.setenv("CTE_PSEUDONYM_KEY", "a-secret-pseudonym-key")
    monkeypatch.setenv("CTE_EDFI_URL", "https://nova.example/api")
    monkeypatch.setenv("CTE_EDFI_CLIENT_ID", "client")
    monkeypatch.setenv("CTE_EDFI_CLIENT_SECRET", "a-secret-client-secret")
    settings = get_settings()
    assert settings.pseudonym_key() == b"a-secret-pseudonym-key"
    assert settings.edfi is not None and settings.edfi.client_secret == "a-secret-client-secret"
    assert "a-secret" not in repr(settings)
