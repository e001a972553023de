"""The analysts' SQL prompt sees the published snapshot and nothing else (issue 23)."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pytest

from dagster_project.publish.sql_prompt import open_sql_prompt


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    published = tmp_path / "warehouse" / "published" / "cte_marts.duckdb"
    published.parent.mkdir(parents=True)
    with duckdb.connect(str(published)) as con:
        con.execute("create table perkins as select 'state' as level, 42 as students")
    with duckdb.connect(str(tmp_path / "warehouse" / "cte.duckdb")) as con:
        con.execute("create table secrets as select 'working warehouse' as what")
    raw = tmp_path / "raw" / "landing" / "enrollment" / "student_enrollment"
    raw.mkdir(parents=True)
    (raw / "student_enrollment__001__2025__20250615T103000.csv").write_text(
        "student_id,last_name\n918273645,Quillonbrook\n"
    )
    return published


def _run(published: Path, statements: list[str]) -> list[str]:
    out = io.StringIO()
    open_sql_prompt(published, stdin=io.StringIO("\n".join(statements) + "\n"), stdout=out)
    return out.getvalue().split("\n")


def test_the_snapshot_is_readable(snapshot):
    text = "\n".join(_run(snapshot, ["select level, students from perkins;"]))
    assert "42" in text and "Error" not in text


@pytest.mark.parametrize(
    "statement",
    [
        "select * from read_csv('{home}/raw/landing/enrollment/student_enrollment/*.csv');",
        "select * from '{home}/raw/landing/enrollment/student_enrollment/"
        "student_enrollment__001__2025__20250615T103000.csv';",
        "select content from read_text('{home}/raw/landing/enrollment/student_enrollment/"
        "student_enrollment__001__2025__20250615T103000.csv');",
        "attach '{home}/warehouse/cte.duckdb' as working (read_only);",
        "copy (select * from perkins) to '{home}/leak.csv';",
        "install httpfs;",
        "load httpfs;",
        "set enable_external_access = true;",
        "set lock_configuration = false;",
        "set autoinstall_known_extensions = true;",
    ],
)
def test_nothing_outside_the_snapshot_can_be_reached(snapshot, statement):
    home = snapshot.parent.parent.parent
    lines = _run(snapshot, [statement.format(home=home)])
    text = "\n".join(lines)
    assert text.startswith("Error:"), text
    assert "Quillonbrook" not in text and "918273645" not in text
    assert "working warehouse" not in text
    assert not (home / "leak.csv").exists()
